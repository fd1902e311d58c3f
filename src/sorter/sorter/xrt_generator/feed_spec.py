"""What the feeder carries: sieve size classes and the feed description (`FeedSpec`).

The particle kinds, size range, shape and texture ranges of a cell's `feed` section, validated;
particle_model.py draws particles from it. No ROS import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sorter.xrt_generator.materials import Material, MaterialLibrary, Mineral, library_for_cell

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
