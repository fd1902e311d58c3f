"""Simulated valve driver: forwards scheduled pulses to the valve controller in sim_world over
`sim/valves/command`, as a real driver would write them to the valve bar's controller."""

from __future__ import annotations

from typing import Any

from std_msgs.msg import Empty

from sorter import topics
from sorter.common import qos
from sorter.ejector.adapters import eject_msg_from_command
from sorter.ejector.valve_timeline import ValveCommand
from sorter_interfaces.msg import EjectCommand


class SimValveDriver:
    def __init__(self, node: Any) -> None:
        self._node = node
        self._pub = node.create_publisher(EjectCommand, topics.SIM_VALVES_COMMAND.name,
                                          qos.COMMANDS)
        self._cancel = node.create_publisher(Empty, topics.SIM_VALVES_CANCEL.name, qos.COMMANDS)
        self._armed = False
        self._sent = 0

    @property
    def armed(self) -> bool:
        return self._armed

    @property
    def sent_count(self) -> int:
        """Commands published to the valve controller. The simulated controller sends no
        acknowledgement, so this is not a count of pulses that fired."""
        return self._sent

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
        msg = eject_msg_from_command(command, self._node.get_clock().now().to_msg(), latency_s)
        self._pub.publish(msg)
        self._sent += 1
        return msg


DRIVERS = {"sim": SimValveDriver}
