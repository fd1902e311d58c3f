"""Ejector core: valve timing by hand, fail-closed behaviour, valve ranges, policy, drivers."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sorter.ejector.core import (
    BeltSample,
    Decision,
    EjectionScheduler,
    EjectionTarget,
    EjectorConfig,
)
from sorter.ejector.driver import LateCommandError, RecordingValveDriver, ValveDriver
from sorter.ejector.valve_timeline import ValveCommand, ValveTimeline

CELL_YAML = Path(__file__).resolve().parents[2] / "config" / "cell.yaml"


def make_config(**overrides: object) -> EjectorConfig:
    """The cell.yaml values: 0.6 m scan->nozzle, 32 x 12.5 mm valves, 3 ms lead."""
    values: dict[str, object] = dict(
        scan_to_nozzle_m=0.60,
        valve_count=32,
        valve_pitch_m=0.0125,
        response_time_s=0.003,
        min_open_s=0.004,
        margin_m=0.004,
        command_margin_s=0.010,
        eject="ore",
        probability_threshold=0.5,
    )
    values.update(overrides)
    return EjectorConfig(**values)  # type: ignore[arg-type]


def make_target(**overrides: object) -> EjectionTarget:
    """A 20 mm long particle scanned from encoder 5.000 to 5.020 m, y 105..120 mm, ore."""
    values: dict[str, object] = dict(
        particle_id=7,
        leading_edge_encoder_m=5.000,
        trailing_edge_encoder_m=5.020,
        y_min_m=0.105,
        y_max_m=0.120,
        ore_probability=0.9,
        scan_complete_stamp_s=10.0,
    )
    values.update(overrides)
    return EjectionTarget(**values)  # type: ignore[arg-type]


BELT = BeltSample(stamp_s=10.0, encoder_m=5.0, speed_m_s=2.0)


@pytest.fixture
def scheduler() -> EjectionScheduler:
    return EjectionScheduler(make_config())


# -- timing computed by hand -----------------------------------------------------------------


def test_open_close_times_by_hand(scheduler: EjectionScheduler) -> None:
    # Air on when the belt has moved 0.600 - 0.004 = 0.596 m past the leading edge:
    # 0.596 / 2 = 0.298 s after 10.0 s; electrical open 3 ms earlier -> 10.295 s.
    # Air off at 0.020 + 0.600 + 0.004 = 0.624 m -> 0.312 s -> close command 10.309 s.
    decision = scheduler.decide(make_target(), BELT, now_s=10.02)
    assert decision.kind == "eject"
    command = decision.command
    assert command is not None
    assert command.open_s == pytest.approx(10.295, abs=1e-9)
    assert command.close_s == pytest.approx(10.309, abs=1e-9)
    assert decision.deadline_s == pytest.approx(10.285, abs=1e-9)
    assert decision.latency_s == pytest.approx(0.02, abs=1e-12)
    assert command.particle_id == 7
    assert (command.valve_first, command.valve_last) == (8, 9)


def test_short_pulse_widened_to_min_open_about_its_centre() -> None:
    # A point-like particle at 6 m/s: air 8 mm / 6 m/s = 1.33 ms < min_open 4 ms.
    # Centre: 10 + 0.6 / 6 - 0.003 = 10.097 s -> 10.095 .. 10.099 s.
    scheduler = EjectionScheduler(make_config())
    belt = BeltSample(stamp_s=10.0, encoder_m=5.0, speed_m_s=6.0)
    decision = scheduler.decide(make_target(trailing_edge_encoder_m=5.0), belt, now_s=10.0)
    assert decision.command is not None
    assert decision.command.open_s == pytest.approx(10.095, abs=1e-9)
    assert decision.command.close_s == pytest.approx(10.099, abs=1e-9)
    assert decision.command.duration_s == pytest.approx(0.004, abs=1e-12)
    assert decision.deadline_s == pytest.approx(10.085, abs=1e-9)


def test_separate_close_response_time() -> None:
    scheduler = EjectionScheduler(make_config(close_response_time_s=0.005))
    command = scheduler.decide(make_target(), BELT, now_s=10.02).command
    assert command is not None
    assert command.open_s == pytest.approx(10.295, abs=1e-9)
    assert command.close_s == pytest.approx(10.307, abs=1e-9)


def test_speed_change_taken_from_belt_sample_not_arrival_time(
    scheduler: EjectionScheduler,
) -> None:
    # Scanned while the belt ran at 2 m/s, but the latest belt sample (10.1 s, 5.1 m) says
    # 1 m/s: the particle needs (5.596 - 5.1) / 1 = 0.496 s more -> open 10.593 s,
    # close 10.1 + (5.624 - 5.1) - 0.003 = 10.621 s, whenever the decision is taken.
    belt = BeltSample(stamp_s=10.1, encoder_m=5.1, speed_m_s=1.0)
    early = scheduler.decide(make_target(), belt, now_s=10.12)
    late = scheduler.decide(make_target(), belt, now_s=10.40)
    for decision in (early, late):
        assert decision.kind == "eject"
        assert decision.command is not None
        assert decision.command.open_s == pytest.approx(10.593, abs=1e-9)
        assert decision.command.close_s == pytest.approx(10.621, abs=1e-9)
    assert late.latency_s == pytest.approx(0.40, abs=1e-9)


def test_wall_clock_epoch_keeps_sub_microsecond_precision(scheduler: EjectionScheduler) -> None:
    t0 = 1_760_000_000.25
    belt = BeltSample(stamp_s=t0, encoder_m=12_345.0, speed_m_s=2.0)
    target = make_target(
        leading_edge_encoder_m=12_345.0,
        trailing_edge_encoder_m=12_345.02,
        scan_complete_stamp_s=t0,
    )
    command = scheduler.decide(target, belt, now_s=t0 + 0.02).command
    assert command is not None
    assert command.open_s - t0 == pytest.approx(0.295, abs=1e-6)
    assert command.close_s - t0 == pytest.approx(0.309, abs=1e-6)


# -- deadline and fail-closed ----------------------------------------------------------------


def test_missed_after_deadline_never_commands(scheduler: EjectionScheduler) -> None:
    driver = RecordingValveDriver(valve_count=32)
    driver.arm()
    on_time = scheduler.decide(make_target(), BELT, now_s=10.285)  # exactly at the deadline
    late = scheduler.decide(make_target(), BELT, now_s=10.2851)
    assert on_time.kind == "eject"
    assert late.kind == "missed"
    assert late.command is None
    assert late.deadline_s == pytest.approx(10.285, abs=1e-9)
    assert "deadline" in late.reason
    for decision in (late,):
        if decision.command is not None:
            driver.submit(decision.command)
    assert driver.submitted == []


def test_missed_when_particle_already_past_nozzle(scheduler: EjectionScheduler) -> None:
    decision = scheduler.decide(make_target(), BELT, now_s=10.5)
    assert decision.kind == "missed" and decision.command is None


@pytest.mark.parametrize(
    ("belt", "now_s", "words"),
    [
        (None, 10.0, "no belt sample"),
        (BeltSample(stamp_s=9.49, encoder_m=4.0, speed_m_s=2.0), 10.0, "stale"),
        (BeltSample(stamp_s=10.6, encoder_m=5.0, speed_m_s=2.0), 10.0, "future"),
        (BeltSample(stamp_s=10.0, encoder_m=5.0, speed_m_s=0.0), 10.0, "stopped"),
        (BeltSample(stamp_s=10.0, encoder_m=5.0, speed_m_s=5e-4), 10.0, "stopped"),
        (BeltSample(stamp_s=10.0, encoder_m=5.0, speed_m_s=-2.0), 10.0, "stopped"),
        (BeltSample(stamp_s=10.0, encoder_m=5.0, speed_m_s=math.nan), 10.0, "not finite"),
        (BeltSample(stamp_s=10.0, encoder_m=math.inf, speed_m_s=2.0), 10.0, "not finite"),
    ],
)
def test_fail_closed_without_a_trustworthy_belt(
    scheduler: EjectionScheduler, belt: BeltSample | None, now_s: float, words: str
) -> None:
    decision = scheduler.decide(make_target(), belt, now_s=now_s)
    assert decision.kind == "missed"
    assert decision.command is None
    assert words in decision.reason


def test_belt_age_limit_is_configurable() -> None:
    belt = BeltSample(stamp_s=9.8, encoder_m=4.6, speed_m_s=2.0)  # 0.2 s old at 10.0 s
    assert EjectionScheduler(make_config()).decide(make_target(), belt, 10.0).kind == "eject"
    strict = EjectionScheduler(make_config(max_belt_age_s=0.1))
    assert strict.decide(make_target(), belt, 10.0).kind == "missed"


def test_stale_belt_sample_still_gives_same_timing_when_fresh_enough(
    scheduler: EjectionScheduler,
) -> None:
    # 0.4 s old, same constant-speed motion: identical pulse to the fresh sample.
    old = BeltSample(stamp_s=9.6, encoder_m=4.2, speed_m_s=2.0)
    fresh = scheduler.decide(make_target(), BELT, 10.0).command
    aged = scheduler.decide(make_target(), old, 10.0).command
    assert fresh is not None and aged is not None
    assert aged.open_s == pytest.approx(fresh.open_s, abs=1e-12)


def test_too_slow_belt_is_not_extrapolated_far_ahead(scheduler: EjectionScheduler) -> None:
    belt = BeltSample(stamp_s=10.0, encoder_m=5.0, speed_m_s=0.01)  # open ~59.6 s ahead
    decision = scheduler.decide(make_target(), belt, now_s=10.0)
    assert decision.kind == "missed"
    assert decision.command is None
    assert decision.deadline_s == pytest.approx(10.0 + 0.596 / 0.01 - 0.013, abs=1e-6)


def test_accept_needs_no_belt(scheduler: EjectionScheduler) -> None:
    decision = scheduler.decide(make_target(ore_probability=0.1), None, now_s=10.0)
    assert decision.kind == "accept"
    assert decision.command is None
    assert math.isnan(decision.deadline_s)


# -- policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eject", "probability", "kind"),
    [
        ("ore", 0.9, "eject"),
        ("ore", 0.5, "eject"),  # at the threshold counts as ore
        ("ore", 0.4999, "accept"),
        ("ore", 0.0, "accept"),
        ("waste", 0.9, "accept"),
        ("waste", 0.5, "accept"),
        ("waste", 0.4999, "eject"),
        ("waste", 0.0, "eject"),
    ],
)
def test_policy_both_ways(eject: str, probability: float, kind: str) -> None:
    scheduler = EjectionScheduler(make_config(eject=eject))
    decision = scheduler.decide(make_target(ore_probability=probability), BELT, now_s=10.0)
    assert decision.kind == kind
    assert (decision.command is not None) == (kind == "eject")


def test_threshold_is_used() -> None:
    scheduler = EjectionScheduler(make_config(probability_threshold=0.8))
    assert scheduler.decide(make_target(ore_probability=0.79), BELT, 10.0).kind == "accept"
    assert scheduler.decide(make_target(ore_probability=0.80), BELT, 10.0).kind == "eject"


# -- valve ranges ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("y_min", "y_max", "valves"),
    [
        (0.105, 0.120, (8, 9)),  # well inside valves 8 and 9
        (0.101, 0.1245, (7, 10)),  # within pitch/4 of valves 7 and 10
        (0.1035, 0.1215, (8, 9)),  # just beyond pitch/4 of both neighbours
        (0.10625, 0.10625, (8, 8)),  # a line in the middle of valve 8
        (0.1100, 0.1100, (8, 9)),  # 2.5 mm < pitch/4 from valve 9
        (0.1000, 0.1120, (7, 9)),  # on the 7|8 boundary, 0.5 mm short of valve 9
        (-0.005, 0.004, (0, 0)),  # hanging over the left edge: clipped
        (-0.020, -0.003, (0, 0)),  # off the bar but within pitch/4 of valve 0
        (0.395, 0.410, (31, 31)),  # hanging over the right edge: clipped to 31
        (0.000, 0.400, (0, 31)),  # the whole belt
    ],
)
def test_valve_range(
    scheduler: EjectionScheduler, y_min: float, y_max: float, valves: tuple[int, int]
) -> None:
    assert scheduler.valve_range(y_min, y_max) == valves
    decision = scheduler.decide(make_target(y_min_m=y_min, y_max_m=y_max), BELT, 10.0)
    assert decision.command is not None
    assert (decision.command.valve_first, decision.command.valve_last) == valves


@pytest.mark.parametrize(("y_min", "y_max"), [(-0.020, -0.004), (0.407, 0.420)])
def test_particle_off_the_bar_is_missed(
    scheduler: EjectionScheduler, y_min: float, y_max: float
) -> None:
    assert scheduler.valve_range(y_min, y_max) is None
    decision = scheduler.decide(make_target(y_min_m=y_min, y_max_m=y_max), BELT, 10.0)
    assert decision.kind == "missed"
    assert decision.command is None
    assert "valve bar" in decision.reason


def test_bar_offset_and_lateral_margin() -> None:
    scheduler = EjectionScheduler(make_config(bar_offset_m=0.01, lateral_margin_m=0.0))
    # Valve 0 covers [0.010, 0.0225): y 0.0225..0.0349 lies on valve 1 only.
    assert scheduler.valve_range(0.0225, 0.0349) == (1, 1)
    assert scheduler.valve_range(0.0, 0.0099) is None


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("scan_to_nozzle_m", 0.0, "scan_to_nozzle_m must be > 0"),
        ("scan_to_nozzle_m", math.nan, "scan_to_nozzle_m must be finite"),
        ("valve_count", 0, "valve_count must be >= 1"),
        ("valve_count", 3.0, "valve_count must be an int"),
        ("valve_count", True, "valve_count must be an int"),
        ("valve_pitch_m", -0.0125, "valve_pitch_m must be > 0"),
        ("response_time_s", -0.001, "response_time_s must be >= 0"),
        ("min_open_s", 0.0, "min_open_s must be > 0"),
        ("margin_m", math.inf, "margin_m must be finite"),
        ("command_margin_s", -1.0, "command_margin_s must be >= 0"),
        ("eject", "gold", "eject must be one of"),
        ("probability_threshold", 1.5, "probability_threshold must be in [0, 1]"),
        ("probability_threshold", "half", "probability_threshold must be a finite number"),
        ("max_belt_age_s", 0.0, "max_belt_age_s must be > 0"),
        ("min_belt_speed_m_s", 0.0, "min_belt_speed_m_s must be > 0"),
    ],
)
def test_config_validation(field: str, value: object, words: str) -> None:
    with pytest.raises(ValueError, match=rf"EjectorConfig\.{words[:10]}") as info:
        make_config(**{field: value})
    assert words in str(info.value)


def test_config_defaults() -> None:
    config = make_config()
    assert config.lateral_margin_m == pytest.approx(0.0125 / 4)
    assert config.close_response_time_s == config.response_time_s
    assert config.max_belt_age_s == 0.5
    assert config.bar_width_m == pytest.approx(0.4)


def test_numpy_integers_accepted() -> None:
    config = make_config(valve_count=np.int64(32))
    assert config.valve_count == 32 and type(config.valve_count) is int
    target = make_target(particle_id=np.uint64(7))
    command = EjectionScheduler(config).decide(target, BELT, 10.0).command
    assert command is not None and type(command.particle_id) is int


def test_config_from_cell_yaml() -> None:
    yaml = pytest.importorskip("yaml")
    cell = yaml.safe_load(CELL_YAML.read_text())
    config = EjectorConfig.from_cell(
        cell["geometry"], cell["valves"], cell["policy"], max_belt_age_s=0.25
    )
    assert config.valve_count == cell["valves"]["count"]
    assert config.max_belt_age_s == 0.25
    assert config.bar_width_m == pytest.approx(cell["belt"]["width_m"])


@pytest.mark.parametrize(
    "overrides",
    [
        {"trailing_edge_encoder_m": 4.99},
        {"y_max_m": 0.1},
        {"ore_probability": math.nan},
        {"ore_probability": 1.01},
        {"leading_edge_encoder_m": math.inf},
        {"particle_id": -1},
        {"scan_complete_stamp_s": math.nan},
    ],
)
def test_malformed_target_is_rejected(
    scheduler: EjectionScheduler, overrides: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        scheduler.decide(make_target(**overrides), BELT, 10.0)


def test_decision_is_a_dataclass_with_reason(scheduler: EjectionScheduler) -> None:
    decision = scheduler.decide(make_target(), BELT, 10.0)
    assert isinstance(decision, Decision)
    assert "eject valves 8..9" in decision.reason
    assert replace(decision, kind="missed").kind == "missed"


# -- guard and drivers -----------------------------------------------------------------------


def test_guard_merges_overlapping_and_close_pulses() -> None:
    guard = ValveTimeline(valve_count=4, min_gap_s=0.002)
    guard.add(ValveCommand(1, 0, 1, 1.000, 1.010))
    guard.add(ValveCommand(2, 1, 2, 1.005, 1.020))  # overlaps on valve 1
    guard.add(ValveCommand(3, 1, 1, 1.021, 1.030))  # 1 ms gap < 2 ms: bridged
    guard.add(ValveCommand(4, 1, 1, 1.040, 1.050))  # 10 ms gap: separate
    assert guard.intervals(0) == [(1.000, 1.010)]
    assert guard.intervals(1) == [(1.000, 1.030), (1.040, 1.050)]
    assert guard.intervals(2) == [(1.005, 1.020)]
    assert guard.intervals(3) == []
    assert guard.is_open(1, 1.0105) and guard.is_open(1, 1.0205)
    assert not guard.is_open(1, 1.035)
    assert guard.open_valves(1.007) == [0, 1, 2]
    guard.prune(1.030)
    assert guard.intervals(1) == [(1.040, 1.050)]
    assert guard.intervals(0) == []


@pytest.mark.parametrize(
    "command",
    [
        ValveCommand(1, 0, 4, 1.0, 1.01),  # valve 4 on a 4-valve bar
        ValveCommand(1, 2, 1, 1.0, 1.01),  # reversed range
        ValveCommand(1, -1, 1, 1.0, 1.01),
        ValveCommand(1, 0, 1, 1.01, 1.01),  # zero length
        ValveCommand(1, 0, 1, math.nan, 1.01),
    ],
)
def test_guard_rejects_bad_commands(command: ValveCommand) -> None:
    with pytest.raises(ValueError):
        ValveTimeline(valve_count=4).add(command)


def test_recording_driver_is_a_valve_driver_and_fails_closed() -> None:
    driver = RecordingValveDriver(valve_count=32)
    assert isinstance(driver, ValveDriver)
    command = ValveCommand(1, 8, 9, 10.295, 10.309)
    with pytest.raises(RuntimeError, match="disarmed"):
        driver.submit(command)
    driver.arm()
    driver.submit(command)
    driver.advance(10.30)
    assert driver.open_valves() == [8, 9]
    driver.disarm()
    assert driver.open_valves() == []
    assert not driver.is_open(8, 10.30)
    assert driver.cancelled == [command]
    assert driver.pending == []
    driver.advance(11.0)
    assert driver.executed_count == 0
    with pytest.raises(RuntimeError):
        driver.submit(ValveCommand(2, 0, 0, 12.0, 12.01))


def test_recording_driver_executes_and_refuses_late_commands() -> None:
    driver = RecordingValveDriver(valve_count=32)
    driver.arm()
    driver.submit(ValveCommand(1, 0, 0, 1.00, 1.01))
    driver.submit(ValveCommand(2, 1, 1, 1.02, 1.03))
    driver.advance(1.015)
    assert driver.executed_count == 1
    with pytest.raises(LateCommandError):
        driver.submit(ValveCommand(3, 2, 2, 1.01, 1.02))
    assert driver.late_count == 1
    assert driver.sent_count == 2  # the refused late command was never passed on
    driver.advance(1.03)
    assert driver.executed_count == 2
    with pytest.raises(ValueError):
        driver.submit(ValveCommand(4, 31, 32, 2.0, 2.01))
    with pytest.raises(ValueError):
        driver.advance(1.0)


def test_scheduler_to_driver_air_hits_the_particle(scheduler: EjectionScheduler) -> None:
    """End to end: the valve is open (electrically) exactly while the lead-shifted particle,
    plus margins, passes the nozzle line."""
    driver = RecordingValveDriver(valve_count=32)
    driver.arm()
    decision = scheduler.decide(make_target(), BELT, now_s=10.02)
    assert decision.command is not None
    driver.submit(decision.command)
    lead = 0.003
    # Air is at the nozzle from 10.298 s (leading edge - 4 mm) to 10.312 s (trailing + 4 mm).
    assert not driver.is_open(8, 10.2979 - lead)
    assert driver.is_open(8, 10.2981 - lead) and driver.is_open(9, 10.3119 - lead)
    assert not driver.is_open(9, 10.3121 - lead)
    assert not driver.is_open(10, 10.305 - lead)
