"""Parameters of the `ejector` node, declared once (see sorter.common.params). The scheduling
parameters carry EjectorConfig's field names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from sorter.common.params import NodeParameters, param
from sorter.ejector.core import EjectorConfig

DRIVER_CHOICES = ("sim",)


@dataclass(frozen=True, kw_only=True)
class EjectorParameters(NodeParameters):
    NODE: ClassVar[str] = "ejector"

    driver: str = param("valve driver (sim: sim_world's valve controller)", default="sim",
                        choices=DRIVER_CHOICES, read_only=True)
    scan_to_nozzle_m: float = param("travel from scan line to nozzle line [m]",
                                    cell="geometry.scan_to_nozzle_m", min=0.01, max=10.0,
                                    read_only=True)
    valve_count: int = param("valves on the bar", cell="valves.count", min=1, max=1024,
                             read_only=True)
    valve_pitch_m: float = param("valve spacing [m]", cell="valves.pitch_m", min=1e-3, max=0.2,
                                 read_only=True)
    response_time_s: float = param("command -> air at the nozzle [s]",
                                   cell="valves.response_time_s", min=0.0, max=0.1)
    min_open_s: float = param("shortest pulse [s]", cell="valves.min_open_s", min=0.0005,
                              max=0.5)
    margin_m: float = param("air before/after the particle along travel [m]",
                            cell="valves.margin_m", min=0.0, max=0.1)
    command_margin_s: float = param("a command must reach the valves this early [s]",
                                    cell="valves.command_margin_s", min=0.0, max=1.0)
    eject: str = param("which class is blown out", cell="policy.eject", choices=("ore", "waste"))
    probability_threshold: float = param("P(ore) at which a particle counts as ore",
                                         cell="policy.probability_threshold", min=0.0, max=1.0)

    def ejector_config(self) -> EjectorConfig:
        """The scheduling parameters (same field names as EjectorConfig, which checks them)."""
        names = {f.name for f in dataclasses.fields(EjectorConfig)}
        return EjectorConfig(**{k: v for k, v in self.as_dict().items() if k in names})

    def check(self) -> None:
        self.ejector_config()
