"""Vibrating feeder drivers: one call, the drive level 0..1. The simulated driver commands the
tray in sim_world; a plant driver writes the same value to the feeder controller."""

from __future__ import annotations

from typing import Any

from std_msgs.msg import Float64

from sorter.common import qos


class SimFeederDriver:
    def __init__(self, node: Any) -> None:
        self._pub = node.create_publisher(Float64, "sim/feeder/drive", qos.STATE)

    def set_drive(self, drive: float) -> None:
        if not 0.0 <= drive <= 1.0:
            raise ValueError(f"feeder drive {drive} outside 0..1")
        self._pub.publish(Float64(data=float(drive)))


DRIVERS = {"sim": SimFeederDriver}
