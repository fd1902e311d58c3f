"""Scenes: particles laid on a stretch of belt (free, touching, overlapping) and their truth.

A scene is what one frame of the line scan sees: a (lines x pixels) grid of belt with
particles from a feed. Placement mimics a vibrating feeder's mono-layer: most particles lie
apart, some touch a neighbour (the segmentation's hard case), a few lie partly on another
(their paths add in transmission; the upper one is what a camera sees).

Ground truth per scene: instance map (top-most particle id, 0 = belt), class map, per-pixel
thickness (sum of stacked paths), the full footprint of every particle (overlaps included),
and per particle: kind, mass, volume, density, mineral masses, grade, size and placement.
No ROS import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from sorter.xrt_generator.feed_spec import FeedSpec
from sorter.xrt_generator.materials import MaterialLibrary
from sorter.xrt_generator.model import XrayModel
from sorter.xrt_generator.particle_model import ParticleDrawer
from sorter.xrt_generator.particle_raster import RasterParticle, rasterise

CLASS_IDS = {"waste": 1, "ore": 2, "host_rock": 3}
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)


@dataclass(frozen=True)
class SceneSpec:
    """Frame size and how the feeder lays particles out."""

    lines: int
    pixels: int
    pitch_along_m: float
    pitch_across_m: float
    coverage: float = 0.30            # target share of belt area under particle footprints
    touching_fraction: float = 0.20   # share of particles laid against another
    overlap_fraction: float = 0.05    # share laid partly on top of another
    max_particles: int = 10000
    size_m: tuple[float, float] | None = None  # sieve class; None = the feed's

    def __post_init__(self) -> None:
        if self.lines < 8 or self.pixels < 8:
            raise ValueError("a scene needs at least 8 x 8 pixels")
        if not (0.0 < self.coverage < 0.9):
            raise ValueError("coverage must be in (0, 0.9)")
        if self.touching_fraction + self.overlap_fraction > 1.0 or \
                min(self.touching_fraction, self.overlap_fraction) < 0.0:
            raise ValueError("touching and overlap fractions must be >= 0 and sum <= 1")


@dataclass
class PlacedParticle:
    """A rasterised particle at (row0, col0) of the frame; `layer` 0 lies on the belt."""

    particle: RasterParticle
    row0: int
    col0: int
    mode: str                 # free | touching | overlapping
    layer: int = 0
    neighbours: list[int] = field(default_factory=list)  # ids touched or overlapped

    @property
    def id(self) -> int:
        return self.particle.id

    @property
    def window(self) -> tuple[slice, slice]:
        p = self.particle
        return slice(self.row0, self.row0 + p.rows), slice(self.col0, self.col0 + p.cols)


@dataclass
class Scene:
    """Basis maps for the renderer plus every truth map and record."""

    spec: SceneSpec
    particles: list[PlacedParticle]
    basis_kg_m2: np.ndarray       # (bases, lines, pixels) float32
    thickness_m: np.ndarray       # (lines, pixels) float32, stacked paths added
    instances: np.ndarray         # (lines, pixels) int32, top-most particle id, 0 = belt
    classes: np.ndarray           # (lines, pixels) uint8, CLASS_IDS of the top-most
    grain_path_m: np.ndarray      # (lines, pixels) float32, pay-mineral grain path

    def mask(self, placed: PlacedParticle) -> np.ndarray:
        """Full footprint of one particle in frame coordinates (hidden parts included)."""
        out = np.zeros(self.instances.shape, dtype=bool)
        out[placed.window] = placed.particle.footprint
        return out


def _fits(occupied: np.ndarray, placed_fp: np.ndarray, r0: int, c0: int) -> bool:
    rows, cols = placed_fp.shape
    if r0 < 0 or c0 < 0 or r0 + rows > occupied.shape[0] or c0 + cols > occupied.shape[1]:
        return False
    return not occupied[r0:r0 + rows, c0:c0 + cols][placed_fp].any()


def compose(feed: FeedSpec, model: XrayModel, spec: SceneSpec, rng: np.random.Generator,
            library: MaterialLibrary | None = None, first_id: int = 1) -> Scene:
    """Lay particles from `feed` on a frame until `coverage` is reached (deterministic for a
    given rng state)."""
    drawer = ParticleDrawer(feed, spec.size_m)
    shape = (spec.lines, spec.pixels)
    occupied = np.zeros(shape, dtype=bool)    # footprints grown by one pixel (a gap)
    owner = np.zeros(shape, dtype=np.int32)   # footprint owner (for touching neighbours)
    placed: list[PlacedParticle] = []
    covered, target = 0, spec.coverage * spec.lines * spec.pixels
    min_d = 1.5 * max(spec.pitch_along_m, spec.pitch_across_m)
    misses = 0
    next_id = first_id
    while covered < target and len(placed) < spec.max_particles and misses < 200:
        part = rasterise(drawer.draw(rng, next_id, min_diameter_m=min_d), spec.pitch_along_m,
                         spec.pitch_across_m, rng.random(2), model.basis_density, feed.assay,
                         library)
        fp = part.footprint
        if fp.shape[0] >= spec.lines or fp.shape[1] >= spec.pixels:
            misses += 1
            continue
        u = rng.random()
        mode = "free"
        if placed and u < spec.overlap_fraction:
            mode = "overlapping"
        elif placed and u < spec.overlap_fraction + spec.touching_fraction:
            mode = "touching"
        where = _position(mode, part, placed, occupied, owner, rng)
        if where is None and mode != "free":
            mode = "free"
            where = _position(mode, part, placed, occupied, owner, rng)
        if where is None:
            misses += 1
            continue
        r0, c0, layer, neighbours = where
        p = PlacedParticle(part, r0, c0, mode, layer, neighbours)
        placed.append(p)
        window = p.window
        grown = cv2.dilate(np.pad(fp, 1).astype(np.uint8), _CROSS).astype(bool)
        gr = slice(max(r0 - 1, 0), min(r0 + fp.shape[0] + 1, spec.lines))
        gc = slice(max(c0 - 1, 0), min(c0 + fp.shape[1] + 1, spec.pixels))
        occupied[gr, gc] |= grown[gr.start - r0 + 1:gr.stop - r0 + 1,
                                  gc.start - c0 + 1:gc.stop - c0 + 1]
        owner[window][fp] = part.id
        covered += int(fp.sum())
        next_id += 1
        misses = 0
    return _assemble(spec, placed, model.table.dims)


def _position(mode: str, part: RasterParticle, placed: list[PlacedParticle],
              occupied: np.ndarray, owner: np.ndarray, rng: np.random.Generator
              ) -> tuple[int, int, int, list[int]] | None:
    fp = part.footprint
    rows, cols = fp.shape
    lines, pixels = occupied.shape
    if mode == "free":
        for _ in range(40):
            r0 = int(rng.integers(0, lines - rows + 1))
            c0 = int(rng.integers(0, pixels - cols + 1))
            if _fits(occupied, fp, r0, c0):
                return r0, c0, 0, []
        return None
    other = placed[int(rng.integers(0, len(placed)))]
    theta = float(rng.uniform(0.0, 2.0 * math.pi))
    centre_r = other.row0 + other.particle.centroid_row_px
    centre_c = other.col0 + other.particle.centroid_col_px
    if mode == "overlapping":
        reach = 0.5 * (other.particle.rows + other.particle.cols + rows + cols) / 2.0
        dist = float(rng.uniform(0.35, 0.6)) * reach
        r0 = round(centre_r + dist * math.sin(theta) - part.centroid_row_px)
        c0 = round(centre_c + dist * math.cos(theta) - part.centroid_col_px)
        if r0 < 0 or c0 < 0 or r0 + rows > lines or c0 + cols > pixels:
            return None
        below = [int(b) for b in np.unique(owner[r0:r0 + rows, c0:c0 + cols][fp]) if b != 0]
        if not below:
            return None
        layer = 1 + max(p.layer for p in placed if p.id in below)
        return r0, c0, layer, below
    # touching: slide outwards from the other's centre until the gap opens, then stop
    for step in range(0, 2 * (rows + cols + other.particle.rows + other.particle.cols)):
        r0 = round(centre_r + step * math.sin(theta) - part.centroid_row_px)
        c0 = round(centre_c + step * math.cos(theta) - part.centroid_col_px)
        if r0 < 0 or c0 < 0 or r0 + rows > lines or c0 + cols > pixels:
            return None
        if not owner[r0:r0 + rows, c0:c0 + cols][fp].any() and _touches(owner, fp, r0, c0):
            touched = _touched_ids(owner, fp, r0, c0)
            return r0, c0, 0, touched
    return None


def _ring(owner: np.ndarray, fp: np.ndarray, r0: int, c0: int) -> np.ndarray:
    grown = cv2.dilate(np.pad(fp, 1).astype(np.uint8), _CROSS).astype(bool)
    rows, cols = grown.shape
    lines, pixels = owner.shape
    ring = np.zeros(owner.shape, dtype=bool)
    rr = slice(max(r0 - 1, 0), min(r0 - 1 + rows, lines))
    cc = slice(max(c0 - 1, 0), min(c0 - 1 + cols, pixels))
    ring[rr, cc] = grown[rr.start - r0 + 1:rr.stop - r0 + 1, cc.start - c0 + 1:cc.stop - c0 + 1]
    return ring


def _touches(owner: np.ndarray, fp: np.ndarray, r0: int, c0: int) -> bool:
    return bool(owner[_ring(owner, fp, r0, c0)].any())


def _touched_ids(owner: np.ndarray, fp: np.ndarray, r0: int, c0: int) -> list[int]:
    ids = np.unique(owner[_ring(owner, fp, r0, c0)])
    return [int(i) for i in ids if i != 0]


def paste_basis(shape: tuple[int, int], placed: list[PlacedParticle], dims: int) -> np.ndarray:
    """Basis maps of a frame from placed particles (what a simulator does per frame; the
    particles were rasterised once, when drawn)."""
    basis = np.zeros((dims, *shape), dtype=np.float32)
    for p in placed:
        basis[(slice(None), *p.window)] += p.particle.basis_kg_m2
    return basis


def _assemble(spec: SceneSpec, placed: list[PlacedParticle], dims: int) -> Scene:
    shape = (spec.lines, spec.pixels)
    basis = np.zeros((dims, *shape), dtype=np.float32)
    thickness = np.zeros(shape, dtype=np.float32)
    grain = np.zeros(shape, dtype=np.float32)
    instances = np.zeros(shape, dtype=np.int32)
    classes = np.zeros(shape, dtype=np.uint8)
    for p in sorted(placed, key=lambda q: q.layer):  # upper layers paint over lower ones
        part, window = p.particle, p.window
        fp = part.footprint
        basis[(slice(None), *window)] += part.basis_kg_m2
        thickness[window] += part.thickness_m.astype(np.float32)
        grain[window] += part.grain_path_m.astype(np.float32)
        instances[window][fp] = part.id
        classes[window][fp] = CLASS_IDS[part.spec.kind]
    return Scene(spec, placed, basis, thickness, instances, classes, grain)


def albedo_map(scene: Scene) -> np.ndarray:
    """Per-pixel surface colour (float RGB) of the top-most particle: its matrix colour,
    tinted by the pay mineral where grains reach a large share of the path."""
    rgb = np.zeros((*scene.instances.shape, 3), dtype=np.float64)
    for p in sorted(scene.particles, key=lambda q: q.layer):
        part, window = p.particle, p.window
        fp = part.footprint
        matrix = np.asarray(part.spec.matrix_material().color_rgb, dtype=np.float64)
        pay = np.asarray(part.spec.pay.color_rgb, dtype=np.float64)
        share = np.clip(part.grain_path_m / np.maximum(part.thickness_m, 1e-12), 0.0, 1.0)
        colour = matrix[None, None, :] * (1.0 - share[..., None]) + pay * share[..., None]
        rgb[window][fp] = colour[fp]
    return rgb
