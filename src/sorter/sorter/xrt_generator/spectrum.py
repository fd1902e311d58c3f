"""X-ray tube spectrum (spekpy) and the layers a beam crosses (xraylib).

spekpy gives the bremsstrahlung + characteristic spectrum of a tube from its voltage, anode
angle and target, as photon fluence per energy bin at a distance. Every layer after the anode
(exit window, added filters, the belt, the detector cover) is applied here with xraylib's
total attenuation, the same tables the rest of `sorter` uses (sorter.physics), so one set of
cross-sections describes the whole beam path. spekpy reads its data from files installed with
the package; nothing is downloaded at run time.

SI units, except photon energies in keV (the unit every X-ray table is indexed by).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from sorter import physics

MM_PER_M = 1e3
CM2_PER_M2 = 1e4
MAS_PER_AS = 1e3


@dataclass(frozen=True)
class Layer:
    """A homogeneous slab in the beam: xraylib formula, density [kg/m^3], thickness [m]."""

    formula: str
    density_kg_m3: float
    thickness_m: float
    name: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.density_kg_m3) and self.density_kg_m3 > 0.0):
            raise ValueError(f"layer {self.formula}: density must be > 0")
        if not (math.isfinite(self.thickness_m) and self.thickness_m >= 0.0):
            raise ValueError(f"layer {self.formula}: thickness must be >= 0")
        physics.formula_mass_fractions(self.formula)  # refuse an unparsable formula now

    @property
    def areal_density_kg_m2(self) -> float:
        return self.density_kg_m3 * self.thickness_m

    def attenuation(self, energies_kev: np.ndarray) -> np.ndarray:
        """mu * t at each energy (dimensionless)."""
        mu = physics.mass_attenuation_spectrum_m2_kg(self.formula, energies_kev)
        return mu * self.areal_density_kg_m2

    def transmission(self, energies_kev: np.ndarray) -> np.ndarray:
        return np.exp(-self.attenuation(energies_kev))

    @classmethod
    def from_dict(cls, body: dict[str, Any], name: str = "") -> Layer:
        try:
            return cls(str(body["formula"]), float(body["density_kg_m3"]),
                       float(body["thickness_m"]), str(body.get("name", name)))
        except (KeyError, TypeError) as err:
            raise ValueError(f"layer {name or body!r} needs formula, density_kg_m3 and "
                             f"thickness_m: {err}") from err


@dataclass(frozen=True)
class TubeSpec:
    """The X-ray source: spekpy's tube model plus the filters right after the anode."""

    kv: float
    anode_angle_deg: float
    target: str
    current_a: float
    distance_m: float           # focal spot to detector
    filters: tuple[Layer, ...]  # exit window and added filtration
    bin_kev: float = 0.5

    def __post_init__(self) -> None:
        if not 10.0 <= self.kv <= 500.0:
            raise ValueError(f"tube kV {self.kv} outside 10..500")
        if not 0.0 < self.anode_angle_deg < 90.0:
            raise ValueError(f"anode angle {self.anode_angle_deg} deg outside (0, 90)")
        if not (self.current_a > 0.0 and self.distance_m > 0.0 and self.bin_kev > 0.0):
            raise ValueError("tube current, distance and bin width must be > 0")


@dataclass(frozen=True)
class Spectrum:
    """Photon fluence per energy bin per unit tube charge at the detector distance.

    `fluence[i]` is photons / m^2 / (A s) in the bin centred on `energies_kev[i]` (width
    `bin_kev`); multiply by the tube current, the integration time and a pixel's area for
    photons per pixel per line.
    """

    energies_kev: np.ndarray
    fluence: np.ndarray
    bin_kev: float

    def filtered(self, layers: tuple[Layer, ...] | list[Layer]) -> Spectrum:
        """The spectrum after the layers (Beer-Lambert per bin: exact for a polychromatic
        beam, which is why beam hardening needs no extra model)."""
        fluence = self.fluence.copy()
        for layer in layers:
            fluence *= layer.transmission(self.energies_kev)
        return Spectrum(self.energies_kev, fluence, self.bin_kev)

    @property
    def mean_energy_kev(self) -> float:
        return float((self.energies_kev * self.fluence).sum() / self.fluence.sum())

    def photons(self, current_a: float, time_s: float, area_m2: float) -> np.ndarray:
        """Photons per bin reaching an area in a time at a tube current."""
        return self.fluence * (current_a * time_s * area_m2)


@lru_cache(maxsize=16)
def _spekpy_spectrum(kv: float, anode_angle_deg: float, target: str, bin_kev: float,
                     distance_m: float) -> tuple[np.ndarray, np.ndarray]:
    import spekpy  # heavy import (data tables): only when a spectrum is asked for

    spek = spekpy.Spek(kvp=kv, th=anode_angle_deg, targ=target, dk=bin_kev,
                       z=distance_m * 100.0, mas=1.0)
    energies, per_kev = spek.get_spectrum()  # photons / cm^2 / mAs / keV at z
    fluence = np.asarray(per_kev, dtype=np.float64) * bin_kev * CM2_PER_M2 * MAS_PER_AS
    energies = np.asarray(energies, dtype=np.float64)
    keep = (energies >= 1.0) & (fluence > 0.0)
    return energies[keep], fluence[keep]


def tube_spectrum(tube: TubeSpec) -> Spectrum:
    """The tube's spectrum after its filters (spekpy, then xraylib for every layer)."""
    energies, fluence = _spekpy_spectrum(float(tube.kv), float(tube.anode_angle_deg),
                                         str(tube.target), float(tube.bin_kev),
                                         float(tube.distance_m))
    return Spectrum(energies.copy(), fluence.copy(), tube.bin_kev).filtered(tube.filters)
