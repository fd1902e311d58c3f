"""Which processes make up the cell, in start order, with their parameters: derived from the
cell description, and shared by launch/cell.launch.py and the project's own launcher."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sorter.cell.parameters import node_parameters

# (node name = executable name, lifecycle?) in the order they are configured and activated:
# the belt must run, the detector be calibrated and the ejector armed before the feeder puts
# the first particle on the belt, so the feeder comes last.
CELL_NODES: tuple[tuple[str, bool], ...] = (
    ("belt", True),
    ("xrt_acquisition", True),
    ("segmentation", False),
    ("classification", False),
    ("size_estimation", False),
    ("ejector", True),
    ("cell_monitor", False),
    ("feeder", True),
)
SIM_NODE = "sim_world"

# The particle path (topic, publisher, subscriber): all of it must be connected before the
# feeder, the last lifecycle node, starts putting particles on the belt.
CELL_EDGES: tuple[tuple[str, str, str], ...] = (
    ("sim/xrt/raw", SIM_NODE, "xrt_acquisition"),
    ("xrt/strip", "xrt_acquisition", "segmentation"),
    ("particles/segmented", "segmentation", "classification"),
    ("particles/classified", "classification", "size_estimation"),
    ("particles/measured", "size_estimation", "ejector"),
    ("belt/state", "belt", "ejector"),
    ("sim/valves/command", "ejector", SIM_NODE),
    ("belt/occupancy", "segmentation", "feeder"),
    ("sim/feeder/drive", "feeder", SIM_NODE),
)


@dataclass(frozen=True)
class NodeSpec:
    name: str
    executable: str
    lifecycle: bool
    parameters: dict[str, Any] = field(default_factory=dict)


def cell_node_specs(
    cell: dict, driver: str = "sim", simulate: bool = True, seed: int | None = None
) -> list[NodeSpec]:
    params = node_parameters(cell, driver=driver)
    specs = []
    if simulate:
        specs.append(
            NodeSpec(
                SIM_NODE,
                SIM_NODE,
                False,
                {
                    "cell_file": cell["_source"],
                    "seed": int(cell["feed"]["seed"] if seed is None else seed),
                },
            )
        )
    specs += [NodeSpec(name, name, lifecycle, params[name]) for name, lifecycle in CELL_NODES]
    return specs
