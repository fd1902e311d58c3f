"""Dual-energy line-scan detector of the simulated cell: basis areal-density maps in, raw 16-bit
counts out, through the X-ray generator (sorter.xrt_generator).

The physics is the generator's: a spekpy tube spectrum through the tube filters and the belt,
the energy-integrating sandwich (front layer, filter, rear layer), beam hardening exact through
the response table, compound-Poisson photon noise, scintillator crosstalk, per-pixel gain
non-uniformity, dark offset, read noise and 16-bit clipping. What the acquisition node has to
undo is all there; its messages are unchanged (raw mono16 strips + dark/flat references).

No ROS import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sorter.xrt_generator.model import XrayModel, XraySetup
from sorter.xrt_generator.render import UINT16_MAX, LineScanRenderer, ReadoutSpec, ReferenceKind

__all__ = ["UINT16_MAX", "Detector", "DetectorSpec", "ReferenceKind"]


@dataclass(frozen=True)
class DetectorSpec:
    """The cell's `detector` section: strip geometry, the X-ray setup, the readout."""

    pixel_pitch_m: float
    pixels: int
    lines_per_strip: int
    setup: XraySetup
    readout: ReadoutSpec

    def __post_init__(self) -> None:
        if not (math.isfinite(self.pixel_pitch_m) and self.pixel_pitch_m > 0.0):
            raise ValueError(f"detector.pixel_pitch_m must be positive, got "
                             f"{self.pixel_pitch_m}")
        if self.pixels < 1 or self.lines_per_strip < 2:
            raise ValueError("detector needs pixels >= 1 and lines_per_strip >= 2")
        if self.readout.pixels != self.pixels:
            raise ValueError("readout and detector disagree on the pixel count")

    @classmethod
    def from_cell(cls, cell: dict[str, Any]) -> DetectorSpec:
        d = cell["detector"]
        return cls(pixel_pitch_m=float(d["pixel_pitch_m"]), pixels=int(d["pixels"]),
                   lines_per_strip=int(d["lines_per_strip"]),
                   setup=XraySetup.from_cell(cell), readout=ReadoutSpec.from_cell(cell))


class Detector:
    """A dual-energy line-scan detector with fixed per-pixel gains (drawn once from
    `gain_rng`: a property of the hardware, which is why a flat field removes them); noise
    comes from `noise_rng` on every call. Channel 0 is low energy, 1 is high energy."""

    def __init__(self, spec: DetectorSpec, model: XrayModel, gain_rng: np.random.Generator,
                 noise_rng: np.random.Generator) -> None:
        if model.setup != spec.setup:
            raise ValueError("the X-ray model was built for another detector setup")
        self.spec = spec
        self.model = model
        self.renderer = LineScanRenderer(model, spec.readout, gain_rng, noise_rng)

    @property
    def gain(self) -> np.ndarray:
        return self.renderer.gain

    def expected_counts(self, channel: int, basis_kg_m2: np.ndarray | None = None
                        ) -> np.ndarray:
        """Noise-free mean raw counts, per pixel for the empty belt or for a frame."""
        return self.renderer.expected_counts(channel, basis_kg_m2)

    def render(self, basis_kg_m2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw (low, high) uint16 counts, shape (lines, pixels), for the basis areal-density
        maps (bases, lines, pixels) of the rock in each ray (the belt is in the model)."""
        return self.renderer.render(basis_kg_m2)

    def reference(self, kind: ReferenceKind | int, lines: int
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Dark (source off) or flat (empty belt) reference: one averaged row each."""
        return self.renderer.reference(kind, lines)
