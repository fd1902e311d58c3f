"""Parameters of the `feeder` node, declared once (see sorter.common.params)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sorter.common.modbus_parameters import ModbusParameters
from sorter.common.params import param
from sorter.feeder.core import FeederConfig

DRIVER_CHOICES = ("sim", "modbus")


@dataclass(frozen=True, kw_only=True)
class FeederParameters(ModbusParameters):
    NODE: ClassVar[str] = "feeder"

    driver: str = param("feeder driver: sim (sim_world) or modbus (controller over Modbus TCP)",
                        launch_argument="driver", default="sim", choices=DRIVER_CHOICES,
                        read_only=True)
    feed_rate_kg_h: float = param("mass flow set-point [kg/h]; at most max_feed_rate_kg_h",
                                  cell="feeder.feed_rate_kg_h", min=0.0, max=1e6)
    max_feed_rate_kg_h: float = param("mass flow at full drive [kg/h]",
                                      cell="feeder.max_feed_rate_kg_h", min=1.0, max=1e6,
                                      read_only=True)
    occupancy_limit: float = param("belt area fraction above which the occupancy ceiling "
                                   "throttles the drive (feeder/status throttled, WARN)",
                                   cell="feeder.occupancy_limit", min=0.01, max=1.0)
    kp: float = param("proportional gain [drive per relative error]", cell="feeder.kp",
                      min=0.0, max=10.0)
    ki: float = param("integral gain [drive per relative error second]", cell="feeder.ki",
                      min=0.0, max=10.0)
    control_rate_hz: float = param("control loop rate [Hz]", cell="feeder.control_rate_hz",
                                   min=0.5, max=200.0, read_only=True)
    saturation_fault_s: float = param(
        "drive at full with the flow still short this long is a fault: feeder/status "
        "saturated, ERROR on /diagnostics [s]", cell="feeder.saturation_fault_s", min=0.5,
        max=600.0)
    flow_filter_time_constant_s: float = param("low-pass on the measured mass flow [s]",
                                               default=1.0, min=0.01, max=60.0)

    def feeder_config(self) -> FeederConfig:
        """The loop configuration (FeederConfig refuses a set-point above the maximum)."""
        return FeederConfig(feed_rate_kg_h=self.feed_rate_kg_h,
                            max_feed_rate_kg_h=self.max_feed_rate_kg_h,
                            occupancy_limit=self.occupancy_limit, kp=self.kp, ki=self.ki,
                            saturation_fault_s=self.saturation_fault_s)

    def check(self) -> None:
        self.feeder_config()
