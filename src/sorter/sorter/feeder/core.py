"""Closed-loop feed control: the ROS-free core of the ``feeder`` node.

The vibrating feeder's drive (0..1) sets how much material leaves the tray; the scan line
measures what actually arrives on the belt (mass flow from XRT areal density, and the
fraction of belt area covered). The control law is

    drive = feed_forward + kp * e + integral,     feed_forward = setpoint / max_feed_rate
    e     = (reference - measured) / max_feed_rate
    reference = setpoint through a first-order lag (reference_time_constant_s)

Why the error is normalised by the *full-scale* rate and not by the set-point: the drive is a
fraction of full scale, so with ``e`` in the same units the loop gain is ``kp`` whatever the
set-point. Normalising by the set-point multiplies the loop gain by ``max / setpoint`` (4x at
150 of 600 kg/h, 20x at 30 kg/h); with the tray lag and the tray-to-scan transport delay the
cell.yaml gains (kp 0.4, ki 0.8) then oscillate at 150 kg/h and below.

Feed-forward does most of the work (the tray is close to linear in drive); the PI term only
corrects the model error (tray wear, material flowability). Why the lagged reference (two
degrees of freedom): after a set-point step, or at start-up, feed-forward has already moved the
drive, but the scan sees nothing until the tray has responded and the material has travelled
to the scan line; an error against the raw set-point charges the integrator during that dead
time and overshoots. The learned integral term is scaled with the feed-forward when the
set-point changes (a tray at 80 % of nominal needs ``ff / 0.8`` at any set-point); a zero
set-point stops the drive outright.

Anti-windup: the integral term is clamped so that ``feed_forward + integral`` stays within
[0, 1], and while the output is saturated in the direction of the error it integrates only up
to the saturation edge (conditional integration).

Occupancy override: overlapping particles cost grade, so an unmet mass-flow set-point is the
lesser evil. Above the occupancy limit a drive *ceiling* takes over (override/selector
control: ``drive = min(pi_output, ceiling)``). The ceiling starts at the current PI output
(bumpless) and is multiplied every step by ``(limit / occupancy) ** (dt / tau_occ)``: it moves
in proportion to the relative excess, integrating until the occupancy sits at the limit; below
the limit it relaxes back up the same way until it no longer binds. While the ceiling binds the
mass-flow integrator is frozen. Why not the stateless ``drive *= limit / occupancy``: occupancy
is roughly proportional to drive, so that settles at ``sqrt(unthrottled occupancy * limit)``,
above the limit (0.147 for a 0.12 limit when the set-point would give 0.18); the integrating
ceiling settles at the limit. ``tau_occ`` must be well above the loop delay (tray lag +
tray-to-scan transport + measurement filter, ~1.4 s in the tests): 0.5 s oscillates, 2 s
does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sorter.common.validation import require_finite


@dataclass
class FeederConfig:
    """Feeder set-point, scale and control gains (cell.yaml ``feeder``), validated."""

    feed_rate_kg_h: float
    """Mass-flow set-point [kg/h]."""
    max_feed_rate_kg_h: float
    """Mass flow at full vibration drive [kg/h]; scales feed-forward and error."""
    occupancy_limit: float
    """Belt area fraction above which the drive is throttled (0, 1]."""
    kp: float
    """Drive per unit of full-scale-relative mass-flow error [1]."""
    ki: float
    """Drive per unit of full-scale-relative mass-flow error per second [1/s]."""
    occupancy_time_constant_s: float = 2.0
    """How fast the occupancy ceiling moves: a factor ``limit/occupancy`` per this time [s]."""
    reference_time_constant_s: float = 0.5
    """Lag of the error reference behind the set-point [s]; 0: error against the set-point."""
    saturation_fault_s: float = 5.0
    """Drive held at 1 with the flow still short for this long is a fault: the tray cannot
    deliver (blocked chute, empty hopper) [s]. Well above the loop delay (tray lag +
    tray-to-scan transport + measurement filter, ~1.4 s in the tests), so a set-point step
    from rest does not raise it."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        self.max_feed_rate_kg_h = require_finite(
            f"{owner}.max_feed_rate_kg_h", self.max_feed_rate_kg_h
        )
        if self.max_feed_rate_kg_h <= 0.0:
            raise ValueError(
                f"{owner}.max_feed_rate_kg_h must be > 0, got {self.max_feed_rate_kg_h!r}"
            )
        self.feed_rate_kg_h = require_finite(f"{owner}.feed_rate_kg_h", self.feed_rate_kg_h)
        if not 0.0 <= self.feed_rate_kg_h <= self.max_feed_rate_kg_h:
            raise ValueError(
                f"{owner}.feed_rate_kg_h must be in [0, max_feed_rate_kg_h="
                f"{self.max_feed_rate_kg_h!r}], got {self.feed_rate_kg_h!r}"
            )
        self.occupancy_limit = require_finite(f"{owner}.occupancy_limit", self.occupancy_limit)
        if not 0.0 < self.occupancy_limit <= 1.0:
            raise ValueError(
                f"{owner}.occupancy_limit must be in (0, 1], got {self.occupancy_limit!r}"
            )
        for name in ("kp", "ki"):
            value = require_finite(f"{owner}.{name}", getattr(self, name))
            if value < 0.0:
                raise ValueError(f"{owner}.{name} must be >= 0, got {value!r}")
            setattr(self, name, value)
        self.occupancy_time_constant_s = require_finite(
            f"{owner}.occupancy_time_constant_s", self.occupancy_time_constant_s
        )
        if self.occupancy_time_constant_s <= 0.0:
            raise ValueError(
                f"{owner}.occupancy_time_constant_s must be > 0, "
                f"got {self.occupancy_time_constant_s!r}"
            )
        self.reference_time_constant_s = require_finite(
            f"{owner}.reference_time_constant_s", self.reference_time_constant_s
        )
        if self.reference_time_constant_s < 0.0:
            raise ValueError(
                f"{owner}.reference_time_constant_s must be >= 0, "
                f"got {self.reference_time_constant_s!r}"
            )
        self.saturation_fault_s = require_finite(
            f"{owner}.saturation_fault_s", self.saturation_fault_s
        )
        if self.saturation_fault_s <= 0.0:
            raise ValueError(
                f"{owner}.saturation_fault_s must be > 0, got {self.saturation_fault_s!r}"
            )

    @classmethod
    def from_cell(cls, feeder: Mapping[str, Any]) -> FeederConfig:
        """Build from the ``feeder`` section of cell.yaml (unknown keys are ignored;
        ``occupancy_time_constant_s``, ``reference_time_constant_s`` and
        ``saturation_fault_s`` are optional)."""
        optional = (
            "occupancy_time_constant_s", "reference_time_constant_s", "saturation_fault_s"
        )
        extra = {key: feeder[key] for key in optional if key in feeder}
        return cls(
            feed_rate_kg_h=feeder["feed_rate_kg_h"],
            max_feed_rate_kg_h=feeder["max_feed_rate_kg_h"],
            occupancy_limit=feeder["occupancy_limit"],
            kp=feeder["kp"],
            ki=feeder["ki"],
            **extra,
        )


