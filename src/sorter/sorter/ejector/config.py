"""Ejector configuration: geometry, valve and policy parameters, validated on construction so
that a bad parameter stops the node at configure time instead of producing silently wrong
pulses. No ROS import."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sorter.common.validation import is_int, require_finite

EJECT_CHOICES: tuple[str, ...] = ("ore", "waste")


def _require_positive(owner: str, name: str, value: float) -> float:
    number = require_finite(f"{owner}.{name}", value)
    if number <= 0.0:
        raise ValueError(f"{owner}.{name} must be > 0, got {value!r}")
    return number


def _require_non_negative(owner: str, name: str, value: float) -> float:
    number = require_finite(f"{owner}.{name}", value)
    if number < 0.0:
        raise ValueError(f"{owner}.{name} must be >= 0, got {value!r}")
    return number



@dataclass
class EjectorConfig:
    """Geometry, valve and policy parameters of the ejector (cell.yaml: geometry, valves, policy).

    Validated on construction so that a bad parameter stops the node at configure time instead
    of producing silently wrong pulses.
    """

    scan_to_nozzle_m: float
    """Belt travel plus flight from the scan line to the nozzle line [m]."""
    valve_count: int
    """Number of valves on the bar; valve 0 is at the left belt edge."""
    valve_pitch_m: float
    """Centre-to-centre valve spacing across the belt [m]."""
    response_time_s: float
    """Electrical open command to air at the nozzle (valve lead) [s]."""
    min_open_s: float
    """Shortest electrical pulse the valve can deliver reliably [s]."""
    margin_m: float
    """Extra air before the leading and after the trailing edge, along travel [m]."""
    command_margin_s: float
    """A command must reach the valve controller this long before it opens [s]."""
    eject: str
    """Which class is blown: 'ore' or 'waste' (the fraction that is smaller by mass)."""
    probability_threshold: float
    """P(ore) at or above which a particle counts as ore [0..1]."""
    max_belt_age_s: float = 0.5
    """A belt sample older (or further in the future) than this cannot be trusted [s]."""
    min_belt_speed_m_s: float = 1e-3
    """At or below this speed the belt counts as stopped [m/s]."""
    max_schedule_ahead_s: float = 10.0
    """An open time further ahead than this is refused: the belt is too slow to trust the
    extrapolation (a speed change before then would blow the wrong particle) [s]."""
    lateral_margin_m: float | None = None
    """Widening of the particle across the belt before choosing valves [m]; default pitch/4."""
    bar_offset_m: float = 0.0
    """y of the left edge of valve 0 in the belt frame [m] (0: bar starts at the belt edge)."""
    close_response_time_s: float | None = None
    """Electrical close command to air off [s]; default: response_time_s."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        self.scan_to_nozzle_m = _require_positive(owner, "scan_to_nozzle_m", self.scan_to_nozzle_m)
        if not is_int(self.valve_count):
            raise ValueError(f"{owner}.valve_count must be an int, got {self.valve_count!r}")
        self.valve_count = int(self.valve_count)
        if self.valve_count < 1:
            raise ValueError(f"{owner}.valve_count must be >= 1, got {self.valve_count!r}")
        self.valve_pitch_m = _require_positive(owner, "valve_pitch_m", self.valve_pitch_m)
        self.response_time_s = _require_non_negative(owner, "response_time_s", self.response_time_s)
        self.min_open_s = _require_positive(owner, "min_open_s", self.min_open_s)
        self.margin_m = _require_non_negative(owner, "margin_m", self.margin_m)
        self.command_margin_s = _require_non_negative(
            owner, "command_margin_s", self.command_margin_s
        )
        if self.eject not in EJECT_CHOICES:
            raise ValueError(f"{owner}.eject must be one of {EJECT_CHOICES}, got {self.eject!r}")
        self.probability_threshold = require_finite(
            f"{owner}.probability_threshold", self.probability_threshold
        )
        if not 0.0 <= self.probability_threshold <= 1.0:
            raise ValueError(
                f"{owner}.probability_threshold must be in [0, 1], "
                f"got {self.probability_threshold!r}"
            )
        self.max_belt_age_s = _require_positive(owner, "max_belt_age_s", self.max_belt_age_s)
        self.min_belt_speed_m_s = _require_positive(
            owner, "min_belt_speed_m_s", self.min_belt_speed_m_s
        )
        self.max_schedule_ahead_s = _require_positive(
            owner, "max_schedule_ahead_s", self.max_schedule_ahead_s
        )
        if self.lateral_margin_m is None:
            self.lateral_margin_m = self.valve_pitch_m / 4.0
        self.lateral_margin_m = _require_non_negative(
            owner, "lateral_margin_m", self.lateral_margin_m
        )
        self.bar_offset_m = require_finite(f"{owner}.bar_offset_m", self.bar_offset_m)
        if self.close_response_time_s is None:
            self.close_response_time_s = self.response_time_s
        self.close_response_time_s = _require_non_negative(
            owner, "close_response_time_s", self.close_response_time_s
        )

    @property
    def bar_width_m(self) -> float:
        """Width of the valve bar across the belt [m]."""
        return self.valve_count * self.valve_pitch_m

    @classmethod
    def from_cell(
        cls,
        geometry: Mapping[str, Any],
        valves: Mapping[str, Any],
        policy: Mapping[str, Any],
        **overrides: Any,
    ) -> EjectorConfig:
        """Build from the ``geometry``, ``valves`` and ``policy`` sections of cell.yaml.

        Keyword ``overrides`` set the optional fields (e.g. ``max_belt_age_s``).
        """
        return cls(
            scan_to_nozzle_m=geometry["scan_to_nozzle_m"],
            valve_count=valves["count"],
            valve_pitch_m=valves["pitch_m"],
            response_time_s=valves["response_time_s"],
            min_open_s=valves["min_open_s"],
            margin_m=valves["margin_m"],
            command_margin_s=valves["command_margin_s"],
            eject=policy["eject"],
            probability_threshold=policy["probability_threshold"],
            **overrides,
        )

