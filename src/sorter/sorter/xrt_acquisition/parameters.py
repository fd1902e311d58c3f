"""Parameters of the `xrt_acquisition` node, declared once (see sorter.common.params)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sorter.common.params import NodeParameters, param

DRIVER_CHOICES = ("sim",)


@dataclass(frozen=True, kw_only=True)
class XrtAcquisitionParameters(NodeParameters):
    NODE: ClassVar[str] = "xrt_acquisition"

    driver: str = param("detector driver (sim: sim_world's line-scan detector)", default="sim",
                        choices=DRIVER_CHOICES, read_only=True)
    pixels: int = param("detector pixels across the belt", cell="detector.pixels", min=1,
                        max=16384, read_only=True)
    pixel_pitch_m: float = param("detector pixel pitch [m]", cell="detector.pixel_pitch_m",
                                 min=1e-5, max=0.01, read_only=True)
    lines_per_strip: int = param("lines per strip", cell="detector.lines_per_strip", min=1,
                                 max=4096, read_only=True)
    reference_lines: int = param("lines averaged for the dark and flat references (taken at "
                                 "configure)", default=256, min=8, max=100000)
