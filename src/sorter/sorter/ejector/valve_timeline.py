"""What a valve bar does with timestamped pulse commands: one model for the ejector's recording
driver (tests) and the simulator's valve controller. No ROS import.

* A :class:`ValveCommand` is one pulse on an inclusive range of valves, with *electrical* open
  and close command times (the valve lead already subtracted by the scheduler).
* One lateness rule (:func:`is_late`): a command that reaches the valves after its open time is
  refused, never fired late; a late pulse blows the wrong particle.
* Air follows the electrical command by the valve's response time and lasts at least its
  minimum open time (a shorter command is stretched at its close edge).
* Commands are per particle, valves per nozzle: two particles close together along travel on
  the same valve give overlapping or nearly touching pulses. A valve therefore does the union
  of its pulses, gaps shorter than ``min_gap_s`` bridged (a valve cannot close and re-open
  faster than its response allows); a driver replaying each command's edges literally would
  close the valve in the middle of the second particle's pulse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sorter.common.validation import is_int, require_finite


@dataclass(frozen=True)
class ValveCommand:
    """One air pulse on the inclusive valve range ``valve_first..valve_last`` (what
    sorter_interfaces/EjectCommand carries). ``open_s``/``close_s`` are the electrical command
    times [s]."""

    particle_id: int
    valve_first: int
    valve_last: int
    open_s: float
    close_s: float

    @property
    def duration_s(self) -> float:
        return self.close_s - self.open_s

    @property
    def valves(self) -> range:
        return range(self.valve_first, self.valve_last + 1)


class LateCommandError(RuntimeError):
    """A command reached the valves after its open time: refused, never fired late."""


def is_late(open_s: float, received_s: float) -> bool:
    """The one lateness rule: a command received after its open time is late (one received
    exactly at its open time is still in time)."""
    return received_s > open_s


def validate_command(command: ValveCommand, valve_count: int, min_open_s: float = 0.0) -> None:
    """Raise ValueError unless ``command`` is a well-formed pulse on a bar of ``valve_count``.
    A zero-length command is well formed only on valves that stretch it (``min_open_s`` > 0)."""
    owner = type(command).__name__
    for name in ("valve_first", "valve_last"):
        value = getattr(command, name)
        if not is_int(value):
            raise ValueError(f"{owner}.{name} must be an int, got {value!r}")
    if not 0 <= command.valve_first <= command.valve_last < valve_count:
        raise ValueError(
            f"{owner} valve range {command.valve_first}..{command.valve_last} is not within "
            f"0..{valve_count - 1}"
        )
    open_s = require_finite(f"{owner}.open_s", command.open_s)
    close_s = require_finite(f"{owner}.close_s", command.close_s)
    if close_s < open_s or (close_s == open_s and not min_open_s > 0.0):
        relation = ">=" if min_open_s > 0.0 else ">"
        raise ValueError(f"{owner}.close_s ({close_s!r}) must be {relation} open_s ({open_s!r})")


def _non_negative(name: str, value: float) -> float:
    number = require_finite(f"ValveTimeline.{name}", value)
    if number < 0.0:
        raise ValueError(f"ValveTimeline.{name} must be >= 0, got {value!r}")
    return number


class ValveTimeline:
    """The air pulses of a valve bar in absolute time, and which nozzles blow when.

    :meth:`add` validates a command, refuses it if late, and records its air pulse
    ``[open + response, max(close, open + min_open) + response)``. Queries answer per valve
    from the union of its pulses (gaps under ``min_gap_s`` bridged).
    """

    def __init__(self, valve_count: int, *, response_time_s: float = 0.0,
                 min_open_s: float = 0.0, min_gap_s: float = 0.0) -> None:
        if not is_int(valve_count) or valve_count < 1:
            raise ValueError(f"ValveTimeline.valve_count must be an int >= 1, got {valve_count!r}")
        self._valve_count = int(valve_count)
        self.response_time_s = _non_negative("response_time_s", response_time_s)
        self.min_open_s = _non_negative("min_open_s", min_open_s)
        self._min_gap_s = _non_negative("min_gap_s", min_gap_s)
        self._pulses: list[tuple[float, float, int, int]] = []  # air on, air off, first, last
        self._merged: dict[int, list[tuple[float, float]]] | None = None  # per valve, cached

    @property
    def valve_count(self) -> int:
        return self._valve_count

    def add(self, command: ValveCommand, received_s: float = -math.inf) -> None:
        """Record ``command``'s air pulse. ValueError if malformed, LateCommandError if it was
        received (``received_s``) after its open time."""
        validate_command(command, self._valve_count, self.min_open_s)
        if is_late(command.open_s, received_s):
            raise LateCommandError(
                f"command for particle {command.particle_id} opens at {command.open_s:.6f} s, "
                f"received at {received_s:.6f} s: refused, never fired late"
            )
        close_s = max(command.close_s, command.open_s + self.min_open_s)
        self._pulses.append((command.open_s + self.response_time_s,
                             close_s + self.response_time_s,
                             command.valve_first, command.valve_last))
        self._merged = None

    def _per_valve(self) -> dict[int, list[tuple[float, float]]]:
        if self._merged is None:
            spans: dict[int, list[tuple[float, float]]] = {}
            for start, end, first, last in self._pulses:
                for valve in range(first, last + 1):
                    spans.setdefault(valve, []).append((start, end))
            self._merged = {valve: self._merge(sorted(s)) for valve, s in spans.items()}
        return self._merged

    def _merge(self, spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
        merged: list[tuple[float, float]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1] + self._min_gap_s:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def intervals(self, valve: int) -> list[tuple[float, float]]:
        """Air (start, end) of one valve, merged, in time order."""
        return list(self._per_valve().get(valve, []))

    def is_open(self, valve: int, t_s: float) -> bool:
        """Whether ``valve`` blows at ``t_s`` (start <= t < end)."""
        return any(a <= t_s < b for a, b in self._per_valve().get(valve, []))

    def open_valves(self, t_s: float) -> list[int]:
        """Sorted indices of the valves blowing at ``t_s``."""
        return sorted(v for v, spans in self._per_valve().items()
                      if any(a <= t_s < b for a, b in spans))

    def open_mask(self, t_s: float) -> np.ndarray:
        """(valve_count,) bool: which nozzles blow at ``t_s``."""
        mask = np.zeros(self._valve_count, dtype=bool)
        mask[self.open_valves(t_s)] = True
        return mask

    def cancel(self, now_s: float) -> int:
        """Fail closed (the driver was disarmed at ``now_s``): pulses not yet blowing are
        dropped and those blowing close now, air stopping one response time later. Returns the
        pulses affected."""
        cutoff = now_s + self.response_time_s
        kept, affected = [], 0
        for start, end, first, last in self._pulses:
            if start > cutoff:
                affected += 1
                continue
            stop = min(end, cutoff)
            affected += stop < end
            kept.append((start, stop, first, last))
        self._pulses = kept
        self._merged = None
        return affected

    def prune(self, before_s: float) -> None:
        """Forget pulses whose air ended at or before ``before_s`` (keeps memory bounded)."""
        kept = [p for p in self._pulses if p[1] > before_s]
        if len(kept) != len(self._pulses):
            self._pulses = kept
            self._merged = None

    def clear(self) -> None:
        """Forget every pulse."""
        self._pulses.clear()
        self._merged = None
