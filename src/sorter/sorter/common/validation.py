"""Input checks shared by the ROS-free cores: one wording for one kind of fault."""

from __future__ import annotations

import math
import numbers
from typing import Any


def require_finite(name: str, value: Any) -> float:
    """`value` as a float, or ValueError naming the field when it is not a finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def is_int(value: Any) -> bool:
    """Python or numpy integer, but not bool (True is not a count or an index)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
