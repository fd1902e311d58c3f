from __future__ import annotations

import math

from sorter.common.params import REQUIRED, ParamSpec, validate_values

SPECS = [
    ParamSpec("speed", float, "m/s", min=0.0, max=7.0),
    ParamSpec("count", int, "n", min=1, max=10),
    ParamSpec("mode", str, "which", choices=("ore", "waste")),
    ParamSpec("curve", list, "pairs", min=0.0, max=5.0, min_length=2),
    ParamSpec("optional", float, "x", default=1.0),
]


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
