"""Simulated valve driver: forwards scheduled pulses to the valve controller in sim_world over
`sim/valves/command`, as a real driver would write them to the valve bar's controller."""

from __future__ import annotations

from typing import Any

from std_msgs.msg import Empty

from sorter.common import qos
from sorter.common.timeutil import to_time_msg
from sorter.ejector.core import ValveCommand
from sorter_interfaces.msg import EjectCommand


class SimValveDriver:
    def __init__(self, node: Any) -> None:
        self._node = node
        self._pub = node.create_publisher(EjectCommand, "sim/valves/command", qos.COMMANDS)
        self._cancel = node.create_publisher(Empty, "sim/valves/cancel", qos.COMMANDS)
        self._armed = False
        self._executed = 0

    @property
    def armed(self) -> bool:
        return self._armed

    @property
    def executed_count(self) -> int:
        return self._executed

    def arm(self) -> None:
        self._armed = True

    def disarm(self) -> None:
        """Fail closed: refuse new pulses and cancel those already scheduled in the valve
        controller (a pulse blowing now closes)."""
        self._armed = False
        if self._node.context.ok():  # after shutdown the simulator is going away too
            self._cancel.publish(Empty())

    def submit(self, command: ValveCommand, latency_s: float = 0.0) -> EjectCommand:
        if not self._armed:
            raise RuntimeError("valve driver is disarmed: command refused")
        msg = to_eject_msg(command, self._node.get_clock().now().to_msg(), latency_s)
        self._pub.publish(msg)
        self._executed += 1
        return msg


def to_eject_msg(command: ValveCommand, stamp: Any, latency_s: float) -> EjectCommand:
    msg = EjectCommand()
    msg.header.stamp = stamp
    msg.header.frame_id = "valve_bar"
    msg.particle_id = int(command.particle_id)
    msg.valve_first = int(command.valve_first)
    msg.valve_last = int(command.valve_last)
    msg.open_time = to_time_msg(command.open_s)
    msg.close_time = to_time_msg(command.close_s)
    msg.scan_to_command_latency_s = float(latency_s)
    return msg


DRIVERS = {"sim": SimValveDriver}
