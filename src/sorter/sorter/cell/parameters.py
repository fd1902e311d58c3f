"""Node parameters derived from the cell description. Which cell fact feeds which parameter is
said once, in each node's parameters class (`cell="section.key"`); this module only walks the
node registry, so both launchers, `sorter params` and the offline tools cannot disagree."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

from sorter.common.params import NodeParameters
from sorter.nodes import ALL_NODES, BY_NAME, CELL_NODES


def parameters_class(node_name: str) -> type[NodeParameters]:
    """The parameters class of a node (its `sorter.<node>.parameters` module, ROS-free)."""
    info = BY_NAME[node_name]
    module = importlib.import_module(info.parameters_module)
    classes = [v for v in vars(module).values()
               if isinstance(v, type) and issubclass(v, NodeParameters)
               and getattr(v, "NODE", "") == node_name]
    if len(classes) != 1:
        raise LookupError(f"{info.parameters_module} must define one parameters class for "
                          f"{node_name}, found {len(classes)}")
    return classes[0]


def node_parameters(cell: dict, driver: str = "sim") -> dict[str, dict[str, Any]]:
    """Parameters per cell node, as a ROS params file holds them (`ros__parameters` omitted).
    `driver` selects the drivers of the nodes that offer it (belt and feeder: sim | modbus);
    a node whose driver choices do not include it keeps its own default."""
    out = {}
    for info in CELL_NODES:
        cls = parameters_class(info.name)
        launch = {}
        for spec in cls.specs():
            if spec.launch_argument == "driver" and spec.choices and driver in spec.choices:
                launch["driver"] = driver
        out[info.name] = cls.values_from_cell(cell, launch)
    return out


def typed_parameters(cell: dict, driver: str = "sim") -> dict[str, Any]:
    """The typed parameters of every cell node as the cell describes them (offline replay,
    bench): the same objects the nodes build from their params file."""
    return {name: parameters_class(name).from_values(values)
            for name, values in node_parameters(cell, driver).items()}


def validate_node_parameters(params: dict[str, dict[str, Any]]) -> list[str]:
    """Every problem in a whole parameter set, `node: problem` each: the launchers refuse to
    start anything while this is not empty."""
    problems = []
    for name, values in params.items():
        problems += [f"{name}: {p}" for p in parameters_class(name).problems(values)]
    return problems


def cell_paths() -> set[str]:
    """Every `section.key` of the cell some node parameter is derived from."""
    return {spec.cell for info in ALL_NODES for spec in parameters_class(info.name).specs()
            if spec.cell}


def write_params_file(params: dict[str, dict[str, Any]], path: Path) -> Path:
    """A ROS 2 parameters file keyed by node name (the nav2 layout)."""
    body = {name: {"ros__parameters": values} for name, values in params.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path
