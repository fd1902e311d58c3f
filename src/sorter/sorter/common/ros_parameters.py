"""A node's parameters class bound to rclpy: declarations with full descriptors (read-only,
ranges, choices), the start-up check, and a set callback that applies a change or refuses it.

A change is applied as one step: the new typed parameters are built, the node's `apply`
builds whatever depends on them (a classifier, a scheduler, a drive command) and installs it;
only then is the set reported successful. If `apply` raises ValueError the set is refused with
that reason and nothing changed, so `ros2 param get` never shows a value that is not in use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import ParameterUninitializedException
from rclpy.parameter import Parameter

from sorter.common.params import NodeParameters, ParamSpec

P = TypeVar("P", bound=NodeParameters)

ROS_TYPES = {
    float: Parameter.Type.DOUBLE,
    int: Parameter.Type.INTEGER,
    bool: Parameter.Type.BOOL,
    str: Parameter.Type.STRING,
    list: Parameter.Type.DOUBLE_ARRAY,
}

START_HINT = ("start the node with the parameters derived from the cell description "
              "(`sorter params` prints them)")


def descriptor_for(spec: ParamSpec) -> ParameterDescriptor:
    """The ROS descriptor `ros2 param describe` shows: type, description, read-only, range."""
    descriptor = ParameterDescriptor(
        name=spec.name,
        type=ROS_TYPES[spec.type].value,
        description=spec.description + (f" (cell: {spec.cell})" if spec.cell else ""),
        read_only=spec.read_only,
    )
    constraints = []
    if spec.choices:
        constraints.append(f"one of {list(spec.choices)}")
    if spec.type is list and spec.min_length:
        constraints.append(f"at least {spec.min_length} values")
    if spec.type is list and (spec.min is not None or spec.max is not None):
        constraints.append(f"each value in [{spec.min}, {spec.max}]")
    descriptor.additional_constraints = "; ".join(constraints)
    if spec.type is float and spec.min is not None and spec.max is not None:
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max), step=0.0)
        ]
    if spec.type is int and spec.min is not None and spec.max is not None:
        descriptor.integer_range = [
            IntegerRange(from_value=int(spec.min), to_value=int(spec.max), step=0)
        ]
    return descriptor


def bind_parameters(
    node: Any,
    cls: type[P],
    apply: Callable[[P], None] | None = None,
    on_refused: Callable[[str], None] | None = None,
) -> P:
    """Declare `cls`'s parameters on `node`, check the values it was started with, call
    `apply` with them, and keep `node.params` current on every accepted set.

    Raises ValueError naming every problem when the start values are missing or invalid or
    `apply` refuses them (the node cannot start: run_node says why and exits 1).
    `on_refused(reason)` is told of each refused runtime change (the node counts it)."""
    specs = cls.specs()
    by_name = {spec.name: spec for spec in specs}
    problems: list[str] = []
    values: dict[str, Any] = {}
    for spec in specs:
        descriptor = descriptor_for(spec)
        not_set = f"parameter {spec.name} is not set ({spec.description}); " + START_HINT
        try:
            if spec.required:
                node.declare_parameter(spec.name, ROS_TYPES[spec.type], descriptor)
            else:
                node.declare_parameter(spec.name, spec.default, descriptor)
        except ParameterUninitializedException:
            problems.append(not_set)
            continue
        param = node.get_parameter(spec.name)
        if param.type_ == Parameter.Type.NOT_SET:
            problems.append(not_set)
            continue
        value = param.value
        if spec.type is list:
            value = [float(v) for v in value]
        values[spec.name] = value
    if problems:
        raise ValueError("; ".join(problems))
    params = cls.from_values(values)
    if apply is not None:
        apply(params)
    node.params = params

    def on_set(changed: list[Parameter]) -> SetParametersResult:
        updates: dict[str, Any] = {}
        for item in changed:
            spec = by_name.get(item.name)
            if spec is None:
                continue  # use_sim_time and other rclpy parameters
            value = item.value
            if spec.type is list and value is not None:
                value = [float(v) for v in value]
            problem = spec.validate(value)
            if problem:
                return _refuse(node, problem, on_refused)
            updates[spec.name] = spec.coerce(value)
        if not updates:
            return SetParametersResult(successful=True)
        candidate = node.params.replace(**updates)
        if apply is not None:
            try:
                apply(candidate)
            except ValueError as err:
                names = ", ".join(sorted(updates))
                return _refuse(node, f"{names} refused: {err}", on_refused)
        node.params = candidate
        node.get_logger().info(
            "parameters applied: " + ", ".join(f"{k}={v}" for k, v in updates.items())
        )
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return params


def _refuse(node: Any, reason: str, on_refused: Callable[[str], None] | None
            ) -> SetParametersResult:
    node.get_logger().warning(f"refused parameter change: {reason}")
    if on_refused is not None:
        on_refused(reason)
    return SetParametersResult(successful=False, reason=reason)


def set_parameter(node: Any, name: str, value: Any) -> None:
    """Every set-point path (topic, service, `ros2 param set`) goes through the parameter, so
    it is validated and applied once and always visible; a refusal is a ValueError with the
    reason."""
    spec = type(node.params).spec(name)
    result = node.set_parameters([Parameter(name, ROS_TYPES[spec.type], spec.coerce(value))])[0]
    if not result.successful:
        raise ValueError(result.reason)
