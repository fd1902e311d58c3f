"""X-ray attenuation from xraylib, in SI units. Shared by the simulator (rendering) and the
sorting cores (areal density -> mass), so both use the same tables, never two copies."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import xraylib

CM2_PER_G_TO_M2_PER_KG = 0.1


@lru_cache(maxsize=256)
def mass_attenuation_m2_kg(formula: str, energy_kev: float) -> float:
    """Total mass attenuation coefficient (coherent scattering included) [m^2/kg]."""
    if not (1.0 <= energy_kev <= 800.0):
        raise ValueError(f"energy {energy_kev} keV is outside 1..800 keV")
    try:
        cm2_g = xraylib.CS_Total_CP(formula, float(energy_kev))
    except ValueError as err:
        raise ValueError(f"xraylib cannot parse the formula {formula!r}: {err}") from err
    return cm2_g * CM2_PER_G_TO_M2_PER_KG


def linear_attenuation_per_m(formula: str, density_kg_m3: float, energy_kev: float) -> float:
    """mu = (mu/rho) * rho [1/m]."""
    if not density_kg_m3 > 0:
        raise ValueError(f"density must be positive, got {density_kg_m3}")
    return mass_attenuation_m2_kg(formula, energy_kev) * density_kg_m3


@lru_cache(maxsize=64)
def element_mass_fraction(formula: str, element: str) -> float:
    """Mass fraction of `element` in the compound `formula` (e.g. Cu in CuFeS2 = 0.346)."""
    parsed = xraylib.CompoundParser(formula)
    z = xraylib.SymbolToAtomicNumber(element)
    for index, zi in enumerate(parsed["Elements"]):
        if zi == z:
            return float(parsed["massFractions"][index])
    return 0.0


# -- spectra: the same xraylib tables, over many energies at once (sorter.xrt_generator) --

def _check_energies(energies_kev: tuple[float, ...]) -> None:
    if not energies_kev or min(energies_kev) < 1.0 or max(energies_kev) > 800.0:
        raise ValueError("energies must lie in 1..800 keV")


@lru_cache(maxsize=512)
def _mass_attenuation_tuple(formula: str, energies_kev: tuple[float, ...],
                            absorption: bool) -> np.ndarray:
    _check_energies(energies_kev)
    cross_section = xraylib.CS_Energy_CP if absorption else xraylib.CS_Total_CP
    try:
        values = [cross_section(formula, e) for e in energies_kev]
    except ValueError as err:
        raise ValueError(f"xraylib cannot parse the formula {formula!r}: {err}") from err
    out = np.asarray(values, dtype=np.float64) * CM2_PER_G_TO_M2_PER_KG
    out.setflags(write=False)
    return out


def mass_attenuation_spectrum_m2_kg(formula: str, energies_kev: np.ndarray) -> np.ndarray:
    """Total mass attenuation (coherent included) at each energy [m^2/kg]: what removes a
    photon from a narrow beam. Read-only array, cached per (formula, energies)."""
    key = tuple(float(e) for e in np.asarray(energies_kev, dtype=np.float64).ravel())
    return _mass_attenuation_tuple(formula, key, False)


def energy_absorption_spectrum_m2_kg(formula: str, energies_kev: np.ndarray) -> np.ndarray:
    """Mass energy-absorption coefficient mu_en/rho at each energy [m^2/kg]: the share of the
    photon energy that stays in the material (fluorescence and scatter escape removed), which
    is what an energy-integrating scintillator converts into signal."""
    key = tuple(float(e) for e in np.asarray(energies_kev, dtype=np.float64).ravel())
    return _mass_attenuation_tuple(formula, key, True)


@lru_cache(maxsize=256)
def formula_mass_fractions(formula: str) -> dict[str, float]:
    """Element symbol -> mass fraction of a compound formula (xraylib's parser)."""
    try:
        parsed = xraylib.CompoundParser(formula)
    except ValueError as err:
        raise ValueError(f"xraylib cannot parse the formula {formula!r}: {err}") from err
    return {xraylib.AtomicNumberToSymbol(int(z)): float(w)
            for z, w in zip(parsed["Elements"], parsed["massFractions"], strict=True)}


def effective_energy_kev(formula: str, mu_mass_m2_kg: float, low_kev: float = 10.0,
                         high_kev: float = 500.0) -> float:
    """The energy at which `formula`'s mono-energetic mass attenuation equals `mu_mass_m2_kg`
    (the polychromatic beam's effective energy for that absorber). Bisection on the monotone
    part of mu/rho(E) above the absorber's K edge."""
    f_lo = mass_attenuation_m2_kg(formula, low_kev) - mu_mass_m2_kg
    f_hi = mass_attenuation_m2_kg(formula, high_kev) - mu_mass_m2_kg
    if f_lo < 0.0 or f_hi > 0.0:
        raise ValueError(f"mu/rho {mu_mass_m2_kg} m^2/kg of {formula} is not reached between "
                         f"{low_kev} and {high_kev} keV")
    lo, hi = low_kev, high_kev
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if xraylib.CS_Total_CP(formula, mid) * CM2_PER_G_TO_M2_PER_KG > mu_mass_m2_kg:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
