"""The X-ray model of one cell: source, beam path, detector, bases and response table.

Built once from the cell's `detector` section (and the materials the feed can contain), then
shared by everything that renders or calibrates: the simulator's detector, dataset scenes, the
figure, the benchmark and the calibration of the sorting nodes. Building it costs ~1 s
(spekpy spectrum, basis fits, table); `model_from_cell` caches it per physical setup.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import brentq

from sorter.xrt_generator.materials import Material, MaterialLibrary, library_for_cell
from sorter.xrt_generator.sandwich_detector import ChannelResponse, SandwichSpec, sandwich_response
from sorter.xrt_generator.spectrum import Layer, Spectrum, TubeSpec, tube_spectrum
from sorter.xrt_generator.tables import (
    DEFAULT_BASES,
    BasisSet,
    ResponseTable,
    SignedSqrtAxis,
    UniformAxis,
    build_table,
    ray_moments,
)


@dataclass(frozen=True)
class XraySetup:
    """Everything physical about the acquisition, from the cell's `detector` section."""

    tube: TubeSpec
    beam_path: tuple[Layer, ...]   # between source and detector, in every ray (the belt)
    sandwich: SandwichSpec
    pixel_along_m: float
    pixel_across_m: float
    integration_time_s: float
    bases: tuple[str, ...] = DEFAULT_BASES
    max_path_m: float = 0.08       # thickest stack of rock the table covers
    nodes_positive: int = 64       # table nodes along the amount axis (0 .. max)
    composition_nodes: int = 41    # table nodes along each composition fraction

    def __post_init__(self) -> None:
        if not (self.pixel_along_m > 0 and self.pixel_across_m > 0
                and self.integration_time_s > 0 and self.max_path_m > 0):
            raise ValueError("pixel sizes, integration time and max path must be > 0")

    @property
    def pixel_area_m2(self) -> float:
        return self.pixel_along_m * self.pixel_across_m

    @classmethod
    def from_cell(cls, cell: Mapping[str, Any], pixel_along_m: float | None = None
                  ) -> XraySetup:
        """The cell's detector; lines are `pixel_pitch_m` of belt apart unless told."""
        d = cell["detector"]
        pitch = float(d["pixel_pitch_m"])
        tube = TubeSpec(
            kv=float(d["tube_kv"]), anode_angle_deg=float(d["tube_anode_angle_deg"]),
            target=str(d["tube_target"]), current_a=float(d["tube_current_a"]),
            distance_m=float(d["source_distance_m"]),
            filters=tuple(Layer.from_dict(f, "tube filter") for f in d["tube_filters"]),
        )
        sandwich = SandwichSpec(
            cover=tuple(Layer.from_dict(f, "detector cover") for f in d.get("cover", [])),
            front=Layer.from_dict(d["front_layer"], "front layer"),
            filter=Layer.from_dict(d["filter_layer"], "filter layer"),
            rear=Layer.from_dict(d["rear_layer"], "rear layer"),
        )
        return cls(tube=tube, beam_path=(Layer.from_dict(d["belt"], "belt"),),
                   sandwich=sandwich, pixel_along_m=pixel_along_m or pitch,
                   pixel_across_m=pitch, integration_time_s=float(d["integration_time_s"]))


