"""Parameters declared once, with type, range and description (the generate_parameter_library
idea, in plain Python). Each node lists its `ParamSpec`s; values come from the cell description
(sorter.cell) through the parameter file, so cell facts have no defaults in code. Every set is
validated, at start and at run time, and a bad value is refused with the reason."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

REQUIRED = object()

_TYPE_NAMES = {float: "double", int: "integer", bool: "bool", str: "string", list: "double[]"}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: type  # float, int, bool, str, or list (a list of doubles)
    description: str
    default: Any = REQUIRED
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False  # fixed once configured (geometry, detector size)
    min_length: int = 0  # for lists

    def validate(self, value: Any) -> str | None:
        """Return why `value` is not acceptable, or None."""
        kind = _TYPE_NAMES[self.type]
        if self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{self.name} must be a {kind}, got {value!r}"
            return self._check_number(float(value))
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{self.name} must be an {kind}, got {value!r}"
            return self._check_number(value)
        if self.type is bool:
            return None if isinstance(value, bool) else f"{self.name} must be a bool, got {value!r}"
        if self.type is str:
            if not isinstance(value, str):
                return f"{self.name} must be a string, got {value!r}"
            if self.choices is not None and value not in self.choices:
                return f"{self.name} must be one of {list(self.choices)}, got {value!r}"
            return None
        if self.type is list:
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
                return f"{self.name} must be a list of doubles, got {value!r}"
            if len(value) < self.min_length:
                return f"{self.name} needs at least {self.min_length} values, got {len(value)}"
            for item in value:
                problem = self._check_number(float(item))
                if problem:
                    return problem
            return None
        raise TypeError(f"unsupported parameter type {self.type}")

    def _check_number(self, value: float) -> str | None:
        if not math.isfinite(value):
            return f"{self.name} must be finite, got {value}"
        if self.min is not None and value < self.min:
            return f"{self.name}={value} is below its minimum {self.min}"
        if self.max is not None and value > self.max:
            return f"{self.name}={value} is above its maximum {self.max}"
        return None


def validate_values(specs: Iterable[ParamSpec], values: dict[str, Any]) -> list[str]:
    """Check a whole parameter set offline (used by the launchers and the tests)."""
    problems = []
    by_name = {spec.name: spec for spec in specs}
    for name in values:
        if name not in by_name:
            problems.append(f"unknown parameter {name}")
    for spec in by_name.values():
        if spec.name not in values:
            if spec.default is REQUIRED:
                problems.append(f"missing parameter {spec.name}")
            continue
        problem = spec.validate(values[spec.name])
        if problem:
            problems.append(problem)
    return problems


def declare_parameters(node: Any, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Declare `specs` on an rclpy node, validate the values it was started with, and install a
    set-callback that refuses invalid or read-only changes. Returns the current values."""
    from rcl_interfaces.msg import (
        FloatingPointRange,
        IntegerRange,
        ParameterDescriptor,
        SetParametersResult,
    )
    from rclpy.exceptions import ParameterUninitializedException
    from rclpy.parameter import Parameter

    ros_types = {
        float: Parameter.Type.DOUBLE,
        int: Parameter.Type.INTEGER,
        bool: Parameter.Type.BOOL,
        str: Parameter.Type.STRING,
        list: Parameter.Type.DOUBLE_ARRAY,
    }
    by_name = {spec.name: spec for spec in specs}
    problems: list[str] = []
    for spec in specs:
        descriptor = ParameterDescriptor(
            name=spec.name,
            type=ros_types[spec.type].value,
            description=spec.description,
            read_only=False,  # read-only is enforced by our callback after configure
        )
        if spec.choices:
            descriptor.additional_constraints = f"one of {list(spec.choices)}"
        if spec.type is float and spec.min is not None and spec.max is not None:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max), step=0.0)
            ]
        if spec.type is int and spec.min is not None and spec.max is not None:
            descriptor.integer_range = [
                IntegerRange(from_value=int(spec.min), to_value=int(spec.max), step=0)
            ]
        if spec.default is REQUIRED:
            try:
                node.declare_parameter(spec.name, ros_types[spec.type], descriptor)
            except ParameterUninitializedException:
                problems.append(
                    f"parameter {spec.name} is not set ({spec.description}); start the node "
                    "with the parameters derived from the cell description (sorter params)"
                )
        else:
            node.declare_parameter(spec.name, spec.default, descriptor)

    if problems:
        raise ValueError("; ".join(problems))
    values: dict[str, Any] = {}
    for spec in specs:
        param = node.get_parameter(spec.name)
        if param.type_ == Parameter.Type.NOT_SET:
            problems.append(
                f"parameter {spec.name} is not set ({spec.description}); start the node with "
                "the parameters derived from the cell description (sorter params)"
            )
            continue
        value = param.value
        if spec.type is list:
            value = [float(v) for v in value]
        problem = spec.validate(value)
        if problem:
            problems.append(problem)
        values[spec.name] = value
    if problems:
        raise ValueError("; ".join(problems))

    def on_set(params: list[Any]) -> Any:
        for param in params:
            spec = by_name.get(param.name)
            if spec is None:
                continue
            if spec.read_only:
                return SetParametersResult(
                    successful=False, reason=f"{spec.name} is fixed by the cell description"
                )
            value = param.value
            if spec.type is list and value is not None:
                value = [float(v) for v in value]
            problem = spec.validate(value)
            if problem:
                node.get_logger().warning(f"refused parameter change: {problem}")
                return SetParametersResult(successful=False, reason=problem)
        for param in params:
            if param.name in by_name:
                value = param.value
                values[param.name] = list(value) if by_name[param.name].type is list else value
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return values
