"""Trial scoring from simulation truth: what the sorter achieved, next to what perfect
per-particle information would have achieved on the same feed (the ideal-separation bound).

Definitions (gamma as Yu et al. define it, see docs/references.md): the concentrate is the
bin the ore stream goes to (REJECT when the policy ejects ore, ACCEPT when it ejects waste);
tailings is the other bin; waste rejection gamma = m_rejected / m_feed is the REJECT bin's
mass share; recovery is the share of the pay element's mass that reaches the concentrate;
misplaced mass is ore in the tailings plus waste in the concentrate. Ratios are fractions in
[0, 1] (reports format them as %); a ratio with an empty denominator is NaN (None in
`as_dict`, so the dict is JSON-safe).
No ROS import.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


class Bin(enum.IntEnum):
    """Values match sorter_interfaces/msg/ParticleOutcome (BIN_ACCEPT = 0, BIN_REJECT = 1)."""

    ACCEPT = 0
    REJECT = 1


@dataclass(frozen=True)
class Outcome:
    """Truth for one particle that reached a bin."""

    truth_id: int
    is_ore: bool
    mass_kg: float
    grade: float              # pay-element mass fraction [0..1]
    mineral_mass_kg: float    # pay-mineral mass [kg]
    bin: Bin
    scan_time_s: float        # when its centroid crossed the scan line [s]

    @property
    def element_mass_kg(self) -> float:
        return self.grade * self.mass_kg


def concentrate_bin(eject: str) -> Bin:
    """Where the ore stream goes under the policy `eject` (ore | waste)."""
    if eject == "ore":
        return Bin.REJECT
    if eject == "waste":
        return Bin.ACCEPT
    raise ValueError(f"policy.eject must be 'ore' or 'waste', got {eject!r}")


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0.0 else math.nan


@dataclass(frozen=True)
class Separation:
    """Mass balance of one split of the feed into concentrate and tailings."""

    concentrate_mass_kg: float
    concentrate_grade: float
    tailings_mass_kg: float
    tailings_grade: float
    recovery: float
    rejected_mass_kg: float
    waste_rejection: float    # gamma = m_rejected / m_feed


@dataclass(frozen=True)
class TrialScore:
    """The numbers a trial report shows, with the ideal bound alongside."""

    eject: str
    concentrate_bin: str
    particles: int
    feed_mass_kg: float
    feed_grade: float
    feed_element_mass_kg: float
    concentrate_mass_kg: float
    concentrate_grade: float
    tailings_mass_kg: float
    tailings_grade: float
    recovery: float
    rejected_mass_kg: float
    waste_rejection: float
    misplaced_ore_kg: float           # ore particles in the tailings
    misplaced_waste_kg: float         # waste particles in the concentrate
    misplaced_mass_kg: float
    misplaced_mass_fraction: float    # of the feed mass
    counts: dict[str, int]            # "<bin>_<class>", e.g. "reject_ore"
    ideal: Separation

    def as_dict(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, float) and math.isnan(value):
                return None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            return value

        return clean(asdict(self))


def _split(outcomes: list[Outcome], in_concentrate: list[bool], conc_bin: Bin,
           feed_mass: float, feed_element: float) -> Separation:
    conc_mass = sum(o.mass_kg for o, c in zip(outcomes, in_concentrate, strict=True) if c)
    conc_el = sum(o.element_mass_kg for o, c in zip(outcomes, in_concentrate, strict=True) if c)
    tail_mass = feed_mass - conc_mass
    tail_el = feed_element - conc_el
    rejected = conc_mass if conc_bin == Bin.REJECT else tail_mass
    return Separation(
        concentrate_mass_kg=conc_mass,
        concentrate_grade=_ratio(conc_el, conc_mass),
        tailings_mass_kg=tail_mass,
        tailings_grade=_ratio(tail_el, tail_mass),
        recovery=_ratio(conc_el, feed_element),
        rejected_mass_kg=rejected,
        waste_rejection=_ratio(rejected, feed_mass),
    )


def score(outcomes: Iterable[Outcome], eject: str) -> TrialScore:
    """Score a trial. `eject` is the cell's `policy.eject`."""
    items = list(outcomes)
    conc_bin = concentrate_bin(eject)
    feed_mass = sum(o.mass_kg for o in items)
    feed_element = sum(o.element_mass_kg for o in items)
    actual = _split(items, [o.bin == conc_bin for o in items], conc_bin, feed_mass, feed_element)
    ideal = _split(items, [o.is_ore for o in items], conc_bin, feed_mass, feed_element)
    misplaced_ore = sum(o.mass_kg for o in items if o.is_ore and o.bin != conc_bin)
    misplaced_waste = sum(o.mass_kg for o in items if not o.is_ore and o.bin == conc_bin)
    counts = {f"{b.name.lower()}_{cls}": 0 for b in Bin for cls in ("ore", "waste")}
    for o in items:
        counts[f"{Bin(o.bin).name.lower()}_{'ore' if o.is_ore else 'waste'}"] += 1
    return TrialScore(
        eject=eject,
        concentrate_bin=conc_bin.name.lower(),
        particles=len(items),
        feed_mass_kg=feed_mass,
        feed_grade=_ratio(feed_element, feed_mass),
        feed_element_mass_kg=feed_element,
        concentrate_mass_kg=actual.concentrate_mass_kg,
        concentrate_grade=actual.concentrate_grade,
        tailings_mass_kg=actual.tailings_mass_kg,
        tailings_grade=actual.tailings_grade,
        recovery=actual.recovery,
        rejected_mass_kg=actual.rejected_mass_kg,
        waste_rejection=actual.waste_rejection,
        misplaced_ore_kg=misplaced_ore,
        misplaced_waste_kg=misplaced_waste,
        misplaced_mass_kg=misplaced_ore + misplaced_waste,
        misplaced_mass_fraction=_ratio(misplaced_ore + misplaced_waste, feed_mass),
        counts=counts,
        ideal=ideal,
    )
