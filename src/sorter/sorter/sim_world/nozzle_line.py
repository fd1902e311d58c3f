"""The nozzle line of the simulated cell: the valve controller executing timestamped commands,
and each particle crossing the line binned by the air blowing on it. No ROS import.

The controller's timeline is the ejector's own valve model (sorter.ejector.valve_timeline):
the same lateness rule, the same air from response time and minimum open time.
"""

from __future__ import annotations

import enum

import numpy as np

from sorter.ejector.valve_timeline import LateCommandError, ValveCommand, ValveTimeline
from sorter.sim_world.belt_load import PlacedParticle
from sorter.sim_world.scorer import Bin, Outcome


class CommandStatus(enum.Enum):
    ACCEPTED = "accepted"
    LATE = "late"
    INVALID = "invalid"


class ValveController:
    """Executes valve commands in absolute time. Air flows at the nozzle from
    open + response_time to max(close, open + min_open) + response_time. A command that arrives
    after its open time is late: counted and dropped (fail-closed, never fired late)."""

    def __init__(self, count: int, pitch_m: float, response_time_s: float,
                 min_open_s: float) -> None:
        if count < 1 or not pitch_m > 0.0 or response_time_s < 0.0 or min_open_s < 0.0:
            raise ValueError("invalid valve bar description")
        self.count = int(count)
        self.pitch_m = float(pitch_m)
        self.response_time_s = float(response_time_s)
        self.min_open_s = float(min_open_s)
        self.timeline = ValveTimeline(self.count, response_time_s=self.response_time_s,
                                      min_open_s=self.min_open_s)
        self.received = 0
        self.late = 0
        self.invalid = 0

    def receive(self, command: ValveCommand, received_s: float) -> CommandStatus:
        self.received += 1
        try:
            self.timeline.add(command, received_s)
        except LateCommandError:
            self.late += 1
            return CommandStatus.LATE
        except ValueError:
            self.invalid += 1
            return CommandStatus.INVALID
        return CommandStatus.ACCEPTED

    def air(self, t: float) -> np.ndarray:
        """Which nozzles blow at time t."""
        return self.timeline.open_mask(t)

    def coverage(self, t: float, y_min_m: float, y_max_m: float) -> float:
        """Fraction of [y_min, y_max] under blowing nozzles at time t (nozzle v spans
        [v * pitch, (v + 1) * pitch) from the left belt edge)."""
        width = y_max_m - y_min_m
        if width <= 0.0:
            return 0.0
        edges = np.arange(self.count + 1) * self.pitch_m
        overlap = np.clip(np.minimum(edges[1:], y_max_m) - np.maximum(edges[:-1], y_min_m),
                          0.0, None)
        return float(overlap[self.air(t)].sum() / width)

    def cancel_pending(self, now_s: float) -> int:
        """Fail closed (the driver was disarmed): pulses not yet started are dropped and those
        blowing close now, air stopping one response time later. Returns pulses affected."""
        return self.timeline.cancel(now_s)

    def prune(self, before_s: float) -> None:
        """Forget pulses whose air ended before `before_s`."""
        self.timeline.prune(before_s)


class Bins:
    """Particles that crossed the nozzle line wait here until their bin is settled: REJECT when
    air covered at least `reject_coverage` of their width at the crossing, else ACCEPT."""

    def __init__(self, reject_coverage: float) -> None:
        self.reject_coverage = reject_coverage
        self._crossed: list[tuple[float, PlacedParticle]] = []

    def crossed(self, crossings: list[tuple[float, PlacedParticle]]) -> None:
        self._crossed.extend(crossings)

    def settle(self, until_s: float, valves: ValveController
               ) -> list[tuple[PlacedParticle, Outcome]]:
        """Bin every particle that crossed at or before `until_s`, by the air that was blowing
        at its crossing."""
        due = [(t, placed) for t, placed in self._crossed if t <= until_s]
        if not due:
            return []
        self._crossed = [(t, placed) for t, placed in self._crossed if t > until_s]
        settled = []
        for t, placed in due:
            cover = valves.coverage(t, placed.y_min_m, placed.y_max_m)
            bin_ = Bin.REJECT if cover >= self.reject_coverage else Bin.ACCEPT
            part = placed.particle
            settled.append((placed, Outcome(
                truth_id=part.id, is_ore=part.is_ore, mass_kg=part.mass_kg, grade=part.grade,
                mineral_mass_kg=part.mineral_mass_kg, bin=bin_, scan_time_s=placed.scan_time_s,
            )))
        return settled
