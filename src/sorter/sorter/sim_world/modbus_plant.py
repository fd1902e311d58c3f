"""A belt drive and feeder controller that speak Modbus TCP: the protocol peer the Modbus
drivers are tested against on loopback (and a stand-in for a VFD on a bench). The drive model
is the simulator's own (sorter.sim_world.belt_motion.BeltDrive: ramp-limited speed, exact encoder),
and the register map comes from the cell description's `io` section.

    python -m sorter.sim_world.modbus_plant [--cell config/cell.yaml] [--port N]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from typing import Any

from sorter.cell.description import load_cell
from sorter.common.modbus import split_u32
from sorter.sim_world.belt_motion import BeltDrive

REGISTERS = 256


class ModbusPlant:
    """Registers <-> drive model, on one shared register block (holding and input registers
    alike). Each request first advances the drive to the wall-clock time it arrives, so the
    encoder a client reads is where the belt is at that moment."""

    def __init__(self, cell: dict, port: int | None = None, host: str | None = None) -> None:
        from pymodbus.simulator import DataType, SimData, SimDevice

        io, belt = cell["io"], cell["belt"]
        self.io = io
        self.host = host or io["modbus_host"]
        self.port = int(port if port is not None else io["modbus_port"])
        self.drive = BeltDrive(float(belt["acceleration_m_s2"]), float(belt["max_speed_m_s"]))
        self.t_s = time.monotonic()
        self.feeder_drive = 0.0
        self.holding: dict[int, int] = {}
        self.writes = 0
        self.refused_writes = 0
        self._lock = threading.Lock()
        self.device = SimDevice(
            id=int(io["modbus_device_id"]),
            simdata=[SimData(0, count=REGISTERS, values=0, datatype=DataType.REGISTERS)],
            action=self._action,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], set_values: list[int] | list[bool] | None
                      ) -> None:
        with self._lock:
            self._advance()
            if set_values is not None:
                self.writes += 1
                for i, value in enumerate(set_values):
                    self.holding[address + i] = int(value)
                self._apply_holding()
            count_register = int(self.io["encoder_count_register"]) - start_address
            count = int(self.drive.position / float(self.io["encoder_count_m"]))
            registers[count_register:count_register + 2] = split_u32(count)
        return None

    def _apply_holding(self) -> None:
        run = self.holding.get(int(self.io["belt_run_register"]), 0)
        speed = self.holding.get(int(self.io["belt_speed_setpoint_register"]), 0) / 1000.0
        try:
            self.drive.set_command(speed if run else 0.0)
        except ValueError:  # beyond the drive's limit: a VFD ignores it and keeps the last
            self.refused_writes += 1
        self.feeder_drive = self.holding.get(int(self.io["feeder_drive_register"]), 0) / 1000.0

    def _advance(self) -> None:
        now = time.monotonic()
        if now > self.t_s:
            self.drive.advance(self.t_s, now - self.t_s)
            self.t_s = now

    @property
    def speed_m_s(self) -> float:
        with self._lock:
            self._advance()
            return self.drive.speed

    # -- server thread --------------------------------------------------------------------------
    def start(self, timeout_s: float = 5.0) -> None:
        from pymodbus.server import ModbusTcpServer

        ready = threading.Event()

        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._server = ModbusTcpServer(self.device, address=(self.host, self.port))
            await self._server.serve_forever(background=True)  # raises if the port is taken
            ready.set()
            await self._server.serving

        def serve() -> None:
            asyncio.run(run())

        self._thread = threading.Thread(target=serve, name="modbus-plant", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise RuntimeError("Modbus plant server did not start")

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5.0)
        if self._thread is not None:
            self._thread.join(timeout=5.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cell", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    plant = ModbusPlant(load_cell(args.cell), port=args.port)
    plant.start()
    print(f"Modbus plant on {plant.host}:{plant.port}; Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        plant.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
