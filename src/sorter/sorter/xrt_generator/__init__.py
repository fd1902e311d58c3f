"""Synthetic dual-energy XRT generator, ROS-free.

spectrum (spekpy tube, xraylib layers) -> sandwich_detector (energy-integrating) -> tables
(basis materials, response table: beam hardening exact) -> model (one cell's setup) ->
feed_spec / particle_model / particle_raster / scene (feed, shapes, textures, placement,
truth) -> render (line scan, noise, 16-bit, camera) -> dataset / labelme (on-disk format in
dataset_format); calibrate, bench, figure, cli.
"""
