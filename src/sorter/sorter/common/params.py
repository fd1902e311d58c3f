"""Node parameters declared once (the generate_parameter_library idea, in plain Python).

Each node has one parameters class (`sorter.<node>.parameters`): a frozen dataclass whose
fields are the node's parameters, each declared with `param(...)`: type (the annotation),
description, where its value comes from in the cell description (`cell="belt.speed_m_s"`) or
its default, range or choices, and whether it is read-only. Everything else is derived from
that one declaration:

- the ROS declarations and descriptors (read-only honoured) and the on-set validation
  (`sorter.common.ros_parameters`);
- the cell -> node parameter mapping and the cell's required keys (`sorter.cell`);
- docs/nodes.md (`sorter.launching.node_docs`);
- the typed object the node and its builders read (`self.params.r_scale`).

No ROS import here: the launchers, the reports and the tests use the schema offline.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar


class _Required:
    """The default of a parameter that must be given (by the cell or the launcher)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

_TYPE_NAMES = {float: "double", int: "integer", bool: "bool", str: "string", list: "double[]"}

P = TypeVar("P", bound="NodeParameters")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: what it is, where its value comes from, what it may be."""

    name: str
    type: type  # float, int, bool, str, or list (a list of doubles)
    description: str
    default: Any = REQUIRED
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False  # fixed for the life of the process (geometry, detector size)
    min_length: int = 0  # for lists
    cell: str | None = None  # "section.key" in the cell description that gives the value
    from_cell: Callable[[Any], Any] | None = None  # reshapes the cell's value (e.g. flatten)
    launch_argument: str | None = None  # value given by the launcher (e.g. driver)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES[self.type]

    def validate(self, value: Any) -> str | None:
        """Return why `value` is not acceptable, or None."""
        kind = self.type_name
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
                if isinstance(item, bool) or not isinstance(item, (int, float)):
                    return f"{self.name} must be a list of doubles, got item {item!r}"
                problem = self._check_number(float(item))
                if problem:
                    return problem
            return None
        raise TypeError(f"unsupported parameter type {self.type}")

    def coerce(self, value: Any) -> Any:
        """A valid value in the form the node keeps (ints stay ints, lists become float lists,
        an integer given for a double becomes a float)."""
        if self.type is list:
            return [float(v) for v in value]
        if self.type is float:
            return float(value)
        return value

    def value_from_cell(self, cell: Mapping[str, Any]) -> Any:
        """This parameter's value in `cell` (the parameter must name a cell fact)."""
        if self.cell is None:
            raise KeyError(f"{self.name} is not given by the cell description")
        section, _, key = self.cell.partition(".")
        value = cell[section][key]
        if self.from_cell is not None:
            value = self.from_cell(value)
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # YAML writes 2 for 2.0; the parameter is a double
        if self.type is list:
            value = [float(v) for v in value]
        return value

    def _check_number(self, value: float) -> str | None:
        if not math.isfinite(value):
            return f"{self.name} must be finite, got {value}"
        if self.min is not None and value < self.min:
            return f"{self.name}={value} is below its minimum {self.min}"
        if self.max is not None and value > self.max:
            return f"{self.name}={value} is above its maximum {self.max}"
        return None


def param(
    description: str,
    *,
    cell: str | None = None,
    default: Any = REQUIRED,
    min: float | None = None,  # noqa: A002 - the schema's vocabulary
    max: float | None = None,  # noqa: A002
    choices: tuple[str, ...] | None = None,
    read_only: bool = False,
    min_length: int = 0,
    from_cell: Callable[[Any], Any] | None = None,
    launch_argument: str | None = None,
) -> Any:
    """Declare one field of a `NodeParameters` class (type from the annotation, name from the
    field). A parameter without `cell` or `launch_argument` needs a default."""
    if cell is None and launch_argument is None and default is REQUIRED:
        raise TypeError(f"parameter '{description}' needs a cell path, a launch argument or "
                        "a default")
    meta = {
        "description": description, "cell": cell, "min": min, "max": max, "choices": choices,
        "read_only": read_only, "min_length": min_length, "from_cell": from_cell,
        "launch_argument": launch_argument, "default": default,
    }
    if default is REQUIRED:
        return dataclasses.field(metadata={"sorter": meta})
    if isinstance(default, list):
        frozen = tuple(default)
        return dataclasses.field(default_factory=lambda: list(frozen), metadata={"sorter": meta})
    return dataclasses.field(default=default, metadata={"sorter": meta})


