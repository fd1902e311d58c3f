"""The simulated cell, stepped in time by its caller: belt drive and encoder, feeder tray,
particles riding the belt, the dual-energy line scan, the valve controller and the bins.

It owns the ground truth; the sorting nodes only ever see what a real cell would give them
(encoder positions, raw strips) and can only act through what a real cell would accept
(speed and drive commands, timestamped valve commands).

Kinematics are exact for the model: the belt speed follows its command with a constant
acceleration limit (piecewise-constant acceleration), so encoder position is integrated in
closed form and every event time (a strip's first line, a centroid reaching the scan line or
the nozzle line, a particle spawning) is solved from that trajectory rather than rounded to
the step. Particles ride the belt without slip in this model; slip after landing (FINDINGS:
up to metres at high speed) and flight are the job of the MuJoCo backend, a later issue.

Coordinates: a particle's belt coordinate x is the encoder reading at which that point of the
belt is at the scan line. Detector line g is triggered at encoder g * p and samples belt
coordinate g * p; pixel column c samples y = (c + 0.5) * p across the belt. The nozzle line is
`scan_to_nozzle_m` of belt travel after the scan line. No ROS import.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sorter.sim_world.line_scanner import Detector, DetectorSpec
from sorter.sim_world.feed_particles import FeedSpec, Particle, ParticleGenerator
from sorter.sim_world.scorer import Bin, Outcome
from sorter.xrt_generator.materials import Material, MaterialLibrary, library_for_cell
from sorter.xrt_generator.model import XrayModel, build_model
from sorter.xrt_generator.render import noise_generator

HISTORY_S = 1.0  # belt trajectory kept for encoder latches in the past


@dataclass(frozen=True)
class Segment:
    """A piece of belt trajectory with constant acceleration, from absolute time t0."""

    t0: float
    x0: float
    v0: float
    accel: float
    duration: float

    @property
    def x_end(self) -> float:
        return self.position(self.duration)

    def position(self, tau: float) -> float:
        return self.x0 + self.v0 * tau + 0.5 * self.accel * tau * tau

    def time_at(self, x: float) -> float:
        """Absolute time at which this segment reaches x (x0 <= x <= x_end assumed)."""
        d = max(0.0, x - self.x0)
        if d == 0.0:
            return self.t0
        disc = max(0.0, self.v0 * self.v0 + 2.0 * self.accel * d)
        den = self.v0 + math.sqrt(disc)  # 2d / (v0 + sqrt(.)) is stable for both signs of a
        tau = self.duration if den <= 0.0 else min(self.duration, 2.0 * d / den)
        return self.t0 + tau


def time_at_position(segments: list[Segment], x: float) -> float | None:
    """First time the trajectory is at or past x; None if it does not get there. A target
    already behind the start is due at the start."""
    if not segments:
        return None
    if x <= segments[0].x0:
        return segments[0].t0
    for seg in segments:
        if seg.x_end >= x:
            return seg.time_at(x)
    return None


def position_at_time(segments: list[Segment], t: float) -> float:
    for seg in segments:
        if t <= seg.t0 + seg.duration:
            return seg.position(min(max(t - seg.t0, 0.0), seg.duration))
    return segments[-1].x_end


class BeltDrive:
    """Belt speed follows its command, limited to +-acceleration (a VFD ramp)."""

    def __init__(self, acceleration_m_s2: float, max_speed_m_s: float, speed_m_s: float = 0.0,
                 position_m: float = 0.0) -> None:
        if not acceleration_m_s2 > 0.0 or not max_speed_m_s > 0.0:
            raise ValueError("belt acceleration and max speed must be positive")
        self.acceleration = float(acceleration_m_s2)
        self.max_speed = float(max_speed_m_s)
        self.speed = self._check(speed_m_s)
        self.command = self.speed
        self.position = float(position_m)

    def _check(self, speed: float) -> float:
        speed = float(speed)
        if not (math.isfinite(speed) and 0.0 <= speed <= self.max_speed):
            raise ValueError(f"belt speed {speed} outside 0..{self.max_speed} m/s")
        return speed

    def set_command(self, speed_m_s: float) -> None:
        self.command = self._check(speed_m_s)

    def advance(self, t0: float, dt: float) -> list[Segment]:
        """Move dt seconds from t0; return the trajectory pieces (one or two)."""
        segments: list[Segment] = []
        gap = self.command - self.speed
        if gap != 0.0:
            accel = math.copysign(self.acceleration, gap)
            ramp = min(dt, abs(gap) / self.acceleration)
            segments.append(Segment(t0, self.position, self.speed, accel, ramp))
            self.position = segments[-1].x_end
            self.speed = self.command if ramp < dt else self.speed + accel * ramp
            t0, dt = t0 + ramp, dt - ramp
        if dt > 0.0:
            segments.append(Segment(t0, self.position, self.speed, 0.0, dt))
            self.position = segments[-1].x_end
        return segments


class FeederTray:
    """Vibrating tray: mass flow lags drive * max_rate with a first-order time constant."""

    def __init__(self, max_rate_kg_s: float, time_constant_s: float) -> None:
        if not max_rate_kg_s >= 0.0 or not time_constant_s >= 0.0:
            raise ValueError("feeder max rate and time constant must be >= 0")
        self.max_rate = float(max_rate_kg_s)
        self.tau = float(time_constant_s)
        self.drive = 0.0
        self.flow_kg_s = 0.0

    def set_drive(self, drive: float) -> None:
        drive = float(drive)
        if not (math.isfinite(drive) and 0.0 <= drive <= 1.0):
            raise ValueError(f"feeder drive {drive} outside 0..1")
        self.drive = drive

    def advance(self, dt: float) -> float:
        """Mass delivered onto the belt over dt (exact integral of the lagged flow)."""
        target = self.drive * self.max_rate
        if self.tau == 0.0:
            self.flow_kg_s = target
            return target * dt
        decay = math.exp(-dt / self.tau)
        mass = target * dt + (self.flow_kg_s - target) * self.tau * (1.0 - decay)
        self.flow_kg_s = target + (self.flow_kg_s - target) * decay
        return max(mass, 0.0)


@dataclass(frozen=True)
class ValveCommand:
    """A timestamped pulse request, as sorter_interfaces/EjectCommand carries it."""

    particle_id: int
    valve_first: int
    valve_last: int
    open_time_s: float    # electrical open command time [s]
    close_time_s: float   # electrical close command time [s]


class CommandStatus(enum.Enum):
    ACCEPTED = "accepted"
    LATE = "late"
    INVALID = "invalid"


class ValveController:
    """Executes valve commands in absolute time. Air flows at the nozzle from
    open + response_time to max(close, open + min_open) + response_time. A command that arrives
    after its open time is late: counted and dropped (fail-closed, never fired late)."""

    def __init__(self, count: int, pitch_m: float, response_time_s: float,
                 min_open_s: float) -> None:
        if count < 1 or not pitch_m > 0.0 or response_time_s < 0.0 or min_open_s < 0.0:
            raise ValueError("invalid valve bar description")
        self.count = int(count)
        self.pitch_m = float(pitch_m)
        self.response_time_s = float(response_time_s)
        self.min_open_s = float(min_open_s)
        self.received = 0
        self.late = 0
        self.invalid = 0
        self._pulses: list[tuple[float, float, int, int]] = []  # air start, air end, first, last

    def receive(self, command: ValveCommand, received_s: float) -> CommandStatus:
        self.received += 1
        c = command
        if not (math.isfinite(c.open_time_s) and math.isfinite(c.close_time_s)
                and 0 <= c.valve_first <= c.valve_last < self.count
                and c.close_time_s >= c.open_time_s):
            self.invalid += 1
            return CommandStatus.INVALID
        if received_s > c.open_time_s:
            self.late += 1
            return CommandStatus.LATE
        close = max(c.close_time_s, c.open_time_s + self.min_open_s)
        self._pulses.append((c.open_time_s + self.response_time_s,
                             close + self.response_time_s, c.valve_first, c.valve_last))
        return CommandStatus.ACCEPTED

    def air(self, t: float) -> np.ndarray:
        """Which nozzles blow at time t."""
        blowing = np.zeros(self.count, dtype=bool)
        for start, end, first, last in self._pulses:
            if start <= t < end:
                blowing[first:last + 1] = True
        return blowing

    def coverage(self, t: float, y_min_m: float, y_max_m: float) -> float:
        """Fraction of [y_min, y_max] under blowing nozzles at time t (nozzle v spans
        [v * pitch, (v + 1) * pitch) from the left belt edge)."""
        width = y_max_m - y_min_m
        if width <= 0.0:
            return 0.0
        edges = np.arange(self.count + 1) * self.pitch_m
        overlap = np.clip(np.minimum(edges[1:], y_max_m) - np.maximum(edges[:-1], y_min_m),
                          0.0, None)
        return float(overlap[self.air(t)].sum() / width)

    def cancel_pending(self, now_s: float) -> int:
        """Fail closed (the driver was disarmed): pulses not yet started are dropped and those
        blowing close now, air stopping one response time later. Returns pulses affected."""
        kept, affected = [], 0
        for start, end, first, last in self._pulses:
            if start > now_s + self.response_time_s:
                affected += 1
                continue
            stop = min(end, now_s + self.response_time_s)
            affected += stop < end
            kept.append((start, stop, first, last))
        self._pulses = kept
        return affected

    def prune(self, before_s: float) -> None:
        """Forget pulses whose air ended before `before_s`."""
        self._pulses = [p for p in self._pulses if p[1] >= before_s]


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
class PlacedParticle:
    """A particle on the belt: its map's row 0 is detector line `line0`, column 0 is detector
    pixel `col0`."""

    particle: Particle
    line0: int
    col0: int
    centroid_m: float          # belt coordinate of the footprint centroid
    y_min_m: float
    y_max_m: float
    scan_time_s: float = math.nan

    @property
    def line_end(self) -> int:
        return self.line0 + self.particle.rows

    @property
    def centroid_y_m(self) -> float:
        return (self.col0 + self.particle.centroid_col_px + 0.5) * self.particle.pitch_m


@dataclass(frozen=True)
class RenderedStrip:
    """One raw dual-energy strip, as the detector hands it to acquisition."""

    index: int
    stamp_s: float             # time the encoder passed the strip's first line
    encoder_m: float           # encoder position of the first line
    line_pitch_m: float
    line_period_s: float       # mean time between lines in this strip
    low: np.ndarray = field(repr=False)    # (lines, pixels) uint16 raw counts
    high: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class EncoderSample:
    stamp_s: float             # latch time
    position_m: float          # quantised to the encoder step
    speed_setpoint_m_s: float
    running: bool


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
        self._crossed: list[tuple[float, PlacedParticle]] = []
        self.config = config
        feed_seq, gain_seq, noise_seq = np.random.SeedSequence(int(seed)).spawn(3)
        self._feed_rng = np.random.default_rng(feed_seq)
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
        self.render_strips = render_strips
        self.time_s = float(start_time_s)
        self.counters = WorldCounters()
        self._pitch = det.pixel_pitch_m
        self._lines = det.lines_per_strip
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._next_particle = self.generator.generate(self._feed_rng, next(self._ids))
        self._mass_accumulated = 0.0
        self._on_belt: list[PlacedParticle] = []
        self._scan_queue: list[tuple[float, int, PlacedParticle]] = []
        self._nozzle_queue: list[tuple[float, int, PlacedParticle]] = []
        self._next_strip = 0
        self._strip_first_time: float | None = self.time_s  # the belt starts at line 0
        self._strips: list[RenderedStrip] = []
        self._outcomes: list[Outcome] = []
        self._history: deque[Segment] = deque()

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
    def position_m(self) -> float:
        return self.belt.position

    @property
    def speed_m_s(self) -> float:
        return self.belt.speed

    @property
    def particles_on_belt(self) -> list[PlacedParticle]:
        return list(self._on_belt)

    def position_at(self, t_s: float) -> float:
        """Exact belt position at a past time within the last HISTORY_S seconds (how a drive
        latches encoder counts at regular instants, whenever its host gets to read them)."""
        if t_s > self.time_s or (self._history and t_s < self._history[0].t0) \
                or (not self._history and t_s != self.time_s):
            raise ValueError(f"time {t_s} outside the kept trajectory")
        if t_s == self.time_s or not self._history:
            return self.belt.position
        for seg in reversed(self._history):  # latches are nearly always in the last step
            if seg.t0 <= t_s:
                return seg.position(min(t_s - seg.t0, seg.duration))
        return self._history[0].x0

    def encoder_sample(self, at_s: float | None = None) -> EncoderSample:
        """Encoder latch at `at_s` (default: the world's time), quantised to the encoder step.
        The set-point and running flag are the drive's current status bits."""
        at_s = self.time_s if at_s is None else float(at_s)
        step = self.config.encoder_step_m
        position = self.position_at(at_s)
        if step > 0.0:
            position = math.floor(position / step + 1e-9) * step
        return EncoderSample(at_s, position, self.belt.command, self.belt.speed > 0.0)

    def pop_strips(self) -> list[RenderedStrip]:
        strips, self._strips = self._strips, []
        return strips

    def pop_outcomes(self) -> list[Outcome]:
        outcomes, self._outcomes = self._outcomes, []
        return outcomes

    # -- particles --------------------------------------------------------------------------
    def place(self, particle: Particle, centroid_m: float, col0: int | None = None
              ) -> PlacedParticle:
        """Put a particle on the belt with its centroid at belt coordinate ~centroid_m
        (snapped to the line grid) and its map's first column at detector pixel `col0`
        (uniform across the belt if None)."""
        p = self._pitch
        pixels = self.config.detector.pixels
        if particle.cols > pixels:
            raise ValueError("particle wider than the belt")
        if col0 is None:
            col0 = int(self._feed_rng.integers(0, pixels - particle.cols + 1))
        if not 0 <= col0 <= pixels - particle.cols:
            raise ValueError(f"col0 {col0} puts the particle off the belt")
        line0 = round(centroid_m / p - particle.centroid_row_px)
        placed = PlacedParticle(
            particle=particle, line0=line0, col0=col0,
            centroid_m=(line0 + particle.centroid_row_px) * p,
            y_min_m=col0 * p, y_max_m=(col0 + particle.cols) * p,
        )
        seq = next(self._seq)
        self._on_belt.append(placed)
        heapq.heappush(self._scan_queue, (placed.centroid_m, seq, placed))
        heapq.heappush(self._nozzle_queue,
                       (placed.centroid_m + self.config.scan_to_nozzle_m, seq, placed))
        return placed

    def _spawn(self, segments: list[Segment], t_end: float, delivered: float) -> None:
        self._mass_accumulated += delivered
        mean_flow = delivered / max(t_end - segments[0].t0, 1e-12) if segments else 0.0
        while self._mass_accumulated >= self._next_particle.mass_kg:
            particle = self._next_particle
            self._mass_accumulated -= particle.mass_kg
            # the tray delivered the rest of the mass after this particle dropped: back-date
            t_drop = t_end - (self._mass_accumulated / mean_flow if mean_flow > 0.0 else 0.0)
            x_drop = position_at_time(segments, t_drop) if segments else self.belt.position
            self.place(particle, x_drop + self.config.spawn_upstream_m)
            self.counters.spawned += 1
            self.counters.spawned_mass_kg += particle.mass_kg
            self._next_particle = self.generator.generate(self._feed_rng, next(self._ids))

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
        self._spawn(segments, now_s, delivered)
        self._scan_events(segments)
        self._render_due(segments)
        self._nozzle_events(segments)
        self._settle_bins(now_s - self.bin_decision_lag_s)
        self.time_s = now_s
        self.valves.prune(now_s - 1.0)
        self._history.extend(segments)
        while self._history and self._history[0].t0 + self._history[0].duration \
                < now_s - HISTORY_S:
            self._history.popleft()

    def _scan_events(self, segments: list[Segment]) -> None:
        x_end = segments[-1].x_end
        while self._scan_queue and self._scan_queue[0][0] <= x_end:
            x, _, placed = heapq.heappop(self._scan_queue)
            placed.scan_time_s = time_at_position(segments, x)  # type: ignore[assignment]

    def _nozzle_events(self, segments: list[Segment]) -> None:
        x_end = segments[-1].x_end
        while self._nozzle_queue and self._nozzle_queue[0][0] <= x_end:
            x, _, placed = heapq.heappop(self._nozzle_queue)
            t = time_at_position(segments, x)
            assert t is not None  # x <= x_end
            self._crossed.append((t, placed))

    def _settle_bins(self, until_s: float) -> None:
        """Bin every particle that crossed the nozzle line at or before `until_s`, by the air
        that was blowing at its crossing."""
        due = [(t, placed) for t, placed in self._crossed if t <= until_s]
        if not due:
            return
        self._crossed = [(t, placed) for t, placed in self._crossed if t > until_s]
        for t, placed in due:
            cover = self.valves.coverage(t, placed.y_min_m, placed.y_max_m)
            bin_ = Bin.REJECT if cover >= self.config.reject_coverage else Bin.ACCEPT
            part = placed.particle
            self._outcomes.append(Outcome(
                truth_id=part.id, is_ore=part.is_ore, mass_kg=part.mass_kg, grade=part.grade,
                mineral_mass_kg=part.mineral_mass_kg, bin=bin_, scan_time_s=placed.scan_time_s,
            ))
            self.counters.outcomes += 1
            self._on_belt.remove(placed)

    def _render_due(self, segments: list[Segment]) -> None:
        p, n_lines = self._pitch, self._lines
        while True:
            first_line = self._next_strip * n_lines
            if self._strip_first_time is None:
                self._strip_first_time = time_at_position(segments, first_line * p)
                if self._strip_first_time is None:
                    return
            t_last = time_at_position(segments, (first_line + n_lines - 1) * p)
            if t_last is None:
                return
            t_first = self._strip_first_time
            if self.render_strips:
                low, high = self.render(first_line, n_lines)
                self._strips.append(RenderedStrip(
                    index=self._next_strip, stamp_s=t_first, encoder_m=first_line * p,
                    line_pitch_m=p, line_period_s=(t_last - t_first) / (n_lines - 1),
                    low=low, high=high,
                ))
                self.counters.strips += 1
            self._next_strip += 1
            self._strip_first_time = None

    def basis_maps(self, first_line: int, n_lines: int) -> np.ndarray:
        """Basis areal-density maps (bases, lines, pixels) [kg/m^2] of the particles in
        lines [first_line, first_line + n_lines); stacked particles add."""
        pixels = self.config.detector.pixels
        basis = np.zeros((self.model.table.dims, n_lines, pixels), dtype=np.float32)
        last = first_line + n_lines
        for placed in self._on_belt:
            if placed.line0 >= last or placed.line_end <= first_line:
                continue
            part = placed.particle
            r0 = max(first_line, placed.line0)
            r1 = min(last, placed.line_end)
            src = part.basis_kg_m2[:, r0 - placed.line0:r1 - placed.line0]
            cols = slice(placed.col0, placed.col0 + part.cols)
            basis[:, r0 - first_line:r1 - first_line, cols] += src
        return basis

    def render(self, first_line: int, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw (low, high) counts of lines [first_line, first_line + n_lines)."""
        return self.detector.render(self.basis_maps(first_line, n_lines))


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
