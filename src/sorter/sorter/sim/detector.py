"""Dual-energy line-scan detector: attenuation maps in, raw 16-bit counts out.

Each of the two layers (low and high energy) is modelled mono-energetically at its effective
energy, so beam hardening is not reproduced; what is reproduced is everything the acquisition
node has to undo or live with: a dark offset, a per-pixel gain non-uniformity, the belt in the
beam, photon (Poisson) noise, read noise and 16-bit clipping. Raw counts per pixel and line:

    I = dark + gain_px * counts_per_photon * Poisson(N0 * exp(-(mu_belt t_belt + A))) + read

where A = sum over the particles in the ray of mu * t (stacked particles add). Poisson draws
are exact below 100 photons and normal-approximated above (see `Detector._photons`).
No ROS import.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sorter import physics

UINT16_MAX = 65535
POISSON_EXACT_BELOW = 100.0  # photons; see Detector._photons


class ReferenceKind(enum.IntEnum):
    """Values match sorter_interfaces/srv/AcquireReference (DARK = 0, FLAT = 1)."""

    DARK = 0
    FLAT = 1


@dataclass(frozen=True)
class DetectorSpec:
    """The cell's `detector` section, in SI units."""

    pixel_pitch_m: float
    pixels: int
    lines_per_strip: int
    energy_low_kev: float
    energy_high_kev: float
    photons_low: float
    photons_high: float
    counts_per_photon: float
    dark_counts: float
    read_noise_counts: float
    gain_spread: float
    belt_formula: str
    belt_density_kg_m3: float
    belt_thickness_m: float

    def __post_init__(self) -> None:
        positive = ("pixel_pitch_m", "energy_low_kev", "energy_high_kev", "photons_low",
                    "photons_high", "counts_per_photon", "belt_density_kg_m3")
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"detector.{name} must be positive, got {value}")
        for name in ("dark_counts", "read_noise_counts", "gain_spread", "belt_thickness_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"detector.{name} must be >= 0, got {value}")
        if self.pixels < 1 or self.lines_per_strip < 2:
            raise ValueError("detector needs pixels >= 1 and lines_per_strip >= 2")

    @classmethod
    def from_cell(cls, cell: dict[str, Any]) -> DetectorSpec:
        d = cell["detector"]
        belt = d["belt"]
        return cls(
            pixel_pitch_m=float(d["pixel_pitch_m"]),
            pixels=int(d["pixels"]),
            lines_per_strip=int(d["lines_per_strip"]),
            energy_low_kev=float(d["effective_energy_low_kev"]),
            energy_high_kev=float(d["effective_energy_high_kev"]),
            photons_low=float(d["photons_low"]),
            photons_high=float(d["photons_high"]),
            counts_per_photon=float(d["counts_per_photon"]),
            dark_counts=float(d["dark_counts"]),
            read_noise_counts=float(d["read_noise_counts"]),
            gain_spread=float(d["gain_spread"]),
            belt_formula=str(belt["formula"]),
            belt_density_kg_m3=float(belt["density_kg_m3"]),
            belt_thickness_m=float(belt["thickness_m"]),
        )


class Detector:
    """A dual-energy line-scan detector with fixed per-pixel gains.

    The gains are drawn once from `gain_rng` (a property of the hardware, stable between
    strips, which is why a flat field removes them); photon and read noise come from
    `noise_rng` on every call. Channel index 0 is low energy, 1 is high energy.
    """

    def __init__(self, spec: DetectorSpec, gain_rng: np.random.Generator,
                 noise_rng: np.random.Generator) -> None:
        self.spec = spec
        self._rng = noise_rng
        gain = 1.0 + spec.gain_spread * gain_rng.standard_normal((2, spec.pixels))
        self.gain = np.clip(gain, 0.5, 1.5)  # a real pixel never has negative gain
        self.mu_belt = (
            physics.linear_attenuation_per_m(spec.belt_formula, spec.belt_density_kg_m3,
                                             spec.energy_low_kev),
            physics.linear_attenuation_per_m(spec.belt_formula, spec.belt_density_kg_m3,
                                             spec.energy_high_kev),
        )
        t = spec.belt_thickness_m
        # Photons per pixel per line reaching the detector through the empty belt. The cell's
        # photons_low/high are defined as the empty-belt means, so the belt term divides out:
        # N0 (source side) = photons / exp(-mu_belt t). Kept explicit so that a cell which
        # defines photons at the source only changes this line.
        self.photons_empty_belt = (spec.photons_low, spec.photons_high)
        self._photons_source = (
            spec.photons_low * math.exp(self.mu_belt[0] * t),
            spec.photons_high * math.exp(self.mu_belt[1] * t),
        )
        self._counts_scale = (
            (spec.counts_per_photon * self.gain[0]).astype(np.float32),
            (spec.counts_per_photon * self.gain[1]).astype(np.float32),
        )

    @property
    def belt_attenuation(self) -> tuple[float, float]:
        """mu_belt * t_belt for (low, high): what the flat field carries and removes."""
        t = self.spec.belt_thickness_m
        return self.mu_belt[0] * t, self.mu_belt[1] * t

    def expected_counts(self, channel: int, attenuation: np.ndarray | float = 0.0) -> np.ndarray:
        """Noise-free mean raw counts per pixel for a particle attenuation mu*t (broadcast over
        pixels along the last axis). Used by tests and calibration checks."""
        photons = self._photons_source[channel] * np.exp(
            -(self.belt_attenuation[channel] + np.asarray(attenuation, dtype=np.float64)))
        return self.spec.dark_counts + self.spec.counts_per_photon * self.gain[channel] * photons

    def _photons(self, mean: np.ndarray) -> np.ndarray:
        """Poisson photon counts for the float32 means `mean`.

        Exact Poisson where the mean is below POISSON_EXACT_BELOW (thick rock, where counting
        statistics shape the signal); above it the rounded normal N(mean, mean), whose
        skewness 1/sqrt(mean) <= 0.1 is far below what read noise and the 8-counts-per-photon
        quantisation leave visible, at a fifth of the cost (it keeps rendering real-time at
        7 m/s).
        """
        rng = self._rng
        photons = rng.standard_normal(mean.shape, dtype=np.float32)
        photons *= np.sqrt(mean)
        photons += mean
        np.rint(photons, out=photons)
        np.maximum(photons, 0.0, out=photons)
        dim = mean < POISSON_EXACT_BELOW
        if dim.any():
            photons[dim] = rng.poisson(mean[dim])
        return photons

    def _channel(self, channel: int, attenuation: np.ndarray | None, lines: int,
                 source_on: bool) -> np.ndarray:
        spec, rng = self.spec, self._rng
        shape = (lines, spec.pixels)
        if source_on:
            total = np.full(shape, -self.belt_attenuation[channel], dtype=np.float32)
            if attenuation is not None:
                total -= attenuation
            np.exp(total, out=total)
            total *= self._photons_source[channel]
            signal = self._photons(total)
            signal *= self._counts_scale[channel]
        else:
            signal = np.zeros(shape, dtype=np.float32)
        signal += spec.dark_counts
        if spec.read_noise_counts > 0.0:
            noise = rng.standard_normal(shape, dtype=np.float32)
            noise *= spec.read_noise_counts
            signal += noise
        np.rint(signal, out=signal)
        np.clip(signal, 0.0, UINT16_MAX, out=signal)
        return signal.astype(np.uint16)

    def render(self, attenuation_low: np.ndarray, attenuation_high: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Raw (low, high) uint16 counts, shape (lines, pixels), for particle attenuation maps
        sum(mu * t) of that shape (the belt is added here)."""
        if attenuation_low.shape != attenuation_high.shape or attenuation_low.ndim != 2 \
                or attenuation_low.shape[1] != self.spec.pixels:
            raise ValueError(f"attenuation maps must be (lines, {self.spec.pixels}), got "
                             f"{attenuation_low.shape} and {attenuation_high.shape}")
        lines = attenuation_low.shape[0]
        return (self._channel(0, attenuation_low, lines, True),
                self._channel(1, attenuation_high, lines, True))

    def reference(self, kind: ReferenceKind | int, lines: int
                  ) -> tuple[np.ndarray, np.ndarray]:
        """A reference for dark/flat-field correction: `lines` lines acquired with the source
        off (DARK) or through the empty belt (FLAT), averaged per pixel.

        Returned as one row, shape (1, pixels), uint16 rounded: averaging is the point of a
        reference, a single row is what a consumer needs, and rounding costs at most 0.5 count
        (< 2e-5 of a flat). A consumer that averages over rows handles it unchanged.
        """
        kind = ReferenceKind(int(kind))
        if not 1 <= lines <= 1_000_000:
            raise ValueError(f"reference lines must be in 1..1000000, got {lines}")
        source_on = kind == ReferenceKind.FLAT
        sums = np.zeros((2, self.spec.pixels), dtype=np.float64)
        chunk = max(1, min(lines, 4096))
        done = 0
        while done < lines:
            n = min(chunk, lines - done)
            for channel in (0, 1):
                sums[channel] += self._channel(channel, None, n, source_on).sum(axis=0,
                                                                               dtype=np.float64)
            done += n
        mean = np.clip(np.rint(sums / lines), 0, UINT16_MAX).astype(np.uint16)
        return mean[0][None, :], mean[1][None, :]
