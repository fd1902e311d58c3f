"""The `io` facts a Modbus driver needs, declared once for every node that may run one (the
belt drive and the feeder controller): the parameters of both nodes inherit these."""

from __future__ import annotations

from dataclasses import dataclass

from sorter.common.params import NodeParameters, param


@dataclass(frozen=True, kw_only=True)
class ModbusParameters(NodeParameters):
    modbus_host: str = param("Modbus TCP peer address (driver=modbus)", cell="io.modbus_host",
                             read_only=True)
    modbus_port: int = param("Modbus TCP port", cell="io.modbus_port", min=1, max=65535,
                             read_only=True)
    modbus_device_id: int = param("Modbus unit id", cell="io.modbus_device_id", min=0, max=255,
                                  read_only=True)
    belt_speed_setpoint_register: int = param(
        "holding register, belt speed [mm/s]", cell="io.belt_speed_setpoint_register",
        min=0, max=65535, read_only=True)
    belt_run_register: int = param("holding register, belt run 0/1", cell="io.belt_run_register",
                                   min=0, max=65535, read_only=True)
    feeder_drive_register: int = param(
        "holding register, feeder drive [per mille]", cell="io.feeder_drive_register",
        min=0, max=65535, read_only=True)
    encoder_count_register: int = param(
        "input registers (2), encoder count uint32", cell="io.encoder_count_register",
        min=0, max=65534, read_only=True)
    encoder_count_m: float = param("belt travel per encoder count [m]", cell="io.encoder_count_m",
                                   min=1e-7, max=0.1, read_only=True)
    poll_rate_hz: float = param("encoder reads per second", cell="io.poll_rate_hz", min=1.0,
                                max=1000.0, read_only=True)
