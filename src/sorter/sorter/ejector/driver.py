"""Valve driver interface and an in-memory driver for tests.

The ejector node talks to the valve bar only through :class:`ValveDriver`, so the simulated
bridge (sim_driver), a hardware driver (none is written yet) and the in-memory
:class:`RecordingValveDriver` are interchangeable. The contract is fail-closed: a disarmed
driver holds every valve closed, cancels everything pending and refuses new commands, so a
node that loses its belt feed, deactivates or crashes into ``disarm()`` can never fire a stale
pulse. What a valve bar does with the commands it accepts is modelled once, in
:mod:`sorter.ejector.valve_timeline`.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

from sorter.ejector.valve_timeline import LateCommandError, ValveCommand, ValveTimeline

MAX_VALVES = 65536
"""Default bar size: anything a uint16 valve index (EjectCommand) can address."""


@runtime_checkable
class ValveDriver(Protocol):
    """What the ejector node needs of a valve bar."""

    def arm(self) -> None:
        """Allow commands to be submitted and executed."""

    def disarm(self) -> None:
        """Fail-closed: close all valves now and cancel every pending command."""

    def submit(self, command: ValveCommand) -> None:
        """Queue one pulse. Raises RuntimeError while disarmed, ValueError if malformed."""

    @property
    def sent_count(self) -> int:
        """Commands accepted by :meth:`submit` and passed on to the valve controller
        (monotonic). Not a confirmation that a valve fired."""


class RecordingValveDriver:
    """Pure-Python valve driver that records what it is asked to do.

    Time only moves when the test calls :meth:`advance` (absolute seconds): a command counts as
    executed once its close time has passed while armed. Commands whose open time has already
    passed when submitted are refused with :class:`LateCommandError` (never fired late). Valve
    states are the per-valve union of pulses (see :class:`ValveTimeline`).
    """

    def __init__(self, valve_count: int = MAX_VALVES, min_gap_s: float = 0.0) -> None:
        self._timeline = ValveTimeline(valve_count, min_gap_s=min_gap_s)
        self._armed = False
        self._now_s = -math.inf
        self.submitted: list[ValveCommand] = []
        """Every command accepted by :meth:`submit`, in submission order."""
        self.executed: list[ValveCommand] = []
        """Commands whose pulse completed while armed."""
        self.cancelled: list[ValveCommand] = []
        """Commands dropped by :meth:`disarm` before completing."""
        self._pending: list[ValveCommand] = []
        self.late_count = 0
        """Submits refused because their open time had already passed."""

    @property
    def valve_count(self) -> int:
        return self._timeline.valve_count

    @property
    def armed(self) -> bool:
        return self._armed

    @property
    def sent_count(self) -> int:
        return len(self.submitted)

    @property
    def executed_count(self) -> int:
        """Pulses completed while armed (this driver's own clock, see :meth:`advance`)."""
        return len(self.executed)

    @property
    def pending(self) -> list[ValveCommand]:
        """Accepted commands not yet executed or cancelled."""
        return list(self._pending)

    @property
    def now_s(self) -> float:
        return self._now_s

    def arm(self) -> None:
        self._armed = True

    def disarm(self) -> None:
        self._armed = False
        self.cancelled.extend(self._pending)
        self._pending.clear()
        self._timeline.clear()

    def submit(self, command: ValveCommand) -> None:
        if not self._armed:
            raise RuntimeError(
                f"valve driver is disarmed: command for particle {command.particle_id} refused"
            )
        try:
            self._timeline.add(command, received_s=self._now_s)
        except LateCommandError:
            self.late_count += 1
            raise
        self.submitted.append(command)
        self._pending.append(command)

    def advance(self, now_s: float) -> None:
        """Move the driver clock to ``now_s``; complete pulses whose close time has passed."""
        if not math.isfinite(now_s):
            raise ValueError(f"now_s must be finite, got {now_s!r}")
        if now_s < self._now_s:
            raise ValueError(f"driver time cannot go backwards ({now_s!r} < {self._now_s!r})")
        self._now_s = now_s
        done = [c for c in self._pending if c.close_s <= now_s]
        if done:
            self.executed.extend(done)
            self._pending = [c for c in self._pending if c.close_s > now_s]

    def is_open(self, valve: int, t_s: float | None = None) -> bool:
        """Whether ``valve`` is open at ``t_s`` (default: the driver's time). Always False while
        disarmed."""
        if not self._armed:
            return False
        return self._timeline.is_open(valve, self._now_s if t_s is None else t_s)

    def open_valves(self, t_s: float | None = None) -> list[int]:
        """Indices of all valves open at ``t_s`` (default: the driver's time)."""
        if not self._armed:
            return []
        return self._timeline.open_valves(self._now_s if t_s is None else t_s)
