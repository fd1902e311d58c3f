"""The bench's data: strips the simulated cell renders at its belt speed and feed rate, as the
acquisition node's simulated driver receives them, and the detector's dark and flat
references as the simulator's reference service returns them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sorter.bench.timing import CLOCK
from sorter.sim_world.line_scanner import ReferenceKind
from sorter.sim_world.world import World, world_from_cell
from sorter.xrt_acquisition.adapters import strip_to_msg
from sorter.xrt_acquisition.core import FlatFieldCorrector

FEED_SETTLE_TAU = 5.0   # tray time constants to let the mass flow settle before rendering


@dataclass
class Rendered:
    """The simulator's strips and what producing them cost."""

    messages: list[Any]         # raw XrtStrip messages, as sim_world publishes them
    render_s: list[float]       # CPU s the world spent per strip (render + bookkeeping)
    mass_flow_kg_h: float       # what the feed actually delivered while they were rendered
    particles_fed: int
    world: World


def render_strips(cell: dict, count: int) -> Rendered:
    """Run the world at the cell's belt speed with the tray driven to the set feed rate, and
    keep `count` strips. The belt starts at speed and the tray is settled first, so every
    kept strip carries the steady-state load the cell is designed for."""
    speed = float(cell["belt"]["speed_m_s"])
    step_s = float(cell["sim"]["step_s"])
    world = world_from_cell(cell, belt_speed_m_s=speed, render_strips=False)
    drive = float(cell["feeder"]["feed_rate_kg_h"]) / float(cell["feeder"]["max_feed_rate_kg_h"])
    world.set_feeder_drive(min(drive, 1.0))
    # Settle the tray and let the first particles travel from the drop point to the scan line.
    settle = FEED_SETTLE_TAU * world.config.tray_time_constant_s
    settle += world.config.spawn_upstream_m / speed
    t = world.time_s
    while t < settle:
        t += step_s
        world.step(t)
    world.render_strips = True
    world.pop_strips()
    mass0, fed0, t0 = world.counters.spawned_mass_kg, world.counters.spawned, world.time_s
    pitch = world.config.detector.pixel_pitch_m

    messages: list[Any] = []
    render_s: list[float] = []
    pending = 0.0  # world CPU time not yet attributed to a strip
    while len(messages) < count:
        t += step_s
        started = CLOCK()
        world.step(t)
        pending += CLOCK() - started
        new = world.pop_strips()
        if new:
            render_s += [pending / len(new)] * len(new)
            # the sim_world node's conversion (not timed: the simulator's side of the hop)
            messages += [strip_to_msg(s, s.low, s.high, pitch, corrected=False) for s in new]
            pending = 0.0
    del messages[count:], render_s[count:]
    elapsed = world.time_s - t0
    return Rendered(
        messages=messages,
        render_s=render_s,
        mass_flow_kg_h=(world.counters.spawned_mass_kg - mass0) / elapsed * 3600.0,
        particles_fed=world.counters.spawned - fed0,
        world=world,
    )


def flat_field(world: World, reference_lines: int) -> FlatFieldCorrector:
    """The acquisition node's calibration: `reference_lines` averaged lines of dark and flat
    from the detector, as the simulator's reference service returns them."""
    dark = world.detector.reference(ReferenceKind.DARK, reference_lines)
    flat = world.detector.reference(ReferenceKind.FLAT, reference_lines)
    return FlatFieldCorrector(dark[0], dark[1], flat[0], flat[1])
