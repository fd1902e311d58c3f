"""Synthetic dual-energy XRT generator (issue 4), ROS-free.

spectrum (spekpy tube, xraylib layers) -> detector (energy-integrating sandwich) -> tables
(basis materials, response table: beam hardening exact) -> model (one cell's setup) ->
particles / scene (shapes, textures, placement, truth) -> render (line scan, noise, 16-bit,
camera) -> dataset (on-disk format, Labelme import); calibrate, bench, figure, cli.
"""
