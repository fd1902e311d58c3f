"""The ejection scheduler as the ejector node's parameters describe it (node, offline replay,
bench): the scheduling parameters carry EjectorConfig's field names."""

from __future__ import annotations

import dataclasses
from typing import Any

from sorter.ejector.core import EjectionScheduler, EjectorConfig

_CONFIG_FIELDS = {f.name for f in dataclasses.fields(EjectorConfig)}


def scheduler_from_params(p: dict[str, Any]) -> EjectionScheduler:
    return EjectionScheduler(EjectorConfig(**{k: v for k, v in p.items() if k in _CONFIG_FIELDS}))
