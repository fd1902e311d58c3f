"""Belt drive drivers. The simulated one commands sim_world's drive and reads its encoder over
topics; a plant driver (VFD over Modbus TCP) implements the same three calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from std_msgs.msg import Float64

from sorter.common import qos
from sorter.common.timeutil import from_time_msg
from sorter_interfaces.msg import BeltState


class SimBeltDriver:
    def __init__(self, node: Any, on_encoder: Callable[[float, float], None]) -> None:
        self._node = node
        self._on_encoder = on_encoder
        self._pub = node.create_publisher(Float64, "sim/belt/speed_command", qos.STATE)
        self._sub = None

    def start(self) -> None:
        self._sub = self._node.create_subscription(
            BeltState, "sim/belt/encoder",
            lambda m: self._on_encoder(from_time_msg(m.header.stamp), m.encoder_position_m),
            qos.STATE,
        )

    def command_speed(self, speed_m_s: float) -> None:
        self._pub.publish(Float64(data=float(speed_m_s)))

    def stop(self) -> None:
        self.command_speed(0.0)
        if self._sub is not None:
            self._node.destroy_subscription(self._sub)
            self._sub = None


DRIVERS = {"sim": SimBeltDriver}
