"""Minerals, rocks (volume mixes of minerals) and grades, for lithium and copper ores.

A mineral is a formula (xraylib syntax) and a density; a rock is a volume mix of minerals.
Attenuation of a mix is the mass-fraction-weighted sum of its minerals' mass attenuations
(exact: attenuation is additive over atoms), so a rock needs no formula of its own. Grades are
mass fractions of an element (Cu) or of an oxide as assays report it (Li2O), computed from
mineral masses with xraylib's atomic weights; Li2O % from spodumene and Cu % from the copper
sulphides come out of the same two lines.

Presets live in config/materials.yaml (referenced by the cell's `materials` key).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xraylib
import yaml

from sorter import physics

DEFAULT_LIBRARY = Path(__file__).resolve().parents[4] / "config" / "materials.yaml"


@dataclass(frozen=True)
class Mineral:
    """A mineral phase: formula, density [kg/m^3], colour for the camera image (sRGB)."""

    name: str
    formula: str
    density_kg_m3: float
    color_rgb: tuple[int, int, int] = (160, 160, 160)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.density_kg_m3) and self.density_kg_m3 > 0.0):
            raise ValueError(f"mineral {self.name}: density must be > 0")
        physics.formula_mass_fractions(self.formula)

    def mass_attenuation(self, energies_kev: np.ndarray) -> np.ndarray:
        return physics.mass_attenuation_spectrum_m2_kg(self.formula, energies_kev)


@dataclass(frozen=True)
class Material:
    """A volume mix of minerals (a single mineral is a mix of one). Fractions sum to 1."""

    name: str
    components: tuple[tuple[Mineral, float], ...]

    def __post_init__(self) -> None:
        if not self.components:
            raise ValueError(f"material {self.name} has no minerals")
        fractions = [f for _, f in self.components]
        if min(fractions) < 0.0 or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
            raise ValueError(f"material {self.name}: volume fractions must be >= 0 and sum "
                             f"to 1, got {fractions}")

    @classmethod
    def pure(cls, mineral: Mineral) -> Material:
        return cls(mineral.name, ((mineral, 1.0),))

    @property
    def density_kg_m3(self) -> float:
        return sum(m.density_kg_m3 * f for m, f in self.components)

    @property
    def minerals(self) -> tuple[Mineral, ...]:
        return tuple(m for m, _ in self.components)

    def mass_fractions(self) -> dict[str, float]:
        rho = self.density_kg_m3
        return {m.name: m.density_kg_m3 * f / rho for m, f in self.components}

    def mass_attenuation(self, energies_kev: np.ndarray) -> np.ndarray:
        """mu/rho of the mix [m^2/kg] (mass-fraction weighted)."""
        weights = self.mass_fractions()
        total = np.zeros(np.shape(energies_kev))
        for m in self.minerals:
            total += weights[m.name] * m.mass_attenuation(energies_kev)
        return total

    @property
    def color_rgb(self) -> tuple[int, int, int]:
        rgb = np.zeros(3)
        for m, f in self.components:
            rgb += np.asarray(m.color_rgb, float) * f
        red, green, blue = (int(round(float(c))) for c in rgb)
        return red, green, blue


class MaterialLibrary:
    """Named minerals and rocks (config/materials.yaml)."""

    def __init__(self, minerals: Mapping[str, Mineral],
                 rocks: Mapping[str, Mapping[str, float]] | None = None) -> None:
        self.minerals = dict(minerals)
        self.rocks: dict[str, Material] = {}
        for name, mix in (rocks or {}).items():
            total = float(sum(mix.values()))
            unknown = [m for m in mix if m not in self.minerals]
            if unknown:
                raise ValueError(f"rock {name} names unknown minerals {unknown}")
            self.rocks[name] = Material(name, tuple(
                (self.minerals[m], float(f) / total) for m, f in mix.items()))

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_LIBRARY) -> MaterialLibrary:
        return _load_library(str(Path(path).resolve()))

    def mineral(self, name: str) -> Mineral:
        try:
            return self.minerals[name]
        except KeyError as err:
            raise ValueError(f"unknown mineral {name!r}; known: {sorted(self.minerals)}") \
                from err

    def material(self, spec: Any) -> Material:
        """A material from a preset name (mineral or rock), a {mix: {mineral: vf}} mapping,
        or an ad-hoc {formula, density_kg_m3} mapping (the slice's original feed syntax)."""
        if isinstance(spec, Material):
            return spec
        if isinstance(spec, Mineral):
            return Material.pure(spec)
        if isinstance(spec, str):
            if spec in self.rocks:
                return self.rocks[spec]
            return Material.pure(self.mineral(spec))
        if isinstance(spec, Mapping):
            if "mix" in spec:
                mix = {str(k): float(v) for k, v in spec["mix"].items()}
                total = sum(mix.values())
                return Material(str(spec.get("name", "mix")), tuple(
                    (self.mineral(k), v / total) for k, v in mix.items()))
            if "formula" in spec:
                formula = str(spec["formula"])
                return Material.pure(Mineral(str(spec.get("name", formula)), formula,
                                             float(spec["density_kg_m3"])))
        raise ValueError(f"cannot read a material from {spec!r}")


@lru_cache(maxsize=8)
def _load_library(path: str) -> MaterialLibrary:
    try:
        body = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"cannot read the materials file {path}: {err}") from err
    minerals = {}
    for name, item in (body.get("minerals") or {}).items():
        color = tuple(int(c) for c in item.get("color", (160, 160, 160)))
        minerals[name] = Mineral(name, str(item["formula"]), float(item["density_kg_m3"]),
                                 color)  # type: ignore[arg-type]
    return MaterialLibrary(minerals, body.get("rocks") or {})


