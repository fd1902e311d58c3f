"""X-ray attenuation from xraylib, in SI units. Shared by the simulator (rendering) and the
sorting cores (areal density -> mass), so both use the same tables, never two copies."""

from __future__ import annotations

from functools import lru_cache

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
