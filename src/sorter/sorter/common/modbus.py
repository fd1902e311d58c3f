"""Modbus TCP plant I/O (belt drive and feeder controller), ROS-free. The register map is a
plant fact and lives in the cell description (`io` section); drivers and the protocol-level
plant simulator (sorter.sim_world.modbus_plant) both read it from there.

Scaling: belt speed set-point in mm/s (holding register), run command 0/1 (holding), feeder
drive in per mille (holding), encoder position as an unsigned 32-bit count over two input
registers (high word first) with `encoder_count_m` metres per count, wrapping at 2^32."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from sorter.common.modbus_parameters import ModbusParameters

ENCODER_WRAP = 1 << 32


@dataclass(frozen=True)
class RegisterMap:
    host: str
    port: int
    device_id: int
    belt_speed_setpoint_register: int
    belt_run_register: int
    feeder_drive_register: int
    encoder_count_register: int
    encoder_count_m: float
    timeout_s: float = 0.2

    @classmethod
    def from_params(cls, params: ModbusParameters) -> RegisterMap:
        return cls(
            host=params.modbus_host,
            port=params.modbus_port,
            device_id=params.modbus_device_id,
            belt_speed_setpoint_register=params.belt_speed_setpoint_register,
            belt_run_register=params.belt_run_register,
            feeder_drive_register=params.feeder_drive_register,
            encoder_count_register=params.encoder_count_register,
            encoder_count_m=params.encoder_count_m,
        )


def speed_to_register(speed_m_s: float) -> int:
    if not (math.isfinite(speed_m_s) and 0.0 <= speed_m_s <= 65.535):
        raise ValueError(f"belt speed {speed_m_s} m/s does not fit the mm/s register")
    return int(round(speed_m_s * 1000.0))


def drive_to_register(drive: float) -> int:
    if not (math.isfinite(drive) and 0.0 <= drive <= 1.0):
        raise ValueError(f"feeder drive {drive} outside 0..1")
    return int(round(drive * 1000.0))


def split_u32(value: int) -> list[int]:
    value %= ENCODER_WRAP
    return [value >> 16, value & 0xFFFF]


def join_u32(words: list[int]) -> int:
    if len(words) != 2 or not all(0 <= w <= 0xFFFF for w in words):
        raise ValueError(f"expected two 16-bit words, got {words}")
    return (words[0] << 16) | words[1]


class EncoderUnwrapper:
    """Turns a wrapping 32-bit count into a monotonic position in metres."""

    def __init__(self, count_m: float) -> None:
        self.count_m = count_m
        self._last: int | None = None
        self._turns = 0

    def position_m(self, count: int) -> float:
        if self._last is not None and count < self._last and self._last - count > ENCODER_WRAP // 2:
            self._turns += 1
        self._last = count
        return (self._turns * ENCODER_WRAP + count) * self.count_m


class ModbusIO:
    """A thread-safe Modbus TCP client with the cell's register map. Every call raises
    ConnectionError with the reason when the peer does not answer, so a node can fail safe."""

    def __init__(self, registers: RegisterMap) -> None:
        from pymodbus.client import ModbusTcpClient

        self.map = registers
        self._client = ModbusTcpClient(
            registers.host, port=registers.port, timeout=registers.timeout_s, retries=0
        )
        self._lock = threading.Lock()

    def connect(self) -> None:
        with self._lock:
            if not self._client.connect():
                raise ConnectionError(
                    f"no Modbus TCP peer at {self.map.host}:{self.map.port}"
                )

    def close(self) -> None:
        with self._lock:
            self._client.close()

    def _checked(self, result: Any, what: str) -> Any:
        if result is None or result.isError():
            raise ConnectionError(f"Modbus {what} failed: {result}")
        return result

    def write(self, address: int, values: list[int], what: str) -> None:
        from pymodbus.exceptions import ModbusException

        with self._lock:
            try:
                result = self._client.write_registers(
                    address, values, device_id=self.map.device_id
                )
            except ModbusException as err:
                raise ConnectionError(f"Modbus {what} failed: {err}") from err
            self._checked(result, what)

    def read_input(self, address: int, count: int, what: str) -> list[int]:
        from pymodbus.exceptions import ModbusException

        with self._lock:
            try:
                result = self._client.read_input_registers(
                    address, count=count, device_id=self.map.device_id
                )
            except ModbusException as err:
                raise ConnectionError(f"Modbus {what} failed: {err}") from err
            return list(self._checked(result, what).registers)

    # -- the cell's signals -------------------------------------------------------------------
    def set_belt(self, speed_m_s: float) -> None:
        self.write(self.map.belt_speed_setpoint_register, [speed_to_register(speed_m_s)],
                   "belt speed write")
        self.write(self.map.belt_run_register, [1 if speed_m_s > 0 else 0], "belt run write")

    def set_feeder_drive(self, drive: float) -> None:
        self.write(self.map.feeder_drive_register, [drive_to_register(drive)],
                   "feeder drive write")

    def read_encoder_count(self) -> int:
        return join_u32(self.read_input(self.map.encoder_count_register, 2, "encoder read"))
