"""Ore particles for X-ray scenes: shape, thickness, texture (liberation) and ground truth.

A particle is drawn from a feed (feed_spec.py) as a description (`ParticleSpec`: numbers
only) and rasterised on any pixel grid (particle_raster.py: maps). Everything true about it
(volume, mass, mineral masses, grade) is computed from the rasterised maps, so an image and its
truth can never disagree about how much rock or mineral there is.

Shape, chosen for what a sorter's images must teach (density needs thickness):
- footprint: star-convex r(theta) = r0 (1 + sum_k a_k cos(k theta + phi_k)), k = 2..5, then an
  area-preserving elongation (aspect) and a random rotation; r0 so that the footprint area is
  the drawn area-equivalent diameter's disc;
- thickness: crushed rock lies on its flattest face, so height is the smallest dimension:
  T = flatness * (minor width of the footprint), flatness ~ S/I of crushed ore (0.35-0.75);
  profile t = T (1 - rho^p)^(1/p), rho the normalised radial distance: p = 2 is an ellipsoid
  cap, larger p a flatter top with steeper flanks (blockier rock); volume = c(p) A T with
  c(2) = 2/3.

Texture (liberation): a particle is a matrix (gangue mineral or rock, a volume mix) plus the
pay mineral, part of it disseminated below the pixel size (it only changes the matrix's mix)
and part as resolvable grains: ellipsoids at mid-height, whose chord at each pixel is the pay
mineral's path there (clipped to the rock's thickness). Liberated ore particles are (almost)
all pay mineral. Size classes follow sieve classes (0-5 ... 20-25 mm and coarser). No ROS
import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from sorter.xrt_generator.feed_spec import HARMONICS, FeedSpec
from sorter.xrt_generator.materials import Material, Mineral


@lru_cache(maxsize=64)
def profile_volume_factor(p: float) -> float:
    """c(p) = 2 int_0^1 (1 - rho^p)^(1/p) rho d rho: volume / (area * peak thickness)."""
    rho = (np.arange(20000) + 0.5) / 20000
    return float(2.0 * np.mean((1.0 - rho**p) ** (1.0 / p) * rho))


@dataclass(frozen=True)
class Grain:
    """A resolvable grain of the pay mineral: an ellipsoid centred at mid-height of the
    rock, at (u, v) from the particle's centre [m] (u along travel, v across)."""

    u_m: float
    v_m: float
    semi_axes_m: tuple[float, float, float]   # in-plane a, b; vertical c
    angle_rad: float


@dataclass(frozen=True)
class ParticleSpec:
    """A particle as numbers: everything needed to rasterise it on any grid."""

    id: int
    kind: str                    # ore | waste | host_rock
    is_ore: bool
    matrix: Material             # gangue or host rock, before the pay mineral
    pay: Mineral
    pay_volume_fraction: float   # drawn target (the rasterised truth is what counts)
    disseminated_fraction: float  # pay mineral mixed into the matrix (volume of the matrix)
    grains: tuple[Grain, ...]
    equivalent_diameter_m: float
    aspect: float
    rotation_rad: float
    amplitudes: tuple[float, ...]
    phases: tuple[float, ...]
    flatness: float
    profile_exponent: float

    @property
    def r0_m(self) -> float:
        a2 = sum(a * a for a in self.amplitudes)
        return 0.5 * self.equivalent_diameter_m / math.sqrt(1.0 + 0.5 * a2)

    @property
    def reach_m(self) -> float:
        """Largest distance of the outline from the centre."""
        return self.r0_m * (1.0 + sum(self.amplitudes)) * math.sqrt(self.aspect)

    def matrix_material(self) -> Material:
        """The matrix with the disseminated pay mineral mixed in (volume fractions)."""
        d = self.disseminated_fraction
        if d <= 0.0:
            return self.matrix
        parts: dict[str, tuple[Mineral, float]] = {}
        for mineral, f in self.matrix.components:
            parts[mineral.name] = (mineral, f * (1.0 - d))
        old = parts.get(self.pay.name, (self.pay, 0.0))[1]
        parts[self.pay.name] = (self.pay, old + d)
        return Material(f"{self.matrix.name}+{self.pay.name}",
                        tuple((m, f) for m, f in parts.values() if f > 0.0))


