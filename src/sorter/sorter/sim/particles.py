"""Irregular ore particles, rasterised on the detector grid.

A particle is what the X-ray line scan can see of a rock: a footprint and a thickness map
sampled on the detector grid (pitch p across the belt, and p along travel because lines are
triggered every p of encoder travel; sorter.sim.world says where the samples fall).
Everything the scorer needs as truth (mass, grade, pay-mineral mass) is computed from that
same map, so images and truth can never disagree about how much rock there is.

Shape model, chosen because it is cheap, reproducible and irregular enough to exercise
segmentation, sizing and the thickness-dependent R of the H-L plane:

- outline: star-convex r(theta) = r0 * (1 + sum_{k=2..5} a_k cos(k theta + phi_k)), then an
  area-preserving elongation and a random rotation;
- thickness: a dome t = T * sqrt(1 - rho^2), rho = |q| / r(theta) the normalised radial
  distance, with T = flatness * (minor width of the footprint);
- composition: a volume mix of a gangue mineral and a pay mineral; linear attenuation at the
  detector's two effective energies is the volume-weighted mix (exact for mono-energetic
  beams, which is what the detector model uses).

No ROS import: this is a core module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sorter import physics


@dataclass(frozen=True)
class Mineral:
    """A mineral phase: chemical formula (xraylib syntax) and density [kg/m^3]."""

    formula: str
    density_kg_m3: float


@dataclass(frozen=True)
class FeedSpec:
    """What the feeder carries (cell `feed`): sizes, shapes and composition ranges."""

    ore_number_fraction: float
    size_m: tuple[float, float]
    flatness: tuple[float, float]
    gangue: Mineral
    pay_mineral: Mineral
    element: str
    ore_pay_volume_fraction: tuple[float, float]
    waste_pay_volume_fraction: tuple[float, float]

    def __post_init__(self) -> None:
        if not 0.0 <= self.ore_number_fraction <= 1.0:
            raise ValueError("feed.ore_number_fraction must lie in [0, 1]")
        for name in ("size_m", "flatness", "ore_pay_volume_fraction",
                     "waste_pay_volume_fraction"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi):
                raise ValueError(f"feed.{name} must be a finite range lo <= hi, got {lo, hi}")
        if self.size_m[0] <= 0.0 or self.flatness[0] <= 0.0:
            raise ValueError("feed.size_m and feed.flatness must be positive")
        if max(self.ore_pay_volume_fraction[1], self.waste_pay_volume_fraction[1]) > 1.0:
            raise ValueError("pay-mineral volume fractions must be <= 1")

    @classmethod
    def from_cell(cls, cell: dict[str, Any]) -> FeedSpec:
        """Build the feed description from the parsed cell YAML (its `feed` section)."""
        feed = cell["feed"]
        pay = feed["pay_mineral"]
        return cls(
            ore_number_fraction=float(feed["ore_number_fraction"]),
            size_m=_pair(feed["size_m"], "size_m"),
            flatness=_pair(feed["flatness"], "flatness"),
            gangue=Mineral(str(feed["gangue"]["formula"]),
                           float(feed["gangue"]["density_kg_m3"])),
            pay_mineral=Mineral(str(pay["formula"]), float(pay["density_kg_m3"])),
            element=str(pay["element"]),
            ore_pay_volume_fraction=_pair(feed["ore_pay_volume_fraction"],
                                          "ore_pay_volume_fraction"),
            waste_pay_volume_fraction=_pair(feed["waste_pay_volume_fraction"],
                                            "waste_pay_volume_fraction"),
        )


def _pair(value: Any, name: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"feed.{name} must be a [lo, hi] pair, got {value!r}")
    return float(value[0]), float(value[1])


@dataclass(frozen=True)
class ShapeSpec:
    """Irregularity of the outline. Not part of the cell: it describes rocks, not the machine.

    `harmonic_amplitude` bounds a_k (a_k ~ U(0, amplitude) / k), which keeps r(theta) > 0 and
    the outline star-convex; `elongation` is the range of the aspect ratio applied before the
    random rotation.
    """

    harmonic_amplitude: float = 0.25
    elongation: tuple[float, float] = (1.0, 1.8)
    harmonics: tuple[int, ...] = (2, 3, 4, 5)

    def __post_init__(self) -> None:
        worst = sum(self.harmonic_amplitude / k for k in self.harmonics)
        if not 0.0 <= worst < 0.9:
            raise ValueError("harmonic amplitudes would let r(theta) reach zero")
        if not 1.0 <= self.elongation[0] <= self.elongation[1]:
            raise ValueError("elongation must be a range within [1, inf)")


@dataclass(frozen=True)
class Particle:
    """One rock, rasterised. `thickness_m[j, c]` is the path length through the rock at map
    row j (along travel) and column c (across); 0 outside the footprint. The map origin is
    placed on the detector grid by the world; `centroid_row_px`/`centroid_col_px` locate the
    footprint (area) centroid in map pixel units, row j sampling at j and column c at c."""

    id: int
    is_ore: bool
    pay_volume_fraction: float
    pitch_m: float
    thickness_m: np.ndarray = field(repr=False)
    centroid_row_px: float
    centroid_col_px: float
    equivalent_diameter_m: float      # target footprint-area-equivalent diameter
    flatness: float
    density_kg_m3: float
    volume_m3: float
    mass_kg: float
    mineral_mass_kg: float
    grade: float                      # pay-element mass fraction [0..1]
    mu_low_per_m: float
    mu_high_per_m: float

    @property
    def rows(self) -> int:
        return int(self.thickness_m.shape[0])

    @property
    def cols(self) -> int:
        return int(self.thickness_m.shape[1])

    @property
    def footprint(self) -> np.ndarray:
        return self.thickness_m > 0.0

    @property
    def area_m2(self) -> float:
        return float(np.count_nonzero(self.thickness_m)) * self.pitch_m**2

    @property
    def max_thickness_m(self) -> float:
        return float(self.thickness_m.max())


def minor_width_m(footprint: np.ndarray, pitch_m: float) -> float:
    """Full minor axis of the footprint's equivalent ellipse (4 sqrt(smallest second moment)),
    the same definition a regionprops-style sizer uses for the short side."""
    rows, cols = np.nonzero(footprint)
    if rows.size < 2:
        return pitch_m
    cov = np.cov(np.vstack([rows, cols]).astype(float))
    smallest = float(np.linalg.eigvalsh(cov)[0])
    return max(4.0 * math.sqrt(max(smallest, 0.0)), 1.0) * pitch_m


class ParticleGenerator:
    """Draws particles from a feed description. Deterministic given the numpy Generator: the
    same sequence of draws gives the same particles, so a seed reproduces a trial's feed."""

    def __init__(self, feed: FeedSpec, pitch_m: float, energy_low_kev: float,
                 energy_high_kev: float, shape: ShapeSpec | None = None) -> None:
        if not pitch_m > 0.0:
            raise ValueError("pitch_m must be positive")
        self.feed = feed
        self.pitch_m = float(pitch_m)
        self.shape = shape or ShapeSpec()
        g, m = feed.gangue, feed.pay_mineral
        self._mu_gangue = (
            physics.linear_attenuation_per_m(g.formula, g.density_kg_m3, energy_low_kev),
            physics.linear_attenuation_per_m(g.formula, g.density_kg_m3, energy_high_kev),
        )
        self._mu_pay = (
            physics.linear_attenuation_per_m(m.formula, m.density_kg_m3, energy_low_kev),
            physics.linear_attenuation_per_m(m.formula, m.density_kg_m3, energy_high_kev),
        )
        self._element_fraction = physics.element_mass_fraction(m.formula, feed.element)

    def mixture(self, pay_volume_fraction: float) -> tuple[float, float, float]:
        """(density, mu_low, mu_high) of a gangue/pay-mineral volume mix."""
        f = pay_volume_fraction
        rho = (1.0 - f) * self.feed.gangue.density_kg_m3 + f * self.feed.pay_mineral.density_kg_m3
        mu_low = (1.0 - f) * self._mu_gangue[0] + f * self._mu_pay[0]
        mu_high = (1.0 - f) * self._mu_gangue[1] + f * self._mu_pay[1]
        return rho, mu_low, mu_high

    def generate(self, rng: np.random.Generator, particle_id: int) -> Particle:
        """Draw one particle. All randomness comes from `rng`, in a fixed order."""
        feed, shape, p = self.feed, self.shape, self.pitch_m
        is_ore = bool(rng.random() < feed.ore_number_fraction)
        vf_range = feed.ore_pay_volume_fraction if is_ore else feed.waste_pay_volume_fraction
        vf = float(rng.uniform(*vf_range))
        diameter = float(rng.uniform(*feed.size_m))
        flatness = float(rng.uniform(*feed.flatness))
        ks = np.asarray(shape.harmonics, dtype=float)
        amps = rng.uniform(0.0, shape.harmonic_amplitude, ks.size) / ks
        phases = rng.uniform(0.0, 2.0 * math.pi, ks.size)
        aspect = float(rng.uniform(*shape.elongation))
        rotation = float(rng.uniform(0.0, math.pi))
        phase_px = rng.uniform(0.0, 1.0, 2)  # sub-pixel position of the centre on the grid

        # Area of the star outline is pi r0^2 (1 + sum a_k^2 / 2); elongation preserves it.
        r0 = 0.5 * diameter / math.sqrt(1.0 + 0.5 * float(np.sum(amps**2)))
        reach = r0 * (1.0 + float(np.sum(amps))) * math.sqrt(aspect)
        half = math.ceil(reach / p) + 1
        grid = np.arange(-half, half + 1, dtype=float)
        u = (grid[:, None] - phase_px[0]) * p            # along travel [m]
        v = (grid[None, :] - phase_px[1]) * p            # across [m]
        cos_r, sin_r = math.cos(rotation), math.sin(rotation)
        a = (cos_r * u + sin_r * v) / math.sqrt(aspect)  # undo rotation, then elongation
        b = (-sin_r * u + cos_r * v) * math.sqrt(aspect)
        theta = np.arctan2(b, a)
        harmonics = np.cos(ks[:, None, None] * theta + phases[:, None, None])
        radius = r0 * (1.0 + np.tensordot(amps, harmonics, axes=1))
        rho_sq = (a * a + b * b) / (radius * radius)
        inside = rho_sq < 1.0
        if not inside.any():  # pathological tiny particle: keep the nearest sample
            inside = rho_sq == rho_sq.min()
        dome = np.sqrt(np.clip(1.0 - rho_sq, 0.0, None)) * inside

        rows = np.flatnonzero(inside.any(axis=1))
        cols = np.flatnonzero(inside.any(axis=0))
        window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        footprint = inside[window]
        peak = flatness * minor_width_m(footprint, p)
        thickness = (peak * dome[window]).astype(np.float64)
        thickness[footprint & (thickness <= 0.0)] = 1e-9  # keep edge samples in the footprint
        rr, cc = np.nonzero(footprint)

        rho, mu_low, mu_high = self.mixture(vf)
        volume = float(thickness.sum()) * p * p
        mass = rho * volume
        mineral_mass = vf * self.feed.pay_mineral.density_kg_m3 * volume
        grade = mineral_mass * self._element_fraction / mass
        return Particle(
            id=int(particle_id), is_ore=is_ore, pay_volume_fraction=vf, pitch_m=p,
            thickness_m=thickness, centroid_row_px=float(rr.mean()),
            centroid_col_px=float(cc.mean()), equivalent_diameter_m=diameter,
            flatness=flatness, density_kg_m3=rho, volume_m3=volume, mass_kg=mass,
            mineral_mass_kg=mineral_mass, grade=grade, mu_low_per_m=mu_low,
            mu_high_per_m=mu_high,
        )