def library_for_cell(cell: Mapping[str, Any]) -> MaterialLibrary:
    """The cell's `materials` file (relative to the cell file), else config/materials.yaml."""
    ref = cell.get("materials")
    if not ref:
        return MaterialLibrary.from_yaml()
    path = Path(str(ref))
    if not path.is_absolute():
        source = cell.get("_source")
        base = Path(source).parent if source else DEFAULT_LIBRARY.parent
        path = base / path
    return MaterialLibrary.from_yaml(path)


# -- grades -----------------------------------------------------------------------------

@lru_cache(maxsize=64)
def assay_factor(assay: str) -> tuple[str, float]:
    """(element, factor): an assay of an element ('Cu') counts the element (factor 1); an
    oxide ('Li2O') counts the oxide mass per element mass, e.g. Li2O / 2 Li = 2.153."""
    fractions = physics.formula_mass_fractions(assay)
    if len(fractions) == 1:
        return next(iter(fractions)), 1.0
    metals = [el for el in fractions if el != "O"]
    if len(metals) != 1 or "O" not in fractions:
        raise ValueError(f"assay {assay!r} must be an element or a single-metal oxide")
    element = metals[0]
    return element, 1.0 / fractions[element]


def assay_mass_fraction(formula: str, assay: str) -> float:
    """Mass fraction of the assay (element or oxide equivalent) in a compound."""
    element, factor = assay_factor(assay)
    return physics.formula_mass_fractions(formula).get(element, 0.0) * factor


def grade(mineral_masses_kg: Mapping[str, float], library: MaterialLibrary,
          assay: str) -> float:
    """Assay mass fraction of a particle (or a bin) from its mineral masses [0..1]."""
    total = float(sum(mineral_masses_kg.values()))
    if total <= 0.0:
        return 0.0
    value = sum(mass * assay_mass_fraction(library.mineral(name).formula, assay)
                for name, mass in mineral_masses_kg.items())
    return value / total


def li2o_percent(mineral_masses_kg: Mapping[str, float], library: MaterialLibrary) -> float:
    """Li2O grade in % from mineral masses (spodumene LiAlSi2O6 is 8.03 % Li2O)."""
    return 100.0 * grade(mineral_masses_kg, library, "Li2O")


def cu_percent(mineral_masses_kg: Mapping[str, float], library: MaterialLibrary) -> float:
    """Cu grade in % from mineral masses (chalcopyrite 34.6 %, bornite 63.3 % Cu)."""
    return 100.0 * grade(mineral_masses_kg, library, "Cu")


def molar_mass_g_mol(formula: str) -> float:
    """Molar mass from xraylib's atomic weights (for reports; grades use mass fractions)."""
    parsed = xraylib.CompoundParser(formula)
    return float(parsed["molarMass"])
