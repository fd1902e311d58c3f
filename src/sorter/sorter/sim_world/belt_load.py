"""What rides the simulated belt: the vibrating tray's mass flow, the particles it drops, where
they lie on the detector's line grid, and when their centroids cross the scan line and the
nozzle line. No ROS import.

Particles ride the belt without slip in this model; slip after landing and flight are left to
a physics backend. A particle's belt coordinate x is the encoder reading at which that point of
the belt is at the scan line; its map's row 0 is detector line ``line0`` and column 0 detector
pixel ``col0`` (column c samples y = (c + 0.5) * pitch across the belt).
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass

import numpy as np

from sorter.sim_world.belt_motion import Segment, position_at_time, time_at_position
from sorter.sim_world.feed_particles import Particle, ParticleGenerator


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


class BeltLoad:
    """The particles on the belt, from the tray's drop to the nozzle line. `rng` is the feed's
    random stream: the particles drawn and where across the belt they land."""

    def __init__(self, generator: ParticleGenerator, rng: np.random.Generator,
                 pixel_pitch_m: float, pixels: int, scan_to_nozzle_m: float,
                 spawn_upstream_m: float) -> None:
        self.generator = generator
        self._rng = rng
        self._pitch = pixel_pitch_m
        self._pixels = pixels
        self._scan_to_nozzle_m = scan_to_nozzle_m
        self._spawn_upstream_m = spawn_upstream_m
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._next_particle = generator.generate(rng, next(self._ids))
        self._mass_accumulated = 0.0
        self.on_belt: list[PlacedParticle] = []
        self._scan_queue: list[tuple[float, int, PlacedParticle]] = []
        self._nozzle_queue: list[tuple[float, int, PlacedParticle]] = []

    def place(self, particle: Particle, centroid_m: float, col0: int | None = None
              ) -> PlacedParticle:
        """Put a particle on the belt with its centroid at belt coordinate ~centroid_m
        (snapped to the line grid) and its map's first column at detector pixel `col0`
        (uniform across the belt if None)."""
        p, pixels = self._pitch, self._pixels
        if particle.cols > pixels:
            raise ValueError("particle wider than the belt")
        if col0 is None:
            col0 = int(self._rng.integers(0, pixels - particle.cols + 1))
        if not 0 <= col0 <= pixels - particle.cols:
            raise ValueError(f"col0 {col0} puts the particle off the belt")
        line0 = round(centroid_m / p - particle.centroid_row_px)
        placed = PlacedParticle(
            particle=particle, line0=line0, col0=col0,
            centroid_m=(line0 + particle.centroid_row_px) * p,
            y_min_m=col0 * p, y_max_m=(col0 + particle.cols) * p,
        )
        seq = next(self._seq)
        self.on_belt.append(placed)
        heapq.heappush(self._scan_queue, (placed.centroid_m, seq, placed))
        heapq.heappush(self._nozzle_queue,
                       (placed.centroid_m + self._scan_to_nozzle_m, seq, placed))
        return placed

    def drop(self, segments: list[Segment], t_end: float, delivered_kg: float,
             position_now_m: float) -> list[Particle]:
        """The tray delivered `delivered_kg` over `segments` (ending at `t_end`): drop every
        particle whose mass is now complete, `spawn_upstream_m` before the scan line of where
        the belt was when it fell. Returns the particles dropped."""
        self._mass_accumulated += delivered_kg
        mean_flow = delivered_kg / max(t_end - segments[0].t0, 1e-12) if segments else 0.0
        dropped = []
        while self._mass_accumulated >= self._next_particle.mass_kg:
            particle = self._next_particle
            self._mass_accumulated -= particle.mass_kg
            # the tray delivered the rest of the mass after this particle dropped: back-date
            t_drop = t_end - (self._mass_accumulated / mean_flow if mean_flow > 0.0 else 0.0)
            x_drop = position_at_time(segments, t_drop) if segments else position_now_m
            self.place(particle, x_drop + self._spawn_upstream_m)
            dropped.append(particle)
            self._next_particle = self.generator.generate(self._rng, next(self._ids))
        return dropped

    def scan_crossings(self, segments: list[Segment]) -> None:
        """Stamp each particle whose centroid crossed the scan line during `segments`."""
        x_end = segments[-1].x_end
        while self._scan_queue and self._scan_queue[0][0] <= x_end:
            x, _, placed = heapq.heappop(self._scan_queue)
            placed.scan_time_s = time_at_position(segments, x)  # type: ignore[assignment]

    def nozzle_crossings(self, segments: list[Segment]) -> list[tuple[float, PlacedParticle]]:
        """(time, particle) of each centroid that crossed the nozzle line during `segments`."""
        x_end = segments[-1].x_end
        crossed = []
        while self._nozzle_queue and self._nozzle_queue[0][0] <= x_end:
            x, _, placed = heapq.heappop(self._nozzle_queue)
            t = time_at_position(segments, x)
            assert t is not None  # x <= x_end
            crossed.append((t, placed))
        return crossed

    def remove(self, placed: PlacedParticle) -> None:
        """The particle left the belt (it reached a bin)."""
        self.on_belt.remove(placed)
