"""Closed-loop feed control: the ROS-free core of the ``feeder`` node.

The vibrating feeder's drive (0..1) sets how much material leaves the tray; the scan line
measures what actually arrives on the belt (mass flow from XRT areal density, and the
fraction of belt area covered). The control law is

    drive = feed_forward + kp * e + integral,     feed_forward = setpoint / max_feed_rate
    e     = (setpoint - measured) / max_feed_rate

Why the error is normalised by the *full-scale* rate and not by the set-point: the drive is a
fraction of full scale, so with ``e`` in the same units the loop gain is ``kp`` whatever the
set-point. Normalising by the set-point multiplies the loop gain by ``max / setpoint`` (4x at
150 of 600 kg/h, 20x at 30 kg/h) and, with the tray lag and the tray-to-scan transport delay,
the cell.yaml gains (kp 0.4, ki 0.8) then oscillate at low set-points.

Feed-forward does most of the work (the tray is close to linear in drive); the PI term only
corrects the model error (tray wear, material flowability, a blocked chute). Anti-windup:
the integral term is clamped so that ``feed_forward + integral`` stays within [0, 1], and it
stops integrating while the output is saturated in the direction of the error (conditional
integration). Above the belt occupancy limit the drive is scaled by ``limit / occupancy``
(occupancy is roughly proportional to drive, so this aims back at the limit in one step) and
the integrator is frozen: overlapping particles cost grade, so an unmet mass-flow set-point is
the lesser evil and must not wind the integrator up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def _finite(owner: str, name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}.{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{owner}.{name} must be finite, got {value!r}")
    return number


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

    def __post_init__(self) -> None:
        owner = type(self).__name__
        self.max_feed_rate_kg_h = _finite(owner, "max_feed_rate_kg_h", self.max_feed_rate_kg_h)
        if self.max_feed_rate_kg_h <= 0.0:
            raise ValueError(
                f"{owner}.max_feed_rate_kg_h must be > 0, got {self.max_feed_rate_kg_h!r}"
            )
        self.feed_rate_kg_h = _finite(owner, "feed_rate_kg_h", self.feed_rate_kg_h)
        if not 0.0 <= self.feed_rate_kg_h <= self.max_feed_rate_kg_h:
            raise ValueError(
                f"{owner}.feed_rate_kg_h must be in [0, max_feed_rate_kg_h="
                f"{self.max_feed_rate_kg_h!r}], got {self.feed_rate_kg_h!r}"
            )
        self.occupancy_limit = _finite(owner, "occupancy_limit", self.occupancy_limit)
        if not 0.0 < self.occupancy_limit <= 1.0:
            raise ValueError(
                f"{owner}.occupancy_limit must be in (0, 1], got {self.occupancy_limit!r}"
            )
        for name in ("kp", "ki"):
            value = _finite(owner, name, getattr(self, name))
            if value < 0.0:
                raise ValueError(f"{owner}.{name} must be >= 0, got {value!r}")
            setattr(self, name, value)

    @classmethod
    def from_cell(cls, feeder: Mapping[str, Any]) -> FeederConfig:
        """Build from the ``feeder`` section of cell.yaml (other keys are ignored)."""
        return cls(
            feed_rate_kg_h=feeder["feed_rate_kg_h"],
            max_feed_rate_kg_h=feeder["max_feed_rate_kg_h"],
            occupancy_limit=feeder["occupancy_limit"],
            kp=feeder["kp"],
            ki=feeder["ki"],
        )


class FeedController:
    """Feed-forward + PI mass-flow controller with anti-windup and occupancy throttling.

    Call :meth:`update` at the control rate with the *filtered* mass flow (see
    :class:`MassFlowFilter`): per-strip samples are far too noisy for a proportional term.
    """

    def __init__(self, config: FeederConfig) -> None:
        if not isinstance(config, FeederConfig):
            raise TypeError(f"config must be a FeederConfig, got {type(config).__name__}")
        self._config = config
        self._setpoint = config.feed_rate_kg_h
        self._integral = 0.0
        self._drive = 0.0
        self._error = 0.0
        self._throttle = 1.0

    # -- state ----------------------------------------------------------------------------
    @property
    def config(self) -> FeederConfig:
        return self._config

    @property
    def setpoint_kg_h(self) -> float:
        return self._setpoint

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
    def throttle_factor(self) -> float:
        """Last occupancy throttle applied to the drive (1: not throttled)."""
        return self._throttle

    @property
    def throttled(self) -> bool:
        return self._throttle < 1.0

    # -- commands -------------------------------------------------------------------------
    def set_setpoint(self, kg_h: float) -> None:
        """Change the mass-flow set-point [kg/h]; ValueError outside [0, max_feed_rate_kg_h].

        The integral term is kept (it models the tray's deviation from nominal, which does not
        depend on the set-point) and re-clamped to the new feed-forward.
        """
        value = _finite("FeedController", "setpoint_kg_h", kg_h)
        if not 0.0 <= value <= self._config.max_feed_rate_kg_h:
            raise ValueError(
                f"feed set-point must be in [0, {self._config.max_feed_rate_kg_h!r}] kg/h, "
                f"got {value!r}"
            )
        self._setpoint = value
        self._integral = self._clamp_integral(self._integral)

    def reset(self) -> None:
        """Forget the integrator and the last output (on activate/deactivate)."""
        self._integral = 0.0
        self._drive = 0.0
        self._error = 0.0
        self._throttle = 1.0

    def update(self, measured_kg_h: float | None, occupancy: float, dt_s: float) -> float:
        """One control step; return the vibration drive in [0, 1].

        ``measured_kg_h``: filtered mass flow on the belt [kg/h], or None when no measurement
        exists yet (feed-forward plus the held integral, no feedback). ``occupancy``: belt
        area fraction [0..1]. ``dt_s``: time since the previous step [s]. Invalid inputs raise
        ValueError and leave the controller unchanged.
        """
        owner = "FeedController.update"
        dt = _finite(owner, "dt_s", dt_s)
        if dt <= 0.0:
            raise ValueError(f"{owner}: dt_s must be > 0, got {dt_s!r}")
        occ = _finite(owner, "occupancy", occupancy)
        if not 0.0 <= occ <= 1.0:
            raise ValueError(f"{owner}: occupancy must be in [0, 1], got {occupancy!r}")
        if measured_kg_h is None:
            error = 0.0
            feedback = False
        else:
            measured = _finite(owner, "measured_kg_h", measured_kg_h)
            if measured < 0.0:
                raise ValueError(f"{owner}: measured_kg_h must be >= 0, got {measured_kg_h!r}")
            error = (self._setpoint - measured) / self._config.max_feed_rate_kg_h
            feedback = True

        cfg = self._config
        ff = self.feed_forward
        integral = self._integral
        throttle = 1.0
        if occ > cfg.occupancy_limit:
            throttle = cfg.occupancy_limit / occ  # integrator frozen while throttled
        elif feedback:
            candidate = integral + cfg.ki * error * dt
            unsaturated = ff + cfg.kp * error + candidate
            pushing_up = unsaturated > 1.0 and error > 0.0
            pushing_down = unsaturated < 0.0 and error < 0.0
            if not (pushing_up or pushing_down):
                integral = candidate
            integral = self._clamp_integral(integral)

        drive = min(max(ff + cfg.kp * error + integral, 0.0), 1.0) * throttle
        self._integral = integral
        self._error = error
        self._throttle = throttle
        self._drive = drive
        return drive

    def _clamp_integral(self, integral: float) -> float:
        ff = self.feed_forward
        return min(max(integral, -ff), 1.0 - ff)


class MassFlowFilter:
    """First-order low-pass in *time* for irregularly spaced samples (per-strip mass flow).

    ``y += (1 - exp(-dt / tau)) * (x - y)`` with ``dt`` the time since the previous sample:
    the exact discretisation of ``tau * dy/dt = x - y`` for an input held over ``dt``, so the
    smoothing does not depend on how often strips arrive (belt speed, lost strips). The first
    sample initialises the output. Per-strip mass flow is dominated by particle discreteness
    (a strip often holds zero or one particle): the relative noise of the output is about
    ``1 / sqrt(2 * tau * particles_per_s)``, so ``tau`` of several seconds is needed at lab
    feed rates.
    """

    def __init__(self, time_constant_s: float) -> None:
        tau = _finite("MassFlowFilter", "time_constant_s", time_constant_s)
        if tau <= 0.0:
            raise ValueError(f"MassFlowFilter.time_constant_s must be > 0, got {time_constant_s!r}")
        self._tau = tau
        self._value: float | None = None
        self._stamp: float | None = None

    @property
    def time_constant_s(self) -> float:
        return self._tau

    @property
    def value(self) -> float | None:
        """Filtered value, or None before the first sample."""
        return self._value

    @property
    def stamp_s(self) -> float | None:
        """Stamp of the last sample [s]."""
        return self._stamp

    def reset(self) -> None:
        self._value = None
        self._stamp = None

    def update(self, stamp_s: float, value: float) -> float:
        """Add a sample taken at ``stamp_s``; return the filtered value.

        ValueError for non-finite input or a stamp that does not increase (state unchanged).
        """
        stamp = _finite("MassFlowFilter.update", "stamp_s", stamp_s)
        x = _finite("MassFlowFilter.update", "value", value)
        if self._value is None or self._stamp is None:
            self._value, self._stamp = x, stamp
            return x
        dt = stamp - self._stamp
        if dt <= 0.0:
            raise ValueError(
                f"MassFlowFilter: stamp not increasing ({stamp!r} s after {self._stamp!r} s)"
            )
        alpha = -math.expm1(-dt / self._tau)
        self._value += alpha * (x - self._value)
        self._stamp = stamp
        return self._value