class ParticleDrawer:
    """Draws ParticleSpecs from a feed. Deterministic given the numpy Generator: the same
    sequence of draws gives the same particles."""

    def __init__(self, feed: FeedSpec, size_m: tuple[float, float] | None = None) -> None:
        self.feed = feed
        self.size_m = size_m or feed.size_m

    def draw(self, rng: np.random.Generator, particle_id: int, min_diameter_m: float = 0.0
             ) -> ParticleSpec:
        feed = self.feed
        u = rng.random()
        if u < feed.ore_number_fraction:
            kind, matrix = "ore", feed.gangue
        elif u < feed.ore_number_fraction + feed.host_rock_number_fraction:
            kind, matrix = "host_rock", feed.host_rock  # type: ignore[assignment]
        else:
            kind, matrix = "waste", feed.gangue
        is_ore = kind == "ore"
        vf_range = feed.ore_pay_volume_fraction if is_ore else feed.waste_pay_volume_fraction
        vf = float(rng.uniform(*vf_range))
        if is_ore and rng.random() < feed.liberated_fraction:
            vf = float(rng.uniform(0.85, 1.0))
        lo, hi = self.size_m
        diameter = float(rng.uniform(max(lo, min_diameter_m), max(hi, min_diameter_m)))
        flatness = float(rng.uniform(*feed.flatness))
        ks = np.asarray(HARMONICS, dtype=float)
        amps = rng.uniform(0.0, feed.harmonic_amplitude, ks.size) / ks
        phases = rng.uniform(0.0, 2.0 * math.pi, ks.size)
        aspect = float(rng.uniform(*feed.elongation))
        rotation = float(rng.uniform(0.0, math.pi))
        profile = float(rng.uniform(*feed.profile_exponent))
        share = float(rng.uniform(*feed.grain_share)) if vf > 0.0 else 0.0
        spec = ParticleSpec(
            id=int(particle_id), kind=kind, is_ore=is_ore, matrix=matrix,
            pay=feed.pay_mineral, pay_volume_fraction=vf, disseminated_fraction=0.0,
            grains=(), equivalent_diameter_m=diameter, aspect=aspect, rotation_rad=rotation,
            amplitudes=tuple(float(a) for a in amps), phases=tuple(float(p) for p in phases),
            flatness=flatness, profile_exponent=profile,
        )
        grains, grain_vf = self._grains(rng, spec, vf * share)
        # what the grains do not carry is disseminated in the matrix around them
        rest = max(vf - grain_vf, 0.0) / max(1.0 - grain_vf, 1e-9)
        return replace(spec, grains=grains, disseminated_fraction=min(rest, 1.0))

    def _grains(self, rng: np.random.Generator, spec: ParticleSpec, target_vf: float
                ) -> tuple[tuple[Grain, ...], float]:
        """Grains worth about `target_vf` of the particle's volume (nominal ellipsoids; the
        rasterised chords, clipped to the rock, are the truth)."""
        if target_vf <= 0.0:
            return (), 0.0
        area = math.pi * (0.5 * spec.equivalent_diameter_m) ** 2
        minor = spec.equivalent_diameter_m / math.sqrt(spec.aspect)
        peak = spec.flatness * minor
        volume = profile_volume_factor(spec.profile_exponent) * area * peak
        g_lo, g_hi = self.feed.grain_size_m
        c_max = 0.45 * peak

        def grain_volume(d: float, elong: float) -> float:
            return 4.0 / 3.0 * math.pi * (0.5 * d * elong) * (0.5 * d) * min(0.5 * d, c_max)

        grains: list[Grain] = []
        placed = 0.0
        budget = target_vf * volume
        while len(grains) < 48:
            elong = float(rng.uniform(1.0, 1.6))
            remaining = budget - placed
            if grain_volume(g_lo, elong) > remaining:
                break  # what is left stays disseminated
            d = float(rng.uniform(g_lo, g_hi))
            while grain_volume(d, elong) > remaining:  # the last grain fits the budget
                d *= 0.9
            a, b, c = 0.5 * d * elong, 0.5 * d, min(0.5 * d, c_max)
            radius = 0.6 * spec.r0_m * math.sqrt(float(rng.random()))
            theta = float(rng.uniform(0.0, 2.0 * math.pi))
            grains.append(Grain(radius * math.cos(theta), radius * math.sin(theta),
                                (a, b, c), float(rng.uniform(0.0, math.pi))))
            placed += grain_volume(d, elong)
        return tuple(grains), min(placed / volume, 1.0)
