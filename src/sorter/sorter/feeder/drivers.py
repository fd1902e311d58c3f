"""Vibrating feeder drivers: one call, the drive level 0..1. The simulated driver commands the
tray in sim_world; the Modbus driver writes it to the feeder controller's holding register."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from std_msgs.msg import Float64

from sorter import topics
from sorter.common import qos
from sorter.common.modbus import ModbusIO, RegisterMap


class FeederDriver(Protocol):
    def connect(self) -> None: ...

    def set_drive(self, drive: float) -> None: ...


class SimFeederDriver:
    def __init__(self, node: Any) -> None:
        self._node = node
        self._pub = node.create_publisher(Float64, topics.SIM_FEEDER_DRIVE.name, qos.LATCHED)

    def connect(self) -> None:
        """Topics need no connection."""

    def set_drive(self, drive: float) -> None:
        if not 0.0 <= drive <= 1.0:
            raise ValueError(f"feeder drive {drive} outside 0..1")
        if self._node.context.ok():  # after shutdown the simulator is going away too
            self._pub.publish(Float64(data=float(drive)))


class ModbusFeederDriver:
    def __init__(self, node: Any) -> None:
        self._io = ModbusIO(RegisterMap.from_params(node.params))

    def connect(self) -> None:
        self._io.connect()

    def set_drive(self, drive: float) -> None:
        self._io.set_feeder_drive(drive)  # ValueError out of range, ConnectionError no peer


DRIVERS: dict[str, Callable[[Any], FeederDriver]] = {
    "sim": SimFeederDriver, "modbus": ModbusFeederDriver,
}
