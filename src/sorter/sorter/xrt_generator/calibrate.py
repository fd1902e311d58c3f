"""Calibrations the sorting nodes take from the generator: the H-L threshold curve and the
high channel's effective energy for mass. Both are written into the cell description (the
plant would measure them; the simulated cell derives them here), and a unit test checks that
the cell still holds what this module computes, so the two cannot drift apart.

- Threshold curve: R = a_L / a_H falls with thickness (beam hardening), so ore and waste are
  compared at equal high-channel attenuation a_H. At each a_H the curve lies midway between
  the R of the richest waste (gangue + the waste class's top pay-mineral fraction) and of the
  poorest ore (gangue + the ore class's bottom fraction), both integrated over the spectrum.
- Effective energy: sizing turns a_H into areal density with one mu/rho of a reference
  material. The secant mu/rho = sum a_H / sum (rho t) over the pixels of a sample of the feed's
  particles (made of the reference material) makes the feed's total mass unbiased; its
  mono-energetic equivalent is the energy at which xraylib's mu/rho equals it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sorter import physics
from sorter.xrt_generator.feed_spec import FeedSpec
from sorter.xrt_generator.materials import Material, MaterialLibrary, Mineral, library_for_cell
from sorter.xrt_generator.model import XrayModel, build_model
from sorter.xrt_generator.particle_model import ParticleDrawer
from sorter.xrt_generator.particle_raster import rasterise

A_H_GRID: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
# R = a_L / a_H at a_H = 0.5, computed before this generator was written (direct spectral
# integration, spekpy 2.5.4 + xraylib 4.3.0: W tube 160 kV, 20 deg anode, 0.8 mm Be + 1 mm Al;
# 4 mm rubber belt; 0.2 mm GOS / 0.6 mm Cu / 1.0 mm GOS sandwich detector): an independent
# check of the generator. Its basalt composition is not the cell library's.
REFERENCE_R_AT_HALF: dict[str, float] = {
    "quartz": 1.873, "albite": 1.851, "spodumene": 1.837, "microcline": 2.020,
    "basalt": 2.181, "pyrite": 2.569, "chalcopyrite": 2.671, "bornite": 2.715,
}


def mix(gangue: Material, pay: Mineral, pay_volume_fraction: float) -> Material:
    """Gangue with a volume fraction of the pay mineral dispersed in it."""
    f = float(pay_volume_fraction)
    parts = [(m, v * (1.0 - f)) for m, v in gangue.components]
    parts.append((pay, f))
    return Material(f"{gangue.name}+{100 * f:g}%{pay.name}",
                    tuple((m, v) for m, v in parts if v > 0.0))


def r_curve(model: XrayModel, material: Material, a_high: Sequence[float]) -> np.ndarray:
    """R(a_H) of slabs of a material (direct spectral integration)."""
    return np.array([model.ratio_at(material, a) for a in a_high])


@dataclass
class ThresholdCurve:
    a_high: tuple[float, ...]
    waste_r: np.ndarray      # richest waste
    ore_r: np.ndarray        # poorest ore
    threshold: np.ndarray    # midway

    def as_cell(self) -> list[list[float]]:
        return [[float(a), round(float(r), 3)] for a, r in zip(self.a_high, self.threshold,
                                                               strict=True)]


def threshold_curve(model: XrayModel, feed: FeedSpec,
                    a_high: Sequence[float] = A_H_GRID) -> ThresholdCurve:
    waste = mix(feed.gangue, feed.pay_mineral, feed.waste_pay_volume_fraction[1])
    ore = mix(feed.gangue, feed.pay_mineral, feed.ore_pay_volume_fraction[0])
    r_waste = r_curve(model, waste, a_high)
    r_ore = r_curve(model, ore, a_high)
    return ThresholdCurve(tuple(a_high), r_waste, r_ore, 0.5 * (r_waste + r_ore))


def secant_mass_attenuation(model: XrayModel, feed: FeedSpec, reference: Material,
                            particles: int = 300, seed: int = 0) -> float:
    """sum a_H / sum rho t over the pixels of `particles` feed-shaped particles made of the
    reference material [m^2/kg]: the mu/rho that makes their total mass unbiased."""
    rng = np.random.default_rng(seed)
    drawer = ParticleDrawer(feed)
    pitch = model.setup.pixel_across_m
    rho_t, a_h = [], []
    for i in range(particles):
        spec = drawer.draw(rng, i, min_diameter_m=1.5 * pitch)
        part = rasterise(spec, model.setup.pixel_along_m, pitch, rng.random(2),
                         model.basis_density, feed.assay)
        t = part.thickness_m[part.footprint]
        rho_t.append(t * reference.density_kg_m3)
    areal = np.concatenate(rho_t)
    # a_H of reference slabs at each pixel's areal density, from a fine 1-D grid
    grid = np.linspace(0.0, areal.max() * 1.01, 400)
    mu = reference.mass_attenuation(model.spectrum.energies_kev)
    a_grid = model.direct_attenuation(mu_t=np.outer(grid, mu))[1]
    a_h.append(np.interp(areal, grid, a_grid))
    return float(np.concatenate(a_h).sum() / areal.sum())


@dataclass
class Calibration:
    curve: ThresholdCurve
    reference_formula: str
    secant_mu_m2_kg: float
    effective_energy_high_kev: float


def calibrate_cell(cell: Mapping[str, Any], library: MaterialLibrary | None = None
                   ) -> Calibration:
    from sorter.xrt_generator.model import XraySetup  # local: keep the import list short

    library = library or library_for_cell(cell)
    feed = FeedSpec.from_cell(cell, library)
    model = build_model(XraySetup.from_cell(cell), [Material.pure(m) for m in feed.minerals])
    size = cell["size_estimation"]
    formula = str(size["reference_formula"])
    reference = Material.pure(Mineral(formula, formula, float(size["reference_density_kg_m3"])))
    mu = secant_mass_attenuation(model, feed, reference)
    return Calibration(threshold_curve(model, feed), formula, mu,
                       physics.effective_energy_kev(formula, mu))


def reference_r_table(model: XrayModel, library: MaterialLibrary, a_high: float = 0.5
                      ) -> dict[str, tuple[float, float]]:
    """name -> (R from the generator, REFERENCE_R_AT_HALF's R). The reference values are for
    a_H = 0.5: at another a_high only the generator's column moves."""
    return {name: (model.ratio_at(library.material(name), a_high), value)
            for name, value in REFERENCE_R_AT_HALF.items()}


def format_calibration(cal: Calibration) -> str:
    lines = ["# derived by `sorter xray calibrate` from the cell's source, detector and feed",
             "detector:",
             f"  effective_energy_high_kev: {cal.effective_energy_high_kev:.1f}"
             f"   # {cal.reference_formula}: secant mu/rho {cal.secant_mu_m2_kg * 10:.4f} cm^2/g",
             "classification:",
             f"  r_threshold_curve: {cal.curve.as_cell()}",
             "",
             "# a_H     R(richest waste)  R(poorest ore)  threshold"]
    for a, w, o, t in zip(cal.curve.a_high, cal.curve.waste_r, cal.curve.ore_r,
                          cal.curve.threshold, strict=True):
        lines.append(f"# {a:5.2f}   {w:8.3f}          {o:8.3f}        {t:8.3f}")
    gap = float(np.min(cal.curve.ore_r - cal.curve.waste_r))
    if gap <= 0.02:
        lines.append(f"# WARNING: the poorest ore is not clearly above the richest waste "
                     f"(smallest gap {gap:+.3f} in R): R cannot sort this feed")
    return "\n".join(lines)
