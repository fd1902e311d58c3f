"""Seconds (float) <-> builtin_interfaces/Time, the only two conversions nodes need."""

from __future__ import annotations

import math

from builtin_interfaces.msg import Time

NS_PER_S = 1_000_000_000


def to_time_msg(seconds: float) -> Time:
    """Float seconds -> Time, rounded to the nearest nanosecond (nanosec always in [0, 1e9))."""
    if not math.isfinite(seconds):
        raise ValueError(f"time {seconds} is not finite")
    sec = math.floor(seconds)
    nanosec = round((seconds - sec) * NS_PER_S)  # split first: keeps ns precision at 1e9 s
    if nanosec >= NS_PER_S:
        sec, nanosec = sec + 1, nanosec - NS_PER_S
    return Time(sec=int(sec), nanosec=int(nanosec))


def from_time_msg(msg: Time) -> float:
    """Time -> float seconds."""
    return msg.sec + msg.nanosec * 1e-9
