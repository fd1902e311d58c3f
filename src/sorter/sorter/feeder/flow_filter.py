"""Time-constant low-pass for irregularly spaced samples: the feeder node's mass-flow and
occupancy filters. No ROS import.
"""

from __future__ import annotations

import math

from sorter.common.validation import require_finite


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
        self._tau = 1.0
        self.time_constant_s = time_constant_s  # validated by the setter
        self._value: float | None = None
        self._stamp: float | None = None

    @property
    def time_constant_s(self) -> float:
        return self._tau

    @time_constant_s.setter
    def time_constant_s(self, time_constant_s: float) -> None:
        """Change the time constant at run time; the filtered value is kept."""
        tau = require_finite("MassFlowFilter.time_constant_s", time_constant_s)
        if tau <= 0.0:
            raise ValueError(f"MassFlowFilter.time_constant_s must be > 0, got {time_constant_s!r}")
        self._tau = tau

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
        stamp = require_finite("MassFlowFilter.update.stamp_s", stamp_s)
        x = require_finite("MassFlowFilter.update.value", value)
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
