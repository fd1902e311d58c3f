"""Parameters of the `cell_monitor` node, declared once (see sorter.common.params)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sorter.common.params import NodeParameters, param


@dataclass(frozen=True, kw_only=True)
class CellMonitorParameters(NodeParameters):
    NODE: ClassVar[str] = "cell_monitor"

    window_s: float = param("rolling window for rates [s]", cell="monitor.window_s", min=0.5,
                            max=3600.0)
    publish_rate_hz: float = param("cell/metrics rate [Hz]", cell="monitor.publish_rate_hz",
                                   min=0.1, max=50.0, read_only=True)
