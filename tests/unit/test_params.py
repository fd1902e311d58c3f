"""The parameter schema: one declaration gives validation, typed values, the cell mapping and
the descriptors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import pytest

from sorter.common.params import (
    REQUIRED,
    NodeParameters,
    ParamSpec,
    flatten_pairs,
    param,
    validate_values,
)

SPECS = [
    ParamSpec("speed", float, "m/s", min=0.0, max=7.0),
    ParamSpec("count", int, "n", min=1, max=10),
    ParamSpec("mode", str, "which", choices=("ore", "waste")),
    ParamSpec("curve", list, "pairs", min=0.0, max=5.0, min_length=2),
    ParamSpec("optional", float, "x", default=1.0),
]


@dataclass(frozen=True, kw_only=True)
class DemoParameters(NodeParameters):
    NODE: ClassVar[str] = "demo"

    speed: float = param("belt speed [m/s]", cell="belt.speed_m_s", min=0.0, max=7.0)
    curve: list[float] = param("curve", cell="cls.curve", from_cell=flatten_pairs,
                               min_length=2)
    driver: str = param("driver", launch_argument="driver", default="sim",
                        choices=("sim", "modbus"), read_only=True)
    window: float = param("window [s]", default=0.05, min=0.005)


def test_valid_set_passes() -> None:
    values = {"speed": 2.0, "count": 3, "mode": "ore", "curve": [0.0, 1.9]}
    assert validate_values(SPECS, values) == []


def test_each_kind_of_bad_value_is_named() -> None:
    problems = validate_values(
        SPECS, {"speed": math.nan, "count": 11, "mode": "gold", "curve": [1.0], "extra": 1}
    )
    text = "\n".join(problems)
    assert "speed must be finite" in text
    assert "count=11 is above its maximum 10" in text
    assert "mode must be one of ['ore', 'waste']" in text
    assert "curve needs at least 2 values" in text
    assert "unknown parameter extra" in text


def test_missing_required_and_wrong_types() -> None:
    assert SPECS[0].default is REQUIRED
    assert "missing parameter speed" in validate_values(SPECS, {"count": 1, "mode": "ore",
                                                                 "curve": [0, 1]})
    assert SPECS[1].validate(True) is not None  # a bool is not an integer here
    assert SPECS[0].validate("2") is not None
    assert SPECS[0].validate(-0.1) == "speed=-0.1 is below its minimum 0.0"
    assert SPECS[3].validate([0.0, "x"]) is not None


def test_schema_from_one_declaration() -> None:
    specs = {s.name: s for s in DemoParameters.specs()}
    assert specs["speed"].type is float and specs["speed"].cell == "belt.speed_m_s"
    assert specs["curve"].type is list and specs["curve"].min_length == 2
    assert specs["driver"].read_only and specs["driver"].default == "sim"
    assert specs["window"].default == 0.05 and not specs["window"].required


def test_values_from_cell_and_typed_object() -> None:
    cell = {"belt": {"speed_m_s": 2}, "cls": {"curve": [[0.1, 1.9], [1.0, 1.8]]}}
    values = DemoParameters.values_from_cell(cell, {"driver": "modbus"})
    assert values == {"speed": 2.0, "curve": [0.1, 1.9, 1.0, 1.8], "driver": "modbus"}
    assert isinstance(values["speed"], float)  # YAML's 2 is a double parameter
    p = DemoParameters.from_values(values)
    assert p.speed == 2.0 and p.window == 0.05 and p.driver == "modbus"
    q = p.replace(speed=3.0)
    assert q.speed == 3.0 and p.speed == 2.0


def test_from_values_lists_every_problem() -> None:
    with pytest.raises(ValueError, match=r"demo: .*speed=9.0 is above.*missing parameter curve"):
        DemoParameters.from_values({"speed": 9.0})


def test_a_parameter_needs_a_source() -> None:
    with pytest.raises(TypeError, match="needs a cell path"):
        param("orphan")
