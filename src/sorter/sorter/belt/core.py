"""Belt encoder speed estimation and speed set-point validation (ROS-free core of ``belt``).

Why a least-squares slope: the encoder is quantised (0.1 mm in cell.yaml) and its readings are
latched at irregular instants. Differencing two consecutive readings turns one quantum into a
large speed error (0.1 mm / 5 ms = 0.02 m/s); fitting a line through every reading of the last
``window_s`` averages both the quantisation and the irregular spacing.

What the estimate means: the least-squares slope over a window is the belt speed at the
*mean time of the window's samples* (exactly so for a constant acceleration and a symmetric
sample layout), i.e. about ``window_s / 2`` before the newest sample. During a ramp at
acceleration ``a`` the estimate lags the newest speed by about ``a * window_s / 2``
(4 m/s^2 * 0.025 s = 0.1 m/s with the defaults); :attr:`EncoderSpeedEstimator.speed_stamp_s`
says when the estimate is valid.
"""

from __future__ import annotations

import math
from collections import deque


class EncoderSpeedEstimator:
    """Belt speed from (stamp, encoder) readings by a least-squares slope over a time window.

    Times are absolute seconds (may be ~1.7e9 for wall time: the fit is done on differences
    from the newest sample so no precision is lost); positions in m, speeds in m/s. The
    encoder is expected to be monotonic (the belt does not run backwards); a reading that goes
    backwards, a stamp that does not increase or a non-finite value raises ValueError and
    leaves the estimator unchanged. The window must hold at least two readings for a speed,
    so choose ``window_s`` > 2 / (reading rate).
    """

    def __init__(self, window_s: float = 0.05) -> None:
        window = float(window_s)
        if not math.isfinite(window) or window <= 0.0:
            raise ValueError(
                f"EncoderSpeedEstimator.window_s must be finite and > 0, got {window_s!r}"
            )
        self._window_s = window
        self._samples: deque[tuple[float, float]] = deque()
        self._speed: float | None = None
        self._speed_stamp: float | None = None

    @property
    def window_s(self) -> float:
        return self._window_s

    @property
    def speed_m_s(self) -> float | None:
        """Latest speed estimate [m/s], or None until the window holds two readings."""
        return self._speed

    @property
    def speed_stamp_s(self) -> float | None:
        """Time at which :attr:`speed_m_s` is valid: the mean stamp of the window [s]."""
        return self._speed_stamp

    @property
    def latest(self) -> tuple[float, float] | None:
        """Newest accepted reading as (stamp_s, encoder_m), or None."""
        return self._samples[-1] if self._samples else None

    @property
    def sample_count(self) -> int:
        """Readings currently inside the window."""
        return len(self._samples)

    def reset(self) -> None:
        """Forget every reading (e.g. after an encoder reset or a drive restart)."""
        self._samples.clear()
        self._speed = None
        self._speed_stamp = None

    def update(self, stamp_s: float, encoder_m: float) -> float | None:
        """Add one reading; return the speed over the window [m/s] or None if not yet known."""
        stamp = float(stamp_s)
        encoder = float(encoder_m)
        if not math.isfinite(stamp) or not math.isfinite(encoder):
            raise ValueError(
                f"encoder reading must be finite, got stamp {stamp_s!r}, encoder {encoder_m!r}"
            )
        if self._samples:
            last_stamp, last_encoder = self._samples[-1]
            if stamp <= last_stamp:
                raise ValueError(
                    f"encoder stamp not increasing: {stamp!r} s after {last_stamp!r} s"
                )
            if encoder < last_encoder:
                raise ValueError(f"encoder went backwards: {encoder!r} m after {last_encoder!r} m")
        self._samples.append((stamp, encoder))
        horizon = stamp - self._window_s
        while self._samples[0][0] < horizon:
            self._samples.popleft()
        self._speed, self._speed_stamp = self._fit()
        return self._speed

    def _fit(self) -> tuple[float | None, float | None]:
        n = len(self._samples)
        if n < 2:
            return None, None
        t_ref, x_ref = self._samples[-1]
        dts = [t - t_ref for t, _ in self._samples]
        dxs = [x - x_ref for _, x in self._samples]
        t_mean = sum(dts) / n
        x_mean = sum(dxs) / n
        stt = sum((dt - t_mean) ** 2 for dt in dts)
        if stt <= 0.0:
            return None, None
        stx = sum((dt - t_mean) * (dx - x_mean) for dt, dx in zip(dts, dxs, strict=True))
        # A monotonic encoder cannot have a negative speed; clamp the tiny negative values that
        # rounding can produce for a standing belt.
        return max(stx / stt, 0.0), t_ref + t_mean


class SpeedCommandLimiter:
    """Validates belt speed set-points against the drive's limit before they reach the drive.

    Refusing (not clamping) keeps an operator's or planner's mistake visible.
    """

    def __init__(self, max_speed_m_s: float) -> None:
        limit = float(max_speed_m_s)
        if not math.isfinite(limit) or limit <= 0.0:
            raise ValueError(
                f"SpeedCommandLimiter.max_speed_m_s must be finite and > 0, got {max_speed_m_s!r}"
            )
        self._max = limit

    @property
    def max_speed_m_s(self) -> float:
        return self._max

    def validate(self, speed_m_s: float) -> float:
        """Return ``speed_m_s`` as float if 0 <= speed <= max, else raise ValueError."""
        try:
            speed = float(speed_m_s)
        except (TypeError, ValueError):
            raise ValueError(f"belt speed set-point must be a number, got {speed_m_s!r}") from None
        if not math.isfinite(speed):
            raise ValueError(f"belt speed set-point must be finite, got {speed_m_s!r}")
        if speed < 0.0:
            raise ValueError(f"belt speed set-point must be >= 0 m/s, got {speed!r}")
        if speed > self._max:
            raise ValueError(
                f"belt speed set-point {speed!r} m/s exceeds the maximum {self._max!r} m/s"
            )
        return speed
