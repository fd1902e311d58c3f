"""Belt motion in the simulated cell: the drive's ramp-limited speed, the exact trajectory it
produces and the encoder latched on it. No ROS import.

The belt speed follows its command with a constant acceleration limit (piecewise-constant
acceleration), so the position is integrated in closed form and every event time (a strip's
first line, a centroid reaching the scan or nozzle line, a particle dropping) is solved from the
trajectory rather than rounded to the step.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

HISTORY_S = 1.0  # belt trajectory kept for encoder latches in the past


@dataclass(frozen=True)
class Segment:
    """A piece of belt trajectory with constant acceleration, from absolute time t0."""

    t0: float
    x0: float
    v0: float
    accel: float
    duration: float

    @property
    def x_end(self) -> float:
        return self.position(self.duration)

    def position(self, tau: float) -> float:
        return self.x0 + self.v0 * tau + 0.5 * self.accel * tau * tau

    def time_at(self, x: float) -> float:
        """Absolute time at which this segment reaches x (x0 <= x <= x_end assumed)."""
        d = max(0.0, x - self.x0)
        if d == 0.0:
            return self.t0
        disc = max(0.0, self.v0 * self.v0 + 2.0 * self.accel * d)
        den = self.v0 + math.sqrt(disc)  # 2d / (v0 + sqrt(.)) is stable for both signs of a
        tau = self.duration if den <= 0.0 else min(self.duration, 2.0 * d / den)
        return self.t0 + tau


def time_at_position(segments: list[Segment], x: float) -> float | None:
    """First time the trajectory is at or past x; None if it does not get there. A target
    already behind the start is due at the start."""
    if not segments:
        return None
    if x <= segments[0].x0:
        return segments[0].t0
    for seg in segments:
        if seg.x_end >= x:
            return seg.time_at(x)
    return None


def position_at_time(segments: list[Segment], t: float) -> float:
    for seg in segments:
        if t <= seg.t0 + seg.duration:
            return seg.position(min(max(t - seg.t0, 0.0), seg.duration))
    return segments[-1].x_end


class BeltDrive:
    """Belt speed follows its command, limited to +-acceleration (a VFD ramp)."""

    def __init__(self, acceleration_m_s2: float, max_speed_m_s: float, speed_m_s: float = 0.0,
                 position_m: float = 0.0) -> None:
        if not acceleration_m_s2 > 0.0 or not max_speed_m_s > 0.0:
            raise ValueError("belt acceleration and max speed must be positive")
        self.acceleration = float(acceleration_m_s2)
        self.max_speed = float(max_speed_m_s)
        self.speed = self._check(speed_m_s)
        self.command = self.speed
        self.position = float(position_m)

    def _check(self, speed: float) -> float:
        speed = float(speed)
        if not (math.isfinite(speed) and 0.0 <= speed <= self.max_speed):
            raise ValueError(f"belt speed {speed} outside 0..{self.max_speed} m/s")
        return speed

    def set_command(self, speed_m_s: float) -> None:
        self.command = self._check(speed_m_s)

    def advance(self, t0: float, dt: float) -> list[Segment]:
        """Move dt seconds from t0; return the trajectory pieces (one or two)."""
        segments: list[Segment] = []
        gap = self.command - self.speed
        if gap != 0.0:
            accel = math.copysign(self.acceleration, gap)
            ramp = min(dt, abs(gap) / self.acceleration)
            segments.append(Segment(t0, self.position, self.speed, accel, ramp))
            self.position = segments[-1].x_end
            self.speed = self.command if ramp < dt else self.speed + accel * ramp
            t0, dt = t0 + ramp, dt - ramp
        if dt > 0.0:
            segments.append(Segment(t0, self.position, self.speed, 0.0, dt))
            self.position = segments[-1].x_end
        return segments


class TrajectoryHistory:
    """The belt trajectory of the last HISTORY_S seconds: exact positions at past instants (how
    a drive latches encoder counts at regular instants, whenever its host gets to read them)."""

    def __init__(self, keep_s: float = HISTORY_S) -> None:
        self.keep_s = keep_s
        self._segments: deque[Segment] = deque()

    def extend(self, segments: list[Segment], now_s: float) -> None:
        self._segments.extend(segments)
        while self._segments and self._segments[0].t0 + self._segments[0].duration \
                < now_s - self.keep_s:
            self._segments.popleft()

    def position_at(self, t_s: float, now_s: float, position_now: float) -> float:
        """Belt position at ``t_s`` (<= ``now_s``, within the kept trajectory), the belt being at
        ``position_now`` at ``now_s``. ValueError outside the kept trajectory."""
        history = self._segments
        if t_s > now_s or (history and t_s < history[0].t0) \
                or (not history and t_s != now_s):
            raise ValueError(f"time {t_s} outside the kept trajectory")
        if t_s == now_s or not history:
            return position_now
        for seg in reversed(history):  # latches are nearly always in the last step
            if seg.t0 <= t_s:
                return seg.position(min(t_s - seg.t0, seg.duration))
        return history[0].x0


@dataclass(frozen=True)
class EncoderSample:
    stamp_s: float             # latch time
    position_m: float          # quantised to the encoder step
    speed_setpoint_m_s: float
    running: bool


def quantise(position_m: float, step_m: float) -> float:
    """An encoder reading: the position floored to whole encoder steps (no step: exact)."""
    if step_m > 0.0:
        return math.floor(position_m / step_m + 1e-9) * step_m
    return position_m
