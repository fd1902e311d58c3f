"""Belt drive drivers, one interface: `start()` (connect, begin delivering encoder samples),
`command_speed(v)`, `stop()`. The simulated driver bridges to sim_world over topics; the
Modbus driver talks to the drive (VFD) over Modbus TCP with the cell's register map."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from std_msgs.msg import Float64

from sorter import topics
from sorter.common import qos
from sorter.common.modbus import EncoderUnwrapper, ModbusIO, RegisterMap
from sorter.common.timeutil import from_time_msg
from sorter_interfaces.msg import BeltState


class SimBeltDriver:
    def __init__(self, node: Any, on_encoder: Callable[[float, float], None]) -> None:
        self._node = node
        self._on_encoder = on_encoder
        self._pub = node.create_publisher(Float64, topics.SIM_BELT_SPEED_COMMAND.name,
                                          qos.LATCHED)
        self._sub = None

    def start(self) -> None:
        self._sub = self._node.create_subscription(
            BeltState, topics.SIM_BELT_ENCODER.name,
            lambda m: self._on_encoder(from_time_msg(m.header.stamp), m.encoder_position_m),
            qos.STATE,
        )

    def command_speed(self, speed_m_s: float) -> None:
        if self._node.context.ok():  # after shutdown the simulator is going away too
            self._pub.publish(Float64(data=float(speed_m_s)))

    def stop(self) -> None:
        self.command_speed(0.0)
        if self._sub is not None:
            self._node.destroy_subscription(self._sub)
            self._sub = None


class ModbusBeltDriver:
    """Polls the encoder count at `poll_rate_hz`, stamping each sample at the middle of its
    request (loopback round trip ~0.2 ms); writes the speed set-point and run bit."""

    def __init__(self, node: Any, on_encoder: Callable[[float, float], None]) -> None:
        self._node = node
        self._on_encoder = on_encoder
        self._io = ModbusIO(RegisterMap.from_params(node.params))
        self._unwrap = EncoderUnwrapper(node.params.encoder_count_m)
        self._timer = None

    def _now(self) -> float:
        return self._node.get_clock().now().nanoseconds * 1e-9

    def start(self) -> None:
        self._io.connect()  # ConnectionError: configure fails, saying which peer
        self._timer = self._node.create_timer(1.0 / self._node.params.poll_rate_hz,
                                              self._poll)

    def _poll(self) -> None:
        before = self._now()
        try:
            count = self._io.read_encoder_count()
        except ConnectionError as err:
            self._node.diag.reject("encoder", str(err))
            return
        self._on_encoder(0.5 * (before + self._now()), self._unwrap.position_m(count))

    def command_speed(self, speed_m_s: float) -> None:
        try:
            self._io.set_belt(speed_m_s)
        except ConnectionError as err:
            self._node.diag.set_error(f"belt drive did not take the set-point: {err}")
            raise

    def stop(self) -> None:
        if self._timer is not None:
            self._node.destroy_timer(self._timer)
            self._timer = None
        try:
            self._io.set_belt(0.0)
        except ConnectionError as err:
            self._node.diag.set_error(f"could not command the belt to stop: {err}")


DRIVERS = {"sim": SimBeltDriver, "modbus": ModbusBeltDriver}
