"""Ore particles for X-ray scenes: shape, thickness, texture (liberation) and ground truth.

A particle is drawn as a description (`ParticleSpec`: numbers only) and rasterised on any
pixel grid (`rasterise`: maps). Everything true about it (volume, mass, mineral masses, grade)
is computed from the rasterised maps, so an image and its truth can never disagree about how
much rock or mineral there is.

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
all pay mineral. Size classes follow sieve classes (0-5 ... 20-25 mm and coarser).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np

from sorter.xrt_generator.materials import Material, MaterialLibrary, Mineral, grade, library_for_cell

SIEVE_CLASSES_M: tuple[tuple[float, float], ...] = (
    (0.0, 0.005), (0.005, 0.010), (0.010, 0.015), (0.015, 0.020), (0.020, 0.025),
    (0.025, 0.040), (0.040, 0.063),
)
HARMONICS = (2, 3, 4, 5)


def sieve_class(label: str) -> tuple[float, float]:
    """'10-15' (mm) -> (0.010, 0.015) m."""
    try:
        lo, hi = (float(v) / 1000.0 for v in label.replace("mm", "").split("-"))
    except ValueError as err:
        raise ValueError(f"sieve class {label!r} must read like '10-15' (mm)") from err
    if not 0.0 <= lo < hi:
        raise ValueError(f"sieve class {label!r}: need 0 <= lo < hi")
    return lo, hi


@lru_cache(maxsize=64)
def profile_volume_factor(p: float) -> float:
    """c(p) = 2 int_0^1 (1 - rho^p)^(1/p) rho d rho: volume / (area * peak thickness)."""
    rho = (np.arange(20000) + 0.5) / 20000
    return float(2.0 * np.mean((1.0 - rho**p) ** (1.0 / p) * rho))


def _pair(value: Any, name: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"feed.{name} must be a [lo, hi] pair, got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi):
        raise ValueError(f"feed.{name} must be a finite range 0 <= lo <= hi, got {value!r}")
    return lo, hi


@dataclass(frozen=True)
class FeedSpec:
    """What the feeder carries (the cell's `feed`): classes, sizes, shapes and textures.

    Particle kinds: `ore` (matrix + pay mineral in ore_pay_volume_fraction; a share
    `liberated_fraction` of them nearly pure pay mineral), `waste` (matrix + traces), and
    optionally `host_rock` (a second waste kind, e.g. mafic wall rock in a pegmatite feed).
    """

    ore_number_fraction: float
    size_m: tuple[float, float]
    flatness: tuple[float, float]
    gangue: Material
    pay_mineral: Mineral
    assay: str                                   # grade as this element or oxide
    ore_pay_volume_fraction: tuple[float, float]
    waste_pay_volume_fraction: tuple[float, float]
    profile_exponent: tuple[float, float] = (2.0, 3.0)
    grain_share: tuple[float, float] = (0.0, 0.7)     # pay mineral in resolvable grains
    grain_size_m: tuple[float, float] = (0.001, 0.004)
    liberated_fraction: float = 0.0
    host_rock: Material | None = None
    host_rock_number_fraction: float = 0.0            # of all particles
    harmonic_amplitude: float = 0.25
    elongation: tuple[float, float] = (1.0, 1.8)

    def __post_init__(self) -> None:
        for name in ("size_m", "flatness", "ore_pay_volume_fraction",
                     "waste_pay_volume_fraction", "profile_exponent", "grain_share",
                     "grain_size_m", "elongation"):
            _pair(getattr(self, name), name)
        for name in ("ore_number_fraction", "liberated_fraction",
                     "host_rock_number_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"feed.{name} must lie in [0, 1]")
        if self.ore_number_fraction + self.host_rock_number_fraction > 1.0:
            raise ValueError("feed: ore and host-rock number fractions exceed 1")
        if self.host_rock_number_fraction > 0.0 and self.host_rock is None:
            raise ValueError("feed.host_rock_number_fraction needs feed.host_rock")
        if self.size_m[1] <= 0.0 or self.flatness[0] <= 0.0:
            raise ValueError("feed.size_m and feed.flatness must be positive")
        if max(self.ore_pay_volume_fraction[1], self.waste_pay_volume_fraction[1],
               self.grain_share[1]) > 1.0:
            raise ValueError("pay-mineral volume fractions and grain share must be <= 1")
        if self.profile_exponent[0] < 1.0:
            raise ValueError("feed.profile_exponent must be >= 1")
        worst = sum(self.harmonic_amplitude / k for k in HARMONICS)
        if not 0.0 <= worst < 0.9:
            raise ValueError("harmonic amplitudes would let r(theta) reach zero")
        if not 1.0 <= self.elongation[0] <= self.elongation[1]:
            raise ValueError("elongation must be a range within [1, inf)")

    @property
    def materials(self) -> tuple[Material, ...]:
        """Every material a particle of this feed can contain (for the response table)."""
        mats = [self.gangue, Material.pure(self.pay_mineral)]
        if self.host_rock is not None:
            mats.append(self.host_rock)
        return tuple(mats)

    @property
    def minerals(self) -> tuple[Mineral, ...]:
        seen: dict[str, Mineral] = {}
        for material in self.materials:
            for mineral in material.minerals:
                seen.setdefault(mineral.name, mineral)
        return tuple(seen.values())

    @classmethod
    def from_cell(cls, cell: Mapping[str, Any], library: MaterialLibrary | None = None
                  ) -> FeedSpec:
        """The cell's `feed` section. `gangue`, `pay_mineral` and `host_rock` name presets
        (config/materials.yaml) or give {formula, density_kg_m3} ad hoc; the grade is
        reported as `assay` (default: the pay mineral's `element`, else its heaviest)."""
        library = library or library_for_cell(cell)
        feed = cell["feed"]
        pay_spec = feed["pay_mineral"]
        pay_material = library.material(pay_spec)
        if len(pay_material.components) != 1:
            raise ValueError("feed.pay_mineral must be a single mineral")
        pay = pay_material.minerals[0]
        assay = feed.get("assay")
        if assay is None and isinstance(pay_spec, Mapping):
            assay = pay_spec.get("element")
        if assay is None:
            raise ValueError("feed.assay (e.g. Cu or Li2O) is missing")
        host = feed.get("host_rock")
        optional: dict[str, Any] = {}
        for key in ("profile_exponent", "grain_share", "grain_size_m", "elongation"):
            if key in feed:
                optional[key] = _pair(feed[key], key)
        for key in ("liberated_fraction", "host_rock_number_fraction", "harmonic_amplitude"):
            if key in feed:
                optional[key] = float(feed[key])
        return cls(
            ore_number_fraction=float(feed["ore_number_fraction"]),
            size_m=_pair(feed["size_m"], "size_m"),
            flatness=_pair(feed["flatness"], "flatness"),
            gangue=library.material(feed["gangue"]),
            pay_mineral=pay,
            assay=str(assay),
            ore_pay_volume_fraction=_pair(feed["ore_pay_volume_fraction"],
                                          "ore_pay_volume_fraction"),
            waste_pay_volume_fraction=_pair(feed["waste_pay_volume_fraction"],
                                            "waste_pay_volume_fraction"),
            host_rock=library.material(host) if host else None,
            **optional,
        )


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


@dataclass
class RasterParticle:
    """A particle rasterised on a grid: row j samples along travel at j * pitch_along, column
    c across at c * pitch_across (plus the sub-pixel phase given to `rasterise`)."""

    spec: ParticleSpec
    pitch_along_m: float
    pitch_across_m: float
    thickness_m: np.ndarray = field(repr=False)     # (rows, cols) path through the rock
    grain_path_m: np.ndarray = field(repr=False)    # (rows, cols) path through pay grains
    basis_kg_m2: np.ndarray = field(repr=False)     # (bases, rows, cols) float32
    centroid_row_px: float
    centroid_col_px: float
    mineral_masses_kg: dict[str, float]
    assay: str
    library_grade: float = 0.0                      # assay mass fraction [0..1]

    @property
    def id(self) -> int:
        return self.spec.id

    @property
    def is_ore(self) -> bool:
        return self.spec.is_ore

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
    def pixel_area_m2(self) -> float:
        return self.pitch_along_m * self.pitch_across_m

    @property
    def area_m2(self) -> float:
        return float(np.count_nonzero(self.thickness_m)) * self.pixel_area_m2

    @property
    def max_thickness_m(self) -> float:
        return float(self.thickness_m.max())

    @property
    def volume_m3(self) -> float:
        return float(self.thickness_m.sum()) * self.pixel_area_m2

    @property
    def mass_kg(self) -> float:
        return float(sum(self.mineral_masses_kg.values()))

    @property
    def density_kg_m3(self) -> float:
        return self.mass_kg / self.volume_m3

    @property
    def pay_mass_kg(self) -> float:
        return float(self.mineral_masses_kg.get(self.spec.pay.name, 0.0))

    @property
    def pay_volume_fraction(self) -> float:
        return self.pay_mass_kg / self.spec.pay.density_kg_m3 / self.volume_m3

    @property
    def grade(self) -> float:
        return self.library_grade

    @property
    def mineral_mass_kg(self) -> float:
        """Mass of the pay mineral (the scorer's recovery counts it)."""
        return self.pay_mass_kg

    @property
    def pitch_m(self) -> float:
        """The pixel pitch of a square grid (the simulator's encoder-triggered lines)."""
        if not math.isclose(self.pitch_along_m, self.pitch_across_m, rel_tol=1e-9):
            raise ValueError("pitch_m is defined for square pixels only")
        return self.pitch_across_m

    @property
    def equivalent_diameter_m(self) -> float:
        return self.spec.equivalent_diameter_m

    @property
    def flatness(self) -> float:
        return self.spec.flatness


def minor_width_m(footprint: np.ndarray, pitch_m: float,
                  pitch_across_m: float | None = None) -> float:
    """Full minor axis of the footprint's equivalent ellipse (4 sqrt(smallest second moment)),
    the same definition a regionprops-style sizer uses for the short side. Rows are
    `pitch_m` apart, columns `pitch_across_m` (default: the same), so it is in metres on
    any line-scan grid."""
    across = pitch_m if pitch_across_m is None else pitch_across_m
    rows, cols = np.nonzero(footprint)
    if rows.size < 2:
        return math.sqrt(pitch_m * across)
    cov = np.cov(np.vstack([rows * pitch_m, cols * across]))
    smallest = float(np.linalg.eigvalsh(cov)[0])
    return max(4.0 * math.sqrt(max(smallest, 0.0)), math.sqrt(pitch_m * across))


def rasterise(spec: ParticleSpec, pitch_along_m: float, pitch_across_m: float,
              phase_px: Sequence[float], basis_density: Any, assay: str,
              library: MaterialLibrary | None = None) -> RasterParticle:
    """Sample the particle on a grid. `basis_density(material)` gives basis areal density
    per metre of path (XrayModel.basis_density); `phase_px` places the centre within a pixel.
    """
    pa, pc = float(pitch_along_m), float(pitch_across_m)
    if not (pa > 0.0 and pc > 0.0):
        raise ValueError("pixel pitches must be positive")
    r0, reach = spec.r0_m, spec.reach_m
    half_r = math.ceil(reach / pa) + 1
    half_c = math.ceil(reach / pc) + 1
    u = (np.arange(-half_r, half_r + 1, dtype=float) - phase_px[0])[:, None] * pa
    v = (np.arange(-half_c, half_c + 1, dtype=float) - phase_px[1])[None, :] * pc
    cos_r, sin_r = math.cos(spec.rotation_rad), math.sin(spec.rotation_rad)
    sq = math.sqrt(spec.aspect)
    a = (cos_r * u + sin_r * v) / sq     # undo rotation, then elongation
    b = (-sin_r * u + cos_r * v) * sq
    theta = np.arctan2(b, a)
    radius = np.full_like(theta, r0)
    for k, amp, phase in zip(HARMONICS, spec.amplitudes, spec.phases, strict=True):
        radius += r0 * amp * np.cos(k * theta + phase)
    rho = np.sqrt(a * a + b * b) / radius
    inside = rho < 1.0
    if not inside.any():  # a particle smaller than a pixel: keep the nearest sample
        inside = rho == rho.min()
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    footprint = inside[window]
    p = spec.profile_exponent
    profile = np.clip(1.0 - np.minimum(rho[window], 1.0) ** p, 0.0, None) ** (1.0 / p)
    minor = minor_width_m(footprint, pa, pc)
    peak = spec.flatness * minor
    thickness = peak * profile * footprint
    thickness[footprint & (thickness <= 0.0)] = 1e-9  # edge samples stay in the footprint
    grain = np.zeros_like(thickness)
    uu, vv = u[window[0]], v[:, window[1]]
    for g in spec.grains:
        ga, gb, gc = g.semi_axes_m
        cg, sg = math.cos(g.angle_rad), math.sin(g.angle_rad)
        du, dv = uu - g.u_m, vv - g.v_m
        q = ((cg * du + sg * dv) / ga) ** 2 + ((-sg * du + cg * dv) / gb) ** 2
        chord = 2.0 * gc * np.sqrt(np.clip(1.0 - q, 0.0, None))
        grain = np.maximum(grain, chord)  # overlapping grains do not add up
    np.minimum(grain, thickness, out=grain)
    matrix_path = thickness - grain
    matrix = spec.matrix_material()
    rr, cc = np.nonzero(footprint)
    pixel = pa * pc
    masses: dict[str, float] = {}
    matrix_volume = float(matrix_path.sum()) * pixel
    for mineral, f in matrix.components:
        masses[mineral.name] = masses.get(mineral.name, 0.0) + \
            matrix_volume * f * mineral.density_kg_m3
    grain_volume = float(grain.sum()) * pixel
    if grain_volume > 0.0:
        masses[spec.pay.name] = masses.get(spec.pay.name, 0.0) + \
            grain_volume * spec.pay.density_kg_m3
    bd_matrix = np.asarray(basis_density(matrix), dtype=np.float64)
    bd_pay = np.asarray(basis_density(Material.pure(spec.pay)), dtype=np.float64)
    basis = (bd_matrix[:, None, None] * matrix_path[None]
             + bd_pay[:, None, None] * grain[None]).astype(np.float32)
    lib = library or MaterialLibrary({m.name: m for m in (*matrix.minerals, spec.pay)})
    return RasterParticle(
        spec=spec, pitch_along_m=pa, pitch_across_m=pc, thickness_m=thickness,
        grain_path_m=grain, basis_kg_m2=basis, centroid_row_px=float(rr.mean()),
        centroid_col_px=float(cc.mean()), mineral_masses_kg=masses, assay=assay,
        library_grade=grade(masses, lib, assay),
    )
