"""Parameters of the `belt` node, declared once (see sorter.common.params)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sorter.belt.core import SpeedCommandLimiter
from sorter.common.modbus_parameters import ModbusParameters
from sorter.common.params import param

DRIVER_CHOICES = ("sim", "modbus")


@dataclass(frozen=True, kw_only=True)
class BeltParameters(ModbusParameters):
    NODE: ClassVar[str] = "belt"

    driver: str = param("belt drive driver: sim (sim_world) or modbus (VFD over Modbus TCP)",
                        launch_argument="driver", default="sim", choices=DRIVER_CHOICES,
                        read_only=True)
    speed_setpoint_m_s: float = param("belt speed set-point [m/s]; at most max_speed_m_s",
                                      cell="belt.speed_m_s", min=0.0, max=10.0)
    max_speed_m_s: float = param("drive limit [m/s]", cell="belt.max_speed_m_s", min=0.1,
                                 max=10.0, read_only=True)
    state_rate_hz: float = param("belt/state publication rate [Hz]", cell="belt.state_rate_hz",
                                 min=1.0, max=2000.0, read_only=True)
    speed_window_s: float = param("encoder window for the speed estimate [s]", default=0.05,
                                  min=0.005, max=1.0)

    def check(self) -> None:
        """The drive limit refuses (does not clamp) a set-point above it."""
        SpeedCommandLimiter(self.max_speed_m_s).validate(self.speed_setpoint_m_s)