_ANNOTATION_TYPES: dict[Any, type] = {float: float, int: int, bool: bool, str: str}


def _spec_type(annotation: Any, name: str) -> type:
    if annotation in _ANNOTATION_TYPES:
        return _ANNOTATION_TYPES[annotation]
    if typing.get_origin(annotation) is list and typing.get_args(annotation) == (float,):
        return list
    raise TypeError(f"parameter {name}: unsupported type {annotation!r} "
                    "(float, int, bool, str or list[float])")


@dataclass(frozen=True, kw_only=True)
class NodeParameters:
    """Base of every node's parameters class. Subclasses are frozen kw-only dataclasses whose
    fields are declared with `param(...)`."""

    NODE: ClassVar[str] = ""

    @classmethod
    def specs(cls) -> tuple[ParamSpec, ...]:
        cached = cls.__dict__.get("_specs_cache")
        if cached is not None:
            return typing.cast(tuple[ParamSpec, ...], cached)
        hints = typing.get_type_hints(cls)
        specs = []
        for f in dataclasses.fields(cls):
            meta = dict(f.metadata["sorter"])
            specs.append(ParamSpec(name=f.name, type=_spec_type(hints[f.name], f.name), **meta))
        result = tuple(specs)
        cls._specs_cache = result  # type: ignore[attr-defined]  # per-class cache
        return result

    @classmethod
    def spec(cls, name: str) -> ParamSpec:
        for spec in cls.specs():
            if spec.name == name:
                return spec
        raise KeyError(f"{cls.NODE or cls.__name__} has no parameter {name}")

    def check(self) -> None:
        """Rules that span fields or belong to the node's core (a curve's shape, a set-point
        under its limit): raise ValueError with the reason. The node applies the same core
        at run time; this lets the launchers refuse a bad set before anything starts."""

    @classmethod
    def problems(cls, values: Mapping[str, Any]) -> list[str]:
        """Everything wrong with a whole parameter set, one line each."""
        problems = validate_values(cls.specs(), values)
        if problems:
            return problems
        try:
            cls._build(values).check()
        except ValueError as err:
            return [str(err)]
        return []

    @classmethod
    def _build(cls: type[P], values: Mapping[str, Any]) -> P:
        kwargs = {s.name: s.coerce(values[s.name]) for s in cls.specs() if s.name in values}
        return cls(**kwargs)

    @classmethod
    def from_values(cls: type[P], values: Mapping[str, Any]) -> P:
        """The typed parameters from a parameter set (e.g. a params file's node section);
        a ValueError lists every problem."""
        problems = cls.problems(values)
        if problems:
            raise ValueError(f"{cls.NODE or cls.__name__}: " + "; ".join(problems))
        return cls._build(values)

    @classmethod
    def values_from_cell(cls, cell: Mapping[str, Any],
                         launch: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The node's parameter set derived from the cell description (and launch arguments,
        e.g. driver): what goes in the params file. Parameters with a default and no source
        are left out (the node's default applies)."""
        launch = launch or {}
        values: dict[str, Any] = {}
        for spec in cls.specs():
            if spec.cell is not None:
                values[spec.name] = spec.value_from_cell(cell)
            elif spec.launch_argument is not None and spec.launch_argument in launch:
                values[spec.name] = launch[spec.launch_argument]
        return values

    def replace(self: P, **changes: Any) -> P:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def validate_values(specs: Sequence[ParamSpec], values: Mapping[str, Any]) -> list[str]:
    """Check a whole parameter set offline (used by the launchers and the tests)."""
    problems = []
    by_name = {spec.name: spec for spec in specs}
    for name in values:
        if name not in by_name:
            problems.append(f"unknown parameter {name}")
    for spec in specs:
        if spec.name not in values:
            if spec.required:
                problems.append(f"missing parameter {spec.name}")
            continue
        problem = spec.validate(values[spec.name])
        if problem:
            problems.append(problem)
    return problems


def flatten_pairs(points: Sequence[Sequence[float]]) -> list[float]:
    """[[x0, y0], [x1, y1], ...] -> [x0, y0, x1, y1, ...]: a curve as a double[] parameter."""
    return [float(v) for point in points for v in point]
