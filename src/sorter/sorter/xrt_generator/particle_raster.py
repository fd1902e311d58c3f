"""A drawn particle sampled on a pixel grid (`rasterise`): path-length, pay-grain and basis
areal-density maps, and the ground truth (masses, grade) computed from those same maps.

Rows sample along travel, columns across the belt, with independent pitches (a line-scan grid).
No ROS import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sorter.xrt_generator.feed_spec import HARMONICS
from sorter.xrt_generator.materials import Material, MaterialLibrary, grade
from sorter.xrt_generator.particle_model import ParticleSpec


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
              phase_px: Sequence[float] | np.ndarray, basis_density: Any, assay: str,
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
