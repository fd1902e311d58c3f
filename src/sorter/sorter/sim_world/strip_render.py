"""The line scan of the simulated cell: when each strip of lines is complete, and its raw
dual-energy counts rendered from the particles lying under it. No ROS import.

Detector line g is triggered at encoder g * p and samples belt coordinate g * p; a strip is
lines [k * n, (k + 1) * n), stamped with the time the encoder passed its first line, and due
once the belt has reached its last line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from sorter.sim_world.belt_load import PlacedParticle
from sorter.sim_world.belt_motion import Segment, time_at_position
from sorter.sim_world.line_scanner import Detector


@dataclass(frozen=True)
class RenderedStrip:
    """One raw dual-energy strip, as the detector hands it to acquisition."""

    index: int
    stamp_s: float             # time the encoder passed the strip's first line
    encoder_m: float           # encoder position of the first line
    line_pitch_m: float
    line_period_s: float       # mean time between lines in this strip
    low: np.ndarray = field(repr=False)    # (lines, pixels) uint16 raw counts
    high: np.ndarray = field(repr=False)


def basis_maps(particles: Iterable[PlacedParticle], dims: int, pixels: int, first_line: int,
               n_lines: int) -> np.ndarray:
    """Basis areal-density maps (dims, lines, pixels) [kg/m^2] of `particles` in lines
    [first_line, first_line + n_lines); stacked particles add."""
    basis = np.zeros((dims, n_lines, pixels), dtype=np.float32)
    last = first_line + n_lines
    for placed in particles:
        if placed.line0 >= last or placed.line_end <= first_line:
            continue
        part = placed.particle
        r0 = max(first_line, placed.line0)
        r1 = min(last, placed.line_end)
        src = part.basis_kg_m2[:, r0 - placed.line0:r1 - placed.line0]
        cols = slice(placed.col0, placed.col0 + part.cols)
        basis[:, r0 - first_line:r1 - first_line, cols] += src
    return basis


class StripScanner:
    """Cuts the belt's travel into strips and renders each one when it is complete. With
    `enabled` False the strips are still counted off (their indices stay on the encoder grid)
    but nothing is rendered."""

    def __init__(self, detector: Detector, dims: int, pixels: int, pixel_pitch_m: float,
                 lines_per_strip: int, start_time_s: float, enabled: bool = True) -> None:
        self.detector = detector
        self.enabled = enabled
        self._dims = dims
        self._pixels = pixels
        self._pitch = pixel_pitch_m
        self._lines = lines_per_strip
        self._next_strip = 0
        self._first_time: float | None = start_time_s  # the belt starts at line 0
        self._strips: list[RenderedStrip] = []

    def advance(self, segments: list[Segment], particles: list[PlacedParticle]) -> int:
        """Complete every strip the belt finished during `segments`; returns how many were
        rendered."""
        p, n_lines = self._pitch, self._lines
        rendered = 0
        while True:
            first_line = self._next_strip * n_lines
            if self._first_time is None:
                self._first_time = time_at_position(segments, first_line * p)
                if self._first_time is None:
                    return rendered
            t_last = time_at_position(segments, (first_line + n_lines - 1) * p)
            if t_last is None:
                return rendered
            t_first = self._first_time
            if self.enabled:
                low, high = self.render(particles, first_line, n_lines)
                self._strips.append(RenderedStrip(
                    index=self._next_strip, stamp_s=t_first, encoder_m=first_line * p,
                    line_pitch_m=p, line_period_s=(t_last - t_first) / (n_lines - 1),
                    low=low, high=high,
                ))
                rendered += 1
            self._next_strip += 1
            self._first_time = None

    def basis_maps(self, particles: Iterable[PlacedParticle], first_line: int,
                   n_lines: int) -> np.ndarray:
        return basis_maps(particles, self._dims, self._pixels, first_line, n_lines)

    def render(self, particles: Iterable[PlacedParticle], first_line: int, n_lines: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """Raw (low, high) counts of lines [first_line, first_line + n_lines)."""
        return self.detector.render(self.basis_maps(particles, first_line, n_lines))

    def pop(self) -> list[RenderedStrip]:
        strips, self._strips = self._strips, []
        return strips
