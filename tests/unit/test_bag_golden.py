"""Golden-bag regression, offline mode: every golden bag under tests/golden is run straight
through the stage cores (no middleware, no timing) and must reproduce its expected outcomes
exactly. A change fails with a diff naming particle, field, golden and now.

Regenerate the goldens on purpose (a deliberate change of behaviour) with
``.venv/bin/python -m sorter.cli bag golden --force``."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from sorter.bag.golden import GOLDEN_DIR, GoldenSpec, generate, load_expected
from sorter.bag.regression import (
    OFFLINE,
    ONLINE,
    compare,
    format_differences,
    offline_outcomes,
    summarize,
)

GOLDENS = sorted(p for p in GOLDEN_DIR.iterdir() if (p / "expected.json").exists())


def test_there_are_small_golden_bags() -> None:
    assert GOLDENS, f"no golden bag under {GOLDEN_DIR}: run `sorter bag golden`"
    size = sum(f.stat().st_size for f in GOLDEN_DIR.rglob("*") if f.is_file())
    assert size < 5e6, f"golden bags total {size / 1e6:.2f} MB, keep them under 5 MB"


@pytest.mark.parametrize("folder", GOLDENS, ids=lambda p: p.name)
def test_offline_replay_reproduces_the_golden_outcomes_exactly(folder: Path) -> None:
    expected, params, bag = load_expected(folder)
    now = offline_outcomes(params, bag)
    diffs = compare(expected["particles"], now, OFFLINE)
    assert not diffs, f"{folder.name}:\n" + format_differences(diffs)
    assert summarize(now) == expected["summary"]
    assert expected["summary"]["eject"] > 5 and expected["summary"]["accept"] > 5


def test_a_changed_decision_reads_as_particle_field_golden_vs_now() -> None:
    expected, _params, _bag = load_expected(GOLDENS[0])
    golden = expected["particles"]
    now = copy.deepcopy(golden)
    ejected = [p for p in now if p["decision"] == "eject"]
    target, shifted = ejected[0], ejected[1]
    target.update(decision="missed", valve_first=None, valve_last=None, open_s=None,
                  close_s=None)
    shifted["open_s"] += 0.001
    now[0]["mass_kg"] *= 1.001
    del now[-1]
    report = format_differences(compare(golden, now, ONLINE))
    lines = [line.strip() for line in report.splitlines()]
    # decisions and missing particles come first, whatever else changed
    assert f"particle {target['id']}: decision: golden 'eject' vs now 'missed'" in lines[1:3]
    assert f"particle {golden[-1]['id']}: particle: golden 'present' vs now 'missing'" in \
        lines[1:3]
    assert any(line.startswith(f"particle {golden[0]['id']}: mass_kg: golden") for line in lines)
    # a 1 ms shift of a pulse is inside the online tolerance, outside the offline one
    assert f"particle {shifted['id']}: open_s" not in report
    assert f"particle {shifted['id']}: open_s" in format_differences(
        compare(golden, now, OFFLINE), limit=1000)


def test_golden_generation_is_self_consistent(tmp_path: Path) -> None:
    """The documented command works end to end: simulate, write, decide, and a regenerated
    bag replays to its own expected outcomes."""
    folder = generate(GoldenSpec(name="tiny", strips=16), tmp_path, log=lambda _m: None)
    expected, params, bag = load_expected(folder)
    assert expected["messages"]["/xrt/strip"] == 16
    assert expected["summary"]["particles"] > 0
    assert compare(expected["particles"], offline_outcomes(params, bag), OFFLINE) == []