@dataclass
class XrayModel:
    """Spectrum at the detector, channel responses, bases and the response table."""

    setup: XraySetup
    materials: tuple[Material, ...]
    spectrum: Spectrum = field(init=False, repr=False)
    photons: np.ndarray = field(init=False, repr=False)   # per pixel per line, per bin
    responses: tuple[ChannelResponse, ChannelResponse] = field(init=False, repr=False)
    basis: BasisSet = field(init=False, repr=False)
    table: ResponseTable = field(init=False, repr=False)
    flat_moments: np.ndarray = field(init=False, repr=False)  # m1_L, m1_H [keV], m2_L, m2_H

    def __post_init__(self) -> None:
        s = self.setup
        self.spectrum = tube_spectrum(s.tube).filtered(s.beam_path)
        self.photons = self.spectrum.photons(s.tube.current_a, s.integration_time_s,
                                             s.pixel_area_m2)
        energies = self.spectrum.energies_kev
        self.responses = sandwich_response(s.sandwich, energies)
        signal = [self.photons * r.first_kev for r in self.responses]
        weights = sum(w / w.sum() for w in signal) / 2.0
        self.basis = BasisSet(s.bases, energies, weights)
        self._basis_matrix = self.basis.matrix
        self._coefficients: dict[str, np.ndarray] = {}
        self.flat_moments = ray_moments(self.photons, self.responses,
                                        np.zeros((1, energies.size)))[0]
        self.table = build_table(self._axes(), self._basis_matrix, self.photons,
                                 self.responses)

    def _axes(self) -> tuple[SignedSqrtAxis | UniformAxis, ...]:
        """Amount up to the thickest stack of the densest material; each composition
        fraction over the range the listed materials span (any mix of them lies inside)."""
        coef = np.array([self.coefficients(m) for m in self.materials])
        per_metre = coef.sum(axis=1) * np.array([m.density_kg_m3 for m in self.materials])
        fractions = coef[:, 1:] / coef.sum(axis=1, keepdims=True)
        axes: list[SignedSqrtAxis | UniformAxis] = [
            SignedSqrtAxis(0.0, float(per_metre.max()) * self.setup.max_path_m,
                           self.setup.nodes_positive)]
        for lo, hi in zip(fractions.min(axis=0), fractions.max(axis=0), strict=True):
            pad = 0.02 * max(hi - lo, 0.05)
            axes.append(UniformAxis(float(lo) - pad, float(hi) + pad,
                                    self.setup.composition_nodes))
        return tuple(axes)

    # -- materials --------------------------------------------------------------------------
    def coefficients(self, material: Material) -> np.ndarray:
        """Basis areal density per unit areal density of `material`: the mass-fraction
        weighted sum of its minerals' fits (attenuation is additive over mass, and each
        mineral's fit is good to < 0.01 %). Fits are cached per mineral, so the endless
        compositions of mixed particles cost a dot product, not a fit."""
        fractions = material.mass_fractions()
        total = np.zeros(len(self.setup.bases))
        for mineral in material.minerals:
            key = f"{mineral.name}:{mineral.formula}"
            coef = self._coefficients.get(key)
            if coef is None:
                coef = self.basis.material_coefficients(Material.pure(mineral))
                self._coefficients[key] = coef
            total += fractions[mineral.name] * coef
        return total

    def basis_density(self, material: Material) -> np.ndarray:
        """Basis areal density per metre of path [kg/m^3 per basis]."""
        return self.coefficients(material) * material.density_kg_m3

    # -- signals ----------------------------------------------------------------------------
    @property
    def flat_photons(self) -> tuple[float, float]:
        """Photons per pixel per line interacting in the (low, high) layer, open beam."""
        return tuple(float((self.photons * r.interaction).sum())  # type: ignore[return-value]
                     for r in self.responses)

    @property
    def flat_snr(self) -> tuple[float, float]:
        """Open-beam SNR per pixel per line of the (low, high) channel: m1 / sqrt(m2)."""
        m = self.flat_moments
        return float(m[0] / math.sqrt(m[2])), float(m[1] / math.sqrt(m[3]))

    def table_attenuation(self, basis_kg_m2: np.ndarray) -> np.ndarray:
        """-ln moment ratios (4, n) from the table."""
        return self.table.lookup(basis_kg_m2)

    def direct_attenuation(self, basis_kg_m2: np.ndarray | None = None,
                           mu_t: np.ndarray | None = None) -> np.ndarray:
        """The same (4, n) by direct integration over the spectrum, per ray: from basis
        areal densities, or from a total attenuation mu*t per bin (rays, bins)."""
        if mu_t is None:
            mu_t = np.asarray(basis_kg_m2, dtype=np.float64).T @ self._basis_matrix.T
        moments = ray_moments(self.photons, self.responses, mu_t)
        return (-np.log(moments / self.flat_moments)).T

    def material_attenuation(self, material: Material, areal_density_kg_m2: float
                             ) -> tuple[float, float]:
        """(a_L, a_H) = -ln(I/I0) of a slab of a material, integrated over the spectrum with
        the material's own xraylib attenuation (no bases, no table)."""
        mu = material.mass_attenuation(self.spectrum.energies_kev)
        a = self.direct_attenuation(mu_t=mu[None, :] * float(areal_density_kg_m2))
        return float(a[0, 0]), float(a[1, 0])

    def areal_density_at(self, material: Material, attenuation_high: float) -> float:
        """Areal density [kg/m^2] of a slab of `material` whose high-channel attenuation is
        `attenuation_high` (the H-L plane's abscissa)."""
        def f(rho_t: float) -> float:
            return self.material_attenuation(material, rho_t)[1] - attenuation_high

        hi = 1.0
        while f(hi) < 0.0:
            hi *= 2.0
            if hi > 1e4:
                raise ValueError(f"a_H {attenuation_high} is beyond {material.name}")
        return float(brentq(f, 0.0, hi, xtol=1e-9, rtol=1e-12))

    def ratio_at(self, material: Material, attenuation_high: float) -> float:
        """R = a_L / a_H of a slab of `material` at high-channel attenuation a_H."""
        a_low, a_high = self.material_attenuation(
            material, self.areal_density_at(material, attenuation_high))
        return a_low / a_high


_MODELS: dict[tuple, XrayModel] = {}


def build_model(setup: XraySetup, materials: Iterable[Material]) -> XrayModel:
    """A model for this setup covering these materials (cached: the table is built once)."""
    materials = tuple(sorted(materials, key=lambda m: repr(m.components)))
    key = (setup, tuple(repr(m.components) for m in materials))
    if key not in _MODELS:
        _MODELS[key] = XrayModel(setup, materials)
    return _MODELS[key]


def model_from_cell(cell: Mapping[str, Any], library: MaterialLibrary | None = None,
                    pixel_along_m: float | None = None) -> XrayModel:
    """The cell's model; its table covers every mineral of the cell's materials library."""
    library = library or library_for_cell(cell)
    setup = XraySetup.from_cell(cell, pixel_along_m)
    return build_model(setup, [Material.pure(m) for m in library.minerals.values()])
