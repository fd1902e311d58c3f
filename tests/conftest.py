"""Shared fixtures: an isolated ROS domain per test (never the plant's), the repo paths."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_domains = itertools.count()


@pytest.fixture
def ros_domain(monkeypatch: pytest.MonkeyPatch) -> int:
    """A ROS_DOMAIN_ID of this test's own (1..99, spread by pid so parallel runs differ) and
    discovery kept on localhost. Child processes inherit both."""
    domain = 1 + (os.getpid() * 7 + next(_domains)) % 99
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return domain


@pytest.fixture
def cell() -> dict:
    from sorter.cell.description import load_cell

    return load_cell(REPO / "config" / "cell.yaml")
