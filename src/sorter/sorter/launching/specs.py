"""Which processes make up the cell, in start order, with their parameters: derived from the
node registry (`sorter.nodes`) and the cell description, and shared by launch/cell.launch.py
and the project's own launcher."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sorter.cell.parameters import node_parameters, parameters_class, validate_node_parameters
from sorter.nodes import CELL_NODES, SIM_WORLD, SUBSCRIBED_ON_ACTIVATE, particle_path


class ParameterSetError(ValueError):
    """The parameter set derived for the cell is invalid: nothing is started."""


@dataclass(frozen=True)
class NodeSpec:
    name: str
    executable: str
    lifecycle: bool
    parameters: dict[str, Any] = field(default_factory=dict)


def launch_driver_choices() -> tuple[str, ...]:
    """The drivers a launch may select: every choice a node's `driver` launch argument
    offers, in schema order (sim first)."""
    offered: list[str] = []
    for info in CELL_NODES:
        for spec in parameters_class(info.name).specs():
            if spec.launch_argument == "driver":
                offered += [c for c in (spec.choices or ()) if c not in offered]
    return tuple(offered)


def cell_node_specs(
    cell: dict, driver: str = "sim", simulate: bool = True, seed: int | None = None
) -> list[NodeSpec]:
    """The cell's processes with their parameters. Raises ParameterSetError naming every
    invalid value (e.g. a driver no node offers) before anything starts."""
    params = node_parameters(cell, driver=driver)
    offered = launch_driver_choices()
    problems = [] if driver in offered else [
        f"driver must be one of {list(offered)}, got {driver!r}"]
    specs = []
    if simulate:
        sim_values = parameters_class(SIM_WORLD.name).values_from_cell(
            cell, {"cell_file": cell["_source"],
                   "seed": int(cell["feed"]["seed"] if seed is None else seed)})
        params = {SIM_WORLD.name: sim_values, **params}
        specs.append(NodeSpec(SIM_WORLD.name, SIM_WORLD.name, SIM_WORLD.lifecycle, sim_values))
    problems += validate_node_parameters(params)
    if problems:
        raise ParameterSetError("invalid parameter set, nothing started: " + "; ".join(problems))
    specs += [NodeSpec(n.name, n.name, n.lifecycle, params[n.name]) for n in CELL_NODES]
    return specs


def particle_path_for(specs: list[NodeSpec], configured_only: bool = False
                      ) -> list[tuple[str, str, str]]:
    """The connections among the nodes `specs` start that the bring-up waits for: the nodes
    on a simulated driver also need their sim_world connections. `configured_only`: leave
    out those a driver makes only on activation (they cannot exist before it)."""
    names = {s.name for s in specs}
    sim_drivers = {s.name for s in specs if s.parameters.get("driver", "sim") == "sim"
                   and SIM_WORLD.name in names}
    edges = [e for e in particle_path(sim_drivers) if e[1] in names and e[2] in names]
    if configured_only:
        edges = [e for e in edges if (e[2], e[0]) not in SUBSCRIBED_ON_ACTIVATE]
    return edges
