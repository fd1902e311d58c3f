"""World: belt kinematics and encoder, feeder mass flow, strip timing and content, valves and
bins, truth outcomes, determinism."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from sorter.ejector.valve_timeline import ValveCommand
from sorter.sim_world.belt_motion import time_at_position
from sorter.sim_world.feed_particles import Particle
from sorter.sim_world.line_scanner import ReferenceKind
from sorter.sim_world.nozzle_line import CommandStatus
from sorter.sim_world.scorer import Bin
from sorter.sim_world.world import World, WorldConfig, world_from_cell

CELL = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "cell.yaml").read_text())
CONFIG = WorldConfig.from_cell(CELL)
PITCH = CONFIG.detector.pixel_pitch_m
LINES = CONFIG.detector.lines_per_strip
ACCEL = CONFIG.acceleration_m_s2


def make_world(speed: float = 0.0, render: bool = True, seed: int = 3) -> World:
    return World(CONFIG, seed, start_time_s=0.0, belt_speed_m_s=speed, render_strips=render)


def run(world: World, until_s: float, dt: float) -> None:
    t = world.time_s
    while t < until_s - 1e-12:
        t = min(until_s, t + dt)
        world.step(t)


def test_config_comes_from_the_cell():
    assert CONFIG.scan_to_nozzle_m == CELL["geometry"]["scan_to_nozzle_m"]
    assert CONFIG.valve_count == CELL["valves"]["count"]
    assert CONFIG.max_feed_rate_kg_s == pytest.approx(
        CELL["feeder"]["max_feed_rate_kg_h"] / 3600)
    world = world_from_cell(CELL)
    assert world.speed_m_s == 0.0 and world.feeder.drive == 0.0  # starts stopped


def test_encoder_integrates_speed_exactly():
    world = make_world(speed=2.0, render=False)
    rng = np.random.default_rng(0)
    t = 0.0
    for dt in rng.uniform(1e-4, 0.02, 300):
        t += dt
        world.step(t)
    assert world.position_m == pytest.approx(2.0 * t, rel=1e-12)
    sample = world.encoder_sample()
    step = CONFIG.encoder_step_m
    assert sample.stamp_s == t and sample.running
    assert world.position_m - step < sample.position_m <= world.position_m + 1e-12
    assert sample.position_m / step == pytest.approx(round(sample.position_m / step), abs=1e-6)
    # latches in the recent past come from the exact trajectory
    past = world.encoder_sample(t - 0.1234)
    assert past.position_m == pytest.approx(
        math.floor(2.0 * (t - 0.1234) / step + 1e-9) * step, abs=1e-12)


@pytest.mark.parametrize("dt", [0.004, 0.013, 0.25])
def test_belt_ramp_respects_acceleration(dt):
    world = make_world(render=False)
    world.set_belt_speed(3.0)
    speeds = [0.0]
    t = 0.0
    while t < 2.0 - 1e-12:
        t = min(2.0, t + dt)
        world.step(t)
        speeds.append(world.speed_m_s)
    steps = np.diff(speeds)
    assert (steps <= ACCEL * dt + 1e-9).all() and (steps >= 0).all()
    ramp = 3.0 / ACCEL
    assert speeds[-1] == 3.0
    # exact position of a trapezoid whatever the step: v^2/(2a) + v (t - v/a)
    assert world.position_m == pytest.approx(3.0**2 / (2 * ACCEL) + 3.0 * (2.0 - ramp),
                                             rel=1e-12)
    world.set_belt_speed(1.0)
    x0 = world.position_m
    run(world, 3.0, dt)
    down = 2.0 / ACCEL
    assert world.speed_m_s == 1.0
    assert world.position_m - x0 == pytest.approx(
        3.0 * down - 0.5 * ACCEL * down**2 + 1.0 * (1.0 - down), rel=1e-12)
    with pytest.raises(ValueError):
        world.set_belt_speed(CONFIG.max_speed_m_s + 0.1)
    with pytest.raises(ValueError):
        world.set_belt_speed(float("nan"))


def test_feeder_mass_flow_over_a_minute():
    world = make_world(speed=2.0, render=False)
    drive = 0.25
    world.set_feeder_drive(drive)
    run(world, 60.0, 0.02)
    expected = drive * CONFIG.max_feed_rate_kg_s * 60.0
    assert world.counters.spawned_mass_kg == pytest.approx(expected, rel=0.10)
    assert world.feeder.flow_kg_s == pytest.approx(drive * CONFIG.max_feed_rate_kg_s, rel=1e-6)
    # everything spawned is on the belt or already in a bin
    outcomes = world.pop_outcomes()
    assert len(outcomes) + len(world.particles_on_belt) == world.counters.spawned
    with pytest.raises(ValueError):
        world.set_feeder_drive(1.5)


def test_tray_lag_is_first_order():
    world = make_world(render=False)
    world.set_feeder_drive(1.0)
    tau = CONFIG.tray_time_constant_s
    world.step(tau)
    assert world.feeder.flow_kg_s == pytest.approx(CONFIG.max_feed_rate_kg_s * (1 - math.exp(-1)))


def test_spawn_position_on_belt():
    world = make_world(render=False)  # belt stopped: everything lands 0.5 m upstream
    world.set_feeder_drive(1.0)
    run(world, 1.0, 0.01)
    placed = world.particles_on_belt
    assert len(placed) == world.counters.spawned > 5
    for item in placed:
        assert abs(item.centroid_m - CONFIG.spawn_upstream_m) <= PITCH / 2 + 1e-12
        assert 0.0 <= item.y_min_m < item.y_max_m <= CELL["belt"]["width_m"] + 1e-12


def test_strip_stamps_and_shape():
    world = make_world(speed=2.0)
    run(world, 0.3, 0.004)
    strips = world.pop_strips()
    strip_len = LINES * PITCH
    complete = math.floor((0.6 / PITCH - (LINES - 1)) / LINES + 1e-9) + 1  # last line taken
    assert [s.index for s in strips] == list(range(complete))
    for s in strips:
        assert s.encoder_m == pytest.approx(s.index * strip_len, rel=1e-12)
        assert s.stamp_s == pytest.approx(s.index * strip_len / 2.0, abs=1e-12)
        assert s.line_period_s == pytest.approx(PITCH / 2.0, rel=1e-9)
        assert s.low.shape == s.high.shape == (LINES, CONFIG.detector.pixels)
        assert s.low.dtype == np.uint16
    assert world.pop_strips() == []


def test_strip_stamps_follow_the_ramp():
    world = make_world()
    world.set_belt_speed(2.0)
    run(world, 0.5, 0.007)
    for s in world.pop_strips():
        x = s.encoder_m
        expected = math.sqrt(2 * x / ACCEL) if x <= 2.0**2 / (2 * ACCEL) else (
            0.5 + (x - 0.5) / 2.0)
        assert s.stamp_s == pytest.approx(expected, abs=1e-9)


def _particle(world: World, seed: int = 1) -> Particle:
    return world.generator.generate(np.random.default_rng(seed), 999)


def test_particle_appears_where_the_world_put_it():
    world = make_world(speed=2.0, seed=5)
    part = _particle(world)
    placed = world.place(part, centroid_m=1.5 * LINES * PITCH, col0=230)
    run(world, 0.3, 0.004)
    strips = world.pop_strips()
    image = np.vstack([s.high for s in strips]).astype(float)
    dark = world.detector.reference(ReferenceKind.DARK, 200)[1].astype(float)
    flat = world.detector.reference(ReferenceKind.FLAT, 200)[1].astype(float)
    att = np.log((flat - dark) / np.maximum(image - dark, 0.5))
    j, c = np.unravel_index(np.argmax(part.thickness_m), part.thickness_m.shape)
    seen = att[placed.line0 + j, placed.col0 + c]
    # truth: the peak pixel's ray integrated over the spectrum (beam hardening included)
    truth = world.model.direct_attenuation(part.basis_kg_m2[:, j, c][:, None])[1, 0]
    assert seen == pytest.approx(truth, abs=0.25)
    # nothing outside the footprint's rows/cols
    mask = np.zeros_like(att, dtype=bool)
    mask[placed.line0:placed.line_end, placed.col0:placed.col0 + part.cols] = part.footprint
    assert abs(att[~mask].mean()) < 0.005
    assert att[mask].mean() > 10 * att[~mask].std() / math.sqrt(mask.sum())


def _covering(world: World, placed, t_cross: float, margin_s: float = 0.01,
              valves: tuple[int, int] | None = None) -> ValveCommand:
    pitch = CONFIG.valve_pitch_m
    first = int(placed.y_min_m // pitch)
    last = int((placed.y_max_m - 1e-12) // pitch)
    if valves is not None:
        first, last = valves
    lead = CONFIG.valve_response_time_s
    return ValveCommand(placed.particle.id, first, last, t_cross - margin_s - lead,
                        t_cross + margin_s - lead)


def _setup_hit_test(seed: int = 1):
    world = make_world(speed=1.0, render=False)
    placed = world.place(_particle(world, seed), centroid_m=0.1, col0=200)
    t_cross = placed.centroid_m + CONFIG.scan_to_nozzle_m  # at 1 m/s from x = 0 at t = 0
    return world, placed, t_cross


def test_covering_command_rejects():
    world, placed, t_cross = _setup_hit_test()
    assert world.command_valves(_covering(world, placed, t_cross)) is CommandStatus.ACCEPTED
    run(world, t_cross + 0.2, 0.004)
    [outcome] = world.pop_outcomes()
    assert outcome.bin == Bin.REJECT
    part = placed.particle
    assert (outcome.truth_id, outcome.is_ore, outcome.mass_kg, outcome.grade,
            outcome.mineral_mass_kg) == (part.id, part.is_ore, part.mass_kg, part.grade,
                                         part.mineral_mass_kg)
    assert outcome.scan_time_s == pytest.approx(placed.centroid_m / 1.0, abs=1e-12)
    assert world.counters.valve_commands == 1 and world.counters.late_valve_commands == 0


@pytest.mark.parametrize("case", ["other_side", "too_early", "half_miss"])
def test_missing_command_accepts(case):
    world, placed, t_cross = _setup_hit_test()
    lead = CONFIG.valve_response_time_s
    if case == "other_side":
        command = _covering(world, placed, t_cross, valves=(0, 3))
    elif case == "too_early":  # air stops 1 ms before the centroid arrives
        command = ValveCommand(1, 0, CONFIG.valve_count - 1, t_cross - 0.02 - lead,
                               t_cross - 0.001 - lead)
    else:  # only the valve under the left edge: well under half the width
        first = int(placed.y_min_m // CONFIG.valve_pitch_m)
        command = _covering(world, placed, t_cross, valves=(first, first))
        covered = min((first + 1) * CONFIG.valve_pitch_m, placed.y_max_m) - placed.y_min_m
        assert covered / (placed.y_max_m - placed.y_min_m) < 0.5
    assert world.command_valves(command) is CommandStatus.ACCEPTED
    run(world, t_cross + 0.2, 0.004)
    assert [o.bin for o in world.pop_outcomes()] == [Bin.ACCEPT]


def test_response_time_and_min_open():
    lead = CONFIG.valve_response_time_s
    min_open = CONFIG.valve_min_open_s
    # air comes `lead` after the electrical open and lasts at least min_open: a zero-length
    # command that opens min_open/2 + lead before the crossing still blows at the crossing
    world, placed, t_cross = _setup_hit_test()
    t_open = t_cross - lead - min_open / 2
    world.command_valves(ValveCommand(1, 0, CONFIG.valve_count - 1, t_open, t_open))
    run(world, t_cross + 0.1, 0.004)
    assert [o.bin for o in world.pop_outcomes()] == [Bin.REJECT]
    # the same pulse without the response time would already be over
    world, placed, t_cross = _setup_hit_test()
    t_open = t_cross - min_open - 0.001
    world.command_valves(ValveCommand(1, 0, CONFIG.valve_count - 1, t_open, t_open))
    run(world, t_cross + 0.1, 0.004)
    expected = Bin.REJECT if lead > 0.001 else Bin.ACCEPT
    assert [o.bin for o in world.pop_outcomes()] == [expected]


def test_late_command_is_counted_and_not_executed():
    world, placed, t_cross = _setup_hit_test()
    command = _covering(world, placed, t_cross)
    run(world, command.open_s + 0.001, 0.004)
    assert world.command_valves(command) is CommandStatus.LATE
    run(world, t_cross + 0.2, 0.004)
    assert [o.bin for o in world.pop_outcomes()] == [Bin.ACCEPT]
    assert world.counters.late_valve_commands == 1 and world.counters.valve_commands == 1


def test_bins_wait_for_commands_that_arrived_in_time():
    """A command that reached the controller before its open time (reception stamp) but was
    handed over after the crossing still blows the particle out, within the settle lag."""
    world, placed, t_cross = _setup_hit_test()
    world.bin_decision_lag_s = 0.3
    command = _covering(world, placed, t_cross)
    run(world, t_cross + 0.1, 0.004)
    assert world.pop_outcomes() == []  # not settled yet
    received = command.open_s - 0.002
    assert world.command_valves(command, received_s=received) is CommandStatus.ACCEPTED
    run(world, t_cross + 0.35, 0.004)
    assert [o.bin for o in world.pop_outcomes()] == [Bin.REJECT]
    # without the lag the same late hand-over comes too late: the bin was already settled
    world, placed, t_cross = _setup_hit_test()
    command = _covering(world, placed, t_cross)
    run(world, t_cross + 0.1, 0.004)
    world.command_valves(command, received_s=command.open_s - 0.002)
    run(world, t_cross + 0.35, 0.004)
    assert [o.bin for o in world.pop_outcomes()] == [Bin.ACCEPT]


def test_disarm_cancels_scheduled_pulses():
    """Fail-closed: once the driver disarms, a pulse scheduled earlier no longer fires."""
    world, placed, t_cross = _setup_hit_test()
    command = _covering(world, placed, t_cross)
    assert world.command_valves(command) is CommandStatus.ACCEPTED
    assert world.cancel_valves() == 1
    run(world, t_cross + 0.2, 0.004)
    assert [o.bin for o in world.pop_outcomes()] == [Bin.ACCEPT]


def test_invalid_command_is_dropped():
    world, placed, t_cross = _setup_hit_test()
    bad = dataclasses.replace(_covering(world, placed, t_cross), valve_last=CONFIG.valve_count)
    assert world.command_valves(bad) is CommandStatus.INVALID
    backwards = _covering(world, placed, t_cross)
    backwards = dataclasses.replace(backwards, close_s=backwards.open_s - 0.01)
    assert world.command_valves(backwards) is CommandStatus.INVALID
    assert world.counters.invalid_valve_commands == 2 and world.counters.valve_commands == 2


def test_time_never_runs_backwards():
    world = make_world(speed=1.0, render=False)
    world.step(1.0)
    world.step(0.5)
    assert world.time_s == 1.0 and world.counters.clock_regressions == 1
    assert time_at_position([], 1.0) is None


def _trial(seed: int) -> tuple[list, list]:
    world = make_world(speed=3.0, seed=seed)
    world.set_feeder_drive(0.4)
    run(world, 1.2, 0.004)
    return world.pop_strips(), world.pop_outcomes()


def test_deterministic_by_seed():
    strips_a, outcomes_a = _trial(21)
    strips_b, outcomes_b = _trial(21)
    strips_c, outcomes_c = _trial(22)
    assert len(strips_a) == len(strips_b) > 10
    assert outcomes_a == outcomes_b and len(outcomes_a) >= 3
    for a, b in zip(strips_a, strips_b, strict=True):
        assert np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high)
        assert a.stamp_s == b.stamp_s
    assert outcomes_c != outcomes_a
