"""The whole cell as separate processes on an isolated ROS domain: ~20 s of simulated belt,
then the feed stops and the belt empties. Checks what came out, not that it ran."""

from __future__ import annotations

import pytest

from sorter.cell.description import load_cell
from sorter.trial.report import summarise
from sorter.trial.runner import run_trial

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory):
    import os

    mp = pytest.MonkeyPatch()
    mp.setenv("ROS_DOMAIN_ID", str(1 + os.getpid() % 99))
    mp.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    try:
        cell = load_cell()
        result = run_trial(cell, 20.0, tmp_path_factory.mktemp("trial"), progress=False,
                           log=lambda _m: None)
        yield result, summarise(result)
    finally:
        mp.undo()


def test_every_scanned_particle_is_decided_or_missed(trial) -> None:
    result, summary = trial
    f = summary.cell_figures
    assert f["particles_measured"] > 50, "too few particles for the test to mean anything"
    decisions = f["ejections"] + f["accepts"] + f["missed_ejections"]
    assert f["decisions"] == decisions == f["particles_measured"]
    measured_ids = [p["id"] for p in result.record.particles]
    assert len(set(result.record.scanned_ids)) == len(result.record.scanned_ids)
    assert sorted(result.record.scanned_ids) == sorted(measured_ids)
    assert f["dropped_inputs"] == 0


def test_commands_reach_the_valves_before_their_deadlines(trial) -> None:
    result, summary = trial
    margin = result.cell["valves"]["command_margin_s"]
    commands = result.record.commands
    assert commands, "no valve commands at all"
    late = [c for c in commands if c["decided"] > c["open"] - margin]
    assert late == []
    assert result.record.late_valve_commands == 0
    assert result.record.valve_commands_received == len(commands), (
        f"valve controller got {result.record.valve_commands_received}, "
        f"ejector sent {len(commands)}; ejector status {result.record.ejector_status}"
    )
    assert summary.cell_figures["missed_ejections"] == 0, result.record.ejector_status


def test_separable_ore_is_upgraded(trial) -> None:
    _result, summary = trial
    s = summary.score
    assert s.particles >= summary.cell_figures["particles_measured"] * 0.9
    assert s.concentrate_grade > 2 * s.feed_grade
    assert s.recovery > 0.7
