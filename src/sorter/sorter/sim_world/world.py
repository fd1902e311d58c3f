"""The simulated cell, stepped in time by its caller: belt drive and encoder (belt_motion), the
feeder tray and the particles riding the belt (belt_load), the dual-energy line scan
(strip_render), the valve controller and the bins (nozzle_line). This module puts them together
on one clock.

It owns the ground truth; the sorting nodes only ever see what a real cell would give them
(encoder positions, raw strips) and can only act through what a real cell would accept
(speed and drive commands, timestamped valve commands).

Coordinates: a particle's belt coordinate x is the encoder reading at which that point of the
belt is at the scan line. Detector line g is triggered at encoder g * p and samples belt
coordinate g * p; pixel column c samples y = (c + 0.5) * p across the belt. The nozzle line is
`scan_to_nozzle_m` of belt travel after the scan line. No ROS import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sorter.ejector.valve_timeline import ValveCommand
from sorter.sim_world.belt_load import BeltLoad, FeederTray, PlacedParticle
from sorter.sim_world.belt_motion import (
    BeltDrive,
    EncoderSample,
    TrajectoryHistory,
    quantise,
)
from sorter.sim_world.feed_particles import FeedSpec, Particle, ParticleGenerator
from sorter.sim_world.line_scanner import Detector, DetectorSpec
from sorter.sim_world.nozzle_line import Bins, CommandStatus, ValveController
from sorter.sim_world.scorer import Outcome
from sorter.sim_world.strip_render import RenderedStrip, StripScanner
from sorter.xrt_generator.materials import Material, MaterialLibrary, library_for_cell
from sorter.xrt_generator.model import XrayModel, build_model
from sorter.xrt_generator.render import noise_generator


@dataclass(frozen=True)
class WorldConfig:
    """Everything the world needs from the cell, in SI units."""

    detector: DetectorSpec
    feed: FeedSpec
    library: MaterialLibrary
    max_speed_m_s: float
    acceleration_m_s2: float
    encoder_step_m: float
    scan_to_nozzle_m: float
    max_feed_rate_kg_s: float
    tray_time_constant_s: float
    valve_count: int
    valve_pitch_m: float
    valve_response_time_s: float
    valve_min_open_s: float
    spawn_upstream_m: float = 0.5      # where the tray drops particles, before the scan line
    reject_coverage: float = 0.5       # share of a particle's width that air must cover

    @classmethod
    def from_cell(cls, cell: dict[str, Any]) -> WorldConfig:
        belt, valves = cell["belt"], cell["valves"]
        library = library_for_cell(cell)
        return cls(
            detector=DetectorSpec.from_cell(cell),
            feed=FeedSpec.from_cell(cell, library),
            library=library,
            max_speed_m_s=float(belt["max_speed_m_s"]),
            acceleration_m_s2=float(belt["acceleration_m_s2"]),
            encoder_step_m=float(belt["encoder_step_m"]),
            scan_to_nozzle_m=float(cell["geometry"]["scan_to_nozzle_m"]),
            max_feed_rate_kg_s=float(cell["feeder"]["max_feed_rate_kg_h"]) / 3600.0,
            tray_time_constant_s=float(cell["feeder"]["tray_time_constant_s"]),
            valve_count=int(valves["count"]),
            valve_pitch_m=float(valves["pitch_m"]),
            valve_response_time_s=float(valves["response_time_s"]),
            valve_min_open_s=float(valves["min_open_s"]),
        )


@dataclass
class WorldCounters:
    spawned: int = 0
    spawned_mass_kg: float = 0.0
    strips: int = 0
    outcomes: int = 0
    valve_commands: int = 0
    late_valve_commands: int = 0
    invalid_valve_commands: int = 0
    clock_regressions: int = 0     # step() called with a time before the world's time


class World:
    """The cell in motion. Call `step(now_s)` with non-decreasing absolute times; commands
    (`set_belt_speed`, `set_feeder_drive`, `command_valves`) apply from the world's current
    time, so step to the command's time first (the ROS node does)."""

    def __init__(self, config: WorldConfig, seed: int, start_time_s: float = 0.0,
                 belt_speed_m_s: float = 0.0, render_strips: bool = True,
                 bin_decision_lag_s: float = 0.0) -> None:
        """`bin_decision_lag_s`: a particle's bin is settled this long after it crossed the
        nozzle line, so a valve command that reached the controller in time (its reception
        stamp) but was handed to the world late by a busy process still counts."""
        if not (math.isfinite(bin_decision_lag_s) and 0.0 <= bin_decision_lag_s <= 0.9):
            raise ValueError(f"bin_decision_lag_s {bin_decision_lag_s} outside 0..0.9 s")
        self.bin_decision_lag_s = float(bin_decision_lag_s)
        self.config = config
        feed_seq, gain_seq, noise_seq = np.random.SeedSequence(int(seed)).spawn(3)
        det = config.detector
        self.model = world_model(config)
        self.detector = Detector(det, self.model, np.random.default_rng(gain_seq),
                                 noise_generator(noise_seq))
        self.generator = ParticleGenerator(config.feed, det.pixel_pitch_m, self.model,
                                           config.library)
        self.belt = BeltDrive(config.acceleration_m_s2, config.max_speed_m_s, belt_speed_m_s)
        self.feeder = FeederTray(config.max_feed_rate_kg_s, config.tray_time_constant_s)
        self.valves = ValveController(config.valve_count, config.valve_pitch_m,
                                      config.valve_response_time_s, config.valve_min_open_s)
        self.time_s = float(start_time_s)
        self.counters = WorldCounters()
        self.load = BeltLoad(self.generator, np.random.default_rng(feed_seq),
                             det.pixel_pitch_m, det.pixels, config.scan_to_nozzle_m,
                             config.spawn_upstream_m)
        self.scanner = StripScanner(self.detector, self.model.table.dims, det.pixels,
                                    det.pixel_pitch_m, det.lines_per_strip, self.time_s,
                                    enabled=render_strips)
        self.bins = Bins(config.reject_coverage)
        self._outcomes: list[Outcome] = []
        self._history = TrajectoryHistory()

    # -- commands ---------------------------------------------------------------------------
    def set_belt_speed(self, speed_m_s: float) -> None:
        self.belt.set_command(speed_m_s)

    def set_feeder_drive(self, drive: float) -> None:
        self.feeder.set_drive(drive)

    def command_valves(self, command: ValveCommand, received_s: float | None = None
                       ) -> CommandStatus:
        """Hand a command to the valve controller, received at `received_s` (default: now)."""
        status = self.valves.receive(command, self.time_s if received_s is None else received_s)
        self.counters.valve_commands = self.valves.received
        self.counters.late_valve_commands = self.valves.late
        self.counters.invalid_valve_commands = self.valves.invalid
        return status

    def cancel_valves(self) -> int:
        """The valve driver was disarmed: nothing scheduled fires any more (fail-closed)."""
        return self.valves.cancel_pending(self.time_s)

    # -- state ------------------------------------------------------------------------------
    @property
    def render_strips(self) -> bool:
        """Whether completed strips are rendered (False: counted off, nothing rendered)."""
        return self.scanner.enabled

    @render_strips.setter
    def render_strips(self, enabled: bool) -> None:
        self.scanner.enabled = bool(enabled)

    @property
    def position_m(self) -> float:
        return self.belt.position

    @property
    def speed_m_s(self) -> float:
        return self.belt.speed

    @property
    def particles_on_belt(self) -> list[PlacedParticle]:
        return list(self.load.on_belt)

    def position_at(self, t_s: float) -> float:
        """Exact belt position at a past time within the last HISTORY_S seconds (how a drive
        latches encoder counts at regular instants, whenever its host gets to read them)."""
        return self._history.position_at(t_s, self.time_s, self.belt.position)

    def encoder_sample(self, at_s: float | None = None) -> EncoderSample:
        """Encoder latch at `at_s` (default: the world's time), quantised to the encoder step.
        The set-point and running flag are the drive's current status bits."""
        at_s = self.time_s if at_s is None else float(at_s)
        position = quantise(self.position_at(at_s), self.config.encoder_step_m)
        return EncoderSample(at_s, position, self.belt.command, self.belt.speed > 0.0)

    def pop_strips(self) -> list[RenderedStrip]:
        return self.scanner.pop()

    def pop_outcomes(self) -> list[Outcome]:
        outcomes, self._outcomes = self._outcomes, []
        return outcomes

    # -- particles --------------------------------------------------------------------------
    def place(self, particle: Particle, centroid_m: float, col0: int | None = None
              ) -> PlacedParticle:
        """Put a particle on the belt with its centroid at belt coordinate ~centroid_m
        (snapped to the line grid) and its map's first column at detector pixel `col0`
        (uniform across the belt if None)."""
        return self.load.place(particle, centroid_m, col0)

    # -- time -------------------------------------------------------------------------------
    def step(self, now_s: float) -> None:
        """Advance the world to absolute time now_s (no-op if not later than the world)."""
        if not math.isfinite(now_s):
            raise ValueError(f"step time {now_s} is not finite")
        if now_s < self.time_s:
            self.counters.clock_regressions += 1
            return
        dt = now_s - self.time_s
        if dt == 0.0:
            return
        segments = self.belt.advance(self.time_s, dt)
        delivered = self.feeder.advance(dt)
        for particle in self.load.drop(segments, now_s, delivered, self.belt.position):
            self.counters.spawned += 1
            self.counters.spawned_mass_kg += particle.mass_kg
        self.load.scan_crossings(segments)
        self.counters.strips += self.scanner.advance(segments, self.load.on_belt)
        self.bins.crossed(self.load.nozzle_crossings(segments))
        for placed, outcome in self.bins.settle(now_s - self.bin_decision_lag_s, self.valves):
            self._outcomes.append(outcome)
            self.counters.outcomes += 1
            self.load.remove(placed)
        self.time_s = now_s
        self.valves.prune(now_s - 1.0)
        self._history.extend(segments, now_s)

    def basis_maps(self, first_line: int, n_lines: int) -> np.ndarray:
        """Basis areal-density maps (bases, lines, pixels) [kg/m^2] of the particles in
        lines [first_line, first_line + n_lines); stacked particles add."""
        return self.scanner.basis_maps(self.load.on_belt, first_line, n_lines)

    def render(self, first_line: int, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw (low, high) counts of lines [first_line, first_line + n_lines)."""
        return self.scanner.render(self.load.on_belt, first_line, n_lines)


def world_model(config: WorldConfig) -> XrayModel:
    """The X-ray model of the cell's detector, its table covering the feed's minerals (built
    once per setup and feed, then shared)."""
    return build_model(config.detector.setup,
                       [Material.pure(m) for m in config.feed.minerals])


def world_from_cell(cell: dict[str, Any], seed: int | None = None, start_time_s: float = 0.0,
                    **kwargs: Any) -> World:
    """The world a parsed cell YAML describes (yaml.safe_load of config/cell.yaml). `seed`
    defaults to the cell's `feed.seed`; the belt and the feeder start stopped."""
    if seed is None:
        seed = int(cell["feed"].get("seed", 0))
    return World(WorldConfig.from_cell(cell), int(seed), start_time_s=start_time_s, **kwargs)
