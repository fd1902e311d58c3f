"""Parameters of the `sim_world` node, declared once (see sorter.common.params). The world
itself is read from the cell description file it is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sorter.common.params import NodeParameters, param


@dataclass(frozen=True, kw_only=True)
class SimWorldParameters(NodeParameters):
    NODE: ClassVar[str] = "sim_world"

    cell_file: str = param("cell description YAML; empty: the repository's or installed "
                           "config/cell.yaml", launch_argument="cell_file", default="",
                           read_only=True)
    seed: int = param("world seed; -1 uses the cell's feed.seed", launch_argument="seed",
                      default=-1, min=-1, max=2**31 - 1, read_only=True)
