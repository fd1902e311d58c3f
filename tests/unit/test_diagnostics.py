"""NodeDiagnostics levels: set_error, named conditions and rejected inputs combine, the worst
level wins, and clearing one source leaves the others standing."""

from __future__ import annotations

from typing import Any

import pytest

from sorter.common.diagnostics import ERROR, OK, WARN, NodeDiagnostics


class _Logger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __getattr__(self, severity: str) -> Any:
        return lambda message, **_kw: self.lines.append((severity, message))


class _FakeNode:
    def __init__(self) -> None:
        self.logger = _Logger()

    def create_publisher(self, *_args: Any) -> Any:
        return None

    def create_timer(self, *_args: Any) -> Any:
        return None

    def get_logger(self) -> _Logger:
        return self.logger

    def get_fully_qualified_name(self) -> str:
        return "/feeder"


def test_conditions_errors_and_rejections_combine() -> None:
    node = _FakeNode()
    diag = NodeDiagnostics(node)
    assert (diag.status().level, diag.status().message) == (OK, "ok")

    diag.set_condition("throttled", WARN, "drive throttled")
    assert (diag.status().level, diag.status().message) == (WARN, "drive throttled")
    diag.set_condition("saturated", ERROR, "feeder saturated")
    assert (diag.status().level, diag.status().message) == (ERROR, "feeder saturated")
    diag.set_error("controller unreachable")
    assert diag.status().message == "controller unreachable; feeder saturated"

    diag.set_condition("saturated", OK)  # clears its own condition only
    assert (diag.status().level, diag.status().message) == (ERROR, "controller unreachable")
    diag.set_error(None)
    diag.reject("occupancy", "nan")
    status = diag.status()
    assert status.level == WARN
    assert status.message == "drive throttled; rejected 1 inputs; last: occupancy: nan"
    diag.set_condition("throttled", OK)
    diag.set_condition("never_set", OK)  # clearing an unknown condition is harmless
    assert diag.status().level == WARN  # the rejection still counts until the next publish


def test_a_condition_is_logged_once_per_level_and_when_cleared() -> None:
    node = _FakeNode()
    diag = NodeDiagnostics(node)
    for seconds in (5.0, 5.1, 5.2):
        diag.set_condition("saturated", ERROR, f"saturated for {seconds} s")
    assert diag.status().message == "saturated for 5.2 s"  # the newest text is shown
    diag.set_condition("saturated", OK)
    assert node.logger.lines == [("error", "saturated for 5.0 s"),
                                 ("info", "cleared: saturated for 5.2 s")]
    with pytest.raises(ValueError, match="level"):
        diag.set_condition("saturated", 7, "?")