class FeedController:
    """Feed-forward + PI mass-flow controller with anti-windup and an occupancy ceiling.

    Call :meth:`update` at the control rate with the *filtered* mass flow and occupancy (see
    :class:`~sorter.feeder.flow_filter.MassFlowFilter`): per-strip samples are far too noisy
    for a proportional term.
    """

    def __init__(self, config: FeederConfig) -> None:
        if not isinstance(config, FeederConfig):
            raise TypeError(f"config must be a FeederConfig, got {type(config).__name__}")
        self._config = config
        self._setpoint = config.feed_rate_kg_h
        self._reference = 0.0  # the feeder starts from rest
        self._integral = 0.0
        self._drive = 0.0
        self._error = 0.0
        self._ceiling = 1.0
        self._throttled = False
        self._saturated_for = 0.0
        self._pi_output = 0.0

    # -- state ----------------------------------------------------------------------------
    @property
    def config(self) -> FeederConfig:
        return self._config

    @config.setter
    def config(self, config: FeederConfig) -> None:
        """Swap in new gains/limits at run time (parameter change) without a bump: the
        set-point, reference, integral and ceiling are kept. The set-point is *not* taken from
        the new config (use :meth:`set_setpoint`); it must fit the new maximum rate."""
        if not isinstance(config, FeederConfig):
            raise TypeError(f"config must be a FeederConfig, got {type(config).__name__}")
        if self._setpoint > config.max_feed_rate_kg_h:
            raise ValueError(
                f"current set-point {self._setpoint!r} kg/h exceeds the new "
                f"max_feed_rate_kg_h {config.max_feed_rate_kg_h!r}"
            )
        self._config = config
        self._integral = self._clamp_integral(self._integral)

    @property
    def setpoint_kg_h(self) -> float:
        return self._setpoint

    @property
    def reference_kg_h(self) -> float:
        """Mass flow the error is taken against: the set-point through the reference lag."""
        return self._reference

    @property
    def feed_forward(self) -> float:
        """Drive expected to give the set-point on a nominal tray [0..1]."""
        return self._setpoint / self._config.max_feed_rate_kg_h

    @property
    def integral_term(self) -> float:
        """Integral contribution to the drive [drive units]."""
        return self._integral

    @property
    def drive(self) -> float:
        """Last drive command [0..1]."""
        return self._drive

    @property
    def last_error(self) -> float:
        """Last full-scale-relative mass-flow error (0 when no measurement was given)."""
        return self._error

    @property
    def ceiling(self) -> float:
        """Occupancy drive ceiling [0..1] (1: inactive)."""
        return self._ceiling

    @property
    def throttled(self) -> bool:
        """Whether the last drive was limited by the occupancy ceiling."""
        return self._throttled

    @property
    def throttle_factor(self) -> float:
        """Last drive / what the mass-flow PI asked for (1: not throttled)."""
        if not self._throttled or self._pi_output <= 0.0:
            return 1.0
        return self._drive / self._pi_output

    @property
    def saturated_for_s(self) -> float:
        """How long the drive has been held at 1 with flow still short [s]. A long saturation
        means the tray cannot deliver (blocked chute, empty hopper): report it as a fault.
        When such a blockage clears the tray delivers full rate until the integrator has
        unwound, so the node may want to :meth:`reset` after clearing the fault."""
        return self._saturated_for

    @property
    def saturated(self) -> bool:
        """The saturation fault: :attr:`saturated_for_s` has reached
        ``config.saturation_fault_s``. Clears as soon as the drive leaves 1 or the flow is no
        longer short (and on :meth:`reset`)."""
        return self._saturated_for >= self._config.saturation_fault_s

    # -- commands -------------------------------------------------------------------------
    def set_setpoint(self, kg_h: float) -> None:
        """Change the mass-flow set-point [kg/h]; ValueError outside [0, max_feed_rate_kg_h].

        The integral term is scaled with the feed-forward: what it has learned is mostly a
        *gain* error of the tray (wear, flowability: a tray at 80 % of nominal needs
        ``ff / 0.8``), so it carries over to the new set-point in proportion, and a zero
        set-point really stops the drive. It is then re-clamped to the new feed-forward.
        """
        try:
            value = float(kg_h)
        except (TypeError, ValueError):
            value = math.nan
        if not 0.0 <= value <= self._config.max_feed_rate_kg_h:  # False for NaN too
            raise ValueError(
                f"feed set-point must be in [0, {self._config.max_feed_rate_kg_h!r}] kg/h, "
                f"got {kg_h!r}"
            )
        old_ff = self.feed_forward
        self._setpoint = value
        new_ff = self.feed_forward
        self._integral = self._integral * new_ff / old_ff if old_ff > 0.0 else 0.0
        self._integral = self._clamp_integral(self._integral)

    def reset(self) -> None:
        """Forget the integrator, the ceiling, the reference and the last output (on
        activate/deactivate: the feeder restarts from rest)."""
        self._reference = 0.0
        self._integral = 0.0
        self._drive = 0.0
        self._error = 0.0
        self._ceiling = 1.0
        self._throttled = False
        self._saturated_for = 0.0
        self._pi_output = 0.0

    def update(self, measured_kg_h: float | None, occupancy: float, dt_s: float) -> float:
        """One control step; return the vibration drive in [0, 1].

        ``measured_kg_h``: filtered mass flow on the belt [kg/h], or None when no measurement
        exists yet (feed-forward plus the held integral, no feedback). ``occupancy``: belt
        area fraction [0..1]; pass it filtered too (:class:`MassFlowFilter`), since a raw strip
        is often empty. ``dt_s``: time since the previous step [s]; 0 (the first step) moves no
        state in time but still returns a drive. Invalid inputs raise ValueError and leave the
        controller unchanged.
        """
        owner = "FeedController.update"
        dt = require_finite(f"{owner}.dt_s", dt_s)
        if dt < 0.0:
            raise ValueError(f"{owner}: dt_s must be >= 0, got {dt_s!r}")
        occ = require_finite(f"{owner}.occupancy", occupancy)
        if not 0.0 <= occ <= 1.0:
            raise ValueError(f"{owner}: occupancy must be in [0, 1], got {occupancy!r}")
        cfg = self._config
        measured = None
        if measured_kg_h is not None:
            measured = require_finite(f"{owner}.measured_kg_h", measured_kg_h)
            if measured < 0.0:
                raise ValueError(f"{owner}: measured_kg_h must be >= 0, got {measured_kg_h!r}")
        # All inputs valid: from here on the state changes.
        tau_ref = cfg.reference_time_constant_s
        if tau_ref > 0.0:
            self._reference += (self._setpoint - self._reference) * -math.expm1(-dt / tau_ref)
        else:
            self._reference = self._setpoint
        feedback = measured is not None
        error = 0.0 if measured is None else (self._reference - measured) / cfg.max_feed_rate_kg_h

        ff = self.feed_forward
        integral = self._integral
        pi_output = min(max(ff + cfg.kp * error + integral, 0.0), 1.0)

        # Occupancy ceiling (see module docstring). The ratio is bounded so that a momentary
        # zero or spike in occupancy cannot move the ceiling by more than 2x per tau.
        ceiling = self._ceiling
        limit = cfg.occupancy_limit
        exponent = dt / cfg.occupancy_time_constant_s
        if occ > limit:
            ceiling = min(ceiling, pi_output)  # bumpless take-over
            ceiling *= max(limit / occ, 0.5) ** exponent
        elif ceiling < 1.0:
            ratio = 2.0 if occ <= 0.5 * limit else limit / occ
            ceiling = min(1.0, ceiling * ratio**exponent)
        throttled = ceiling < pi_output

        if self._setpoint == 0.0:
            integral = 0.0  # stopped: nothing to learn (see below)
        elif feedback and not throttled:
            candidate = integral + cfg.ki * error * dt
            proportional = ff + cfg.kp * error
            if proportional + candidate > 1.0 and error > 0.0:
                # Conditional integration: go up to the saturation edge, never beyond it (and
                # never down either: the P term alone does not unwind the integrator).
                integral = max(integral, min(candidate, 1.0 - proportional))
            elif proportional + candidate < 0.0 and error < 0.0:
                integral = min(integral, max(candidate, -proportional))
            else:
                integral = candidate
            integral = self._clamp_integral(integral)
            pi_output = min(max(proportional + integral, 0.0), 1.0)

        drive = min(pi_output, ceiling)
        if self._setpoint == 0.0:
            drive = 0.0  # a zero set-point stops the tray outright, whatever the reference
        if drive >= 1.0 and error > 0.0:
            self._saturated_for += dt
        else:
            self._saturated_for = 0.0
        self._integral = integral
        self._error = error
        self._ceiling = ceiling
        self._throttled = throttled
        self._pi_output = pi_output
        self._drive = drive
        return drive

    def _clamp_integral(self, integral: float) -> float:
        ff = self.feed_forward
        return min(max(integral, -ff), 1.0 - ff)
