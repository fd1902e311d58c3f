"""Training scenes for a learned segmenter: domain-randomised frames with dense labels.

The dataset scenes (dataset.py) copy one cell; a segmenter trained on them alone learns that
cell's pixel size, noise and sparse feed. Here every scene draws its own acquisition and feed
from declared ranges (`DomainRandomisation`): pixel pitch, belt speed (the line period, so the
photons per pixel), tube current, pixel gain spread and crosstalk, belt thickness, particle
flatness, sizes down to fines of a few pixels, lithology (the copper or the spodumene feed),
ore share, belt coverage and the shares of touching and of stacked particles.

Stacked particles add their basis areal densities (scene.compose sums them), so a stack
attenuates as the sum of both paths. Labels are sampled at the same pixel centres as the
image: the instance map (top-most particle), and a class map for instance extraction:
0 belt, 1 particle interior, 2 boundary (the 1-px inner contour of each visible instance),
3 overlap (pixels under two or more footprints; it takes precedence over the boundary).

Scene i of a seed draws from SeedSequence([seed, i]) only, so it is the same however many
scenes are made. No ROS import.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from sorter.cell.description import REPO_CONFIG, load_cell
from sorter.xrt_generator.feed_spec import FeedSpec
from sorter.xrt_generator.materials import Material, MaterialLibrary, library_for_cell
from sorter.xrt_generator.model import XrayModel, XraySetup, build_model
from sorter.xrt_generator.render import (
    LineScanRenderer,
    ReadoutSpec,
    ReferenceKind,
    noise_generator,
)
from sorter.xrt_generator.scene import PlacedParticle, Scene, SceneSpec, compose

PRESET_CELLS = {"copper": "cell.yaml", "lithium": "cell_lithium.yaml"}
PRESETS = {"copper": ("copper",), "lithium": ("lithium",), "mixed": ("copper", "lithium")}
LABEL_BACKGROUND, LABEL_INTERIOR, LABEL_BOUNDARY, LABEL_OVERLAP = 0, 1, 2, 3

Range = tuple[float, float]


@dataclass(frozen=True)
class DomainRandomisation:
    """Ranges every scene's acquisition and feed are drawn from (uniformly).

    Photons per pixel follow from the draws: the detector integrates one line period
    (pitch along / belt speed) at the drawn tube current over the drawn pixel area. The belt
    thickness takes one of `belt_levels` evenly spaced values (each level is its own response
    table). `held_out` names intervals of scalar parameters that training scenes never draw;
    `for_evaluation()` draws only from them."""

    pitch_m: Range = (0.0004, 0.0025)             # across the belt
    pitch_aspect: Range = (1.0, 1.0)              # pitch along travel / pitch across
    belt_speed_m_s: Range = (1.0, 6.0)
    tube_current_a: Range = (0.002, 0.010)
    gain_spread: Range = (0.0, 0.05)
    crosstalk: Range = (0.0, 0.08)                # each channel drawn on its own
    belt_thickness_m: Range = (0.003, 0.008)
    belt_levels: int = 3
    flatness: Range = (0.3, 0.85)                 # a scene's flatness range lies inside
    fines_m: Range = (0.002, 0.008)               # smallest particle diameter of a scene
    coarse_m: Range = (0.012, 0.035)              # largest particle diameter of a scene
    ore_number_fraction: Range = (0.1, 0.6)
    coverage: Range = (0.10, 0.60)
    touching_fraction: Range = (0.15, 0.5)
    overlap_fraction: Range = (0.05, 0.3)
    lithologies: tuple[str, ...] = ("copper", "lithium")
    held_out: tuple[tuple[str, float, float], ...] = ()

    def __post_init__(self) -> None:
        for name in self.range_names():
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi):
                raise ValueError(f"{name} must be a finite range 0 <= lo <= hi, got {lo, hi}")
        checks = {
            "pitch_m": (1e-5, 0.01), "pitch_aspect": (0.25, 4.0), "belt_speed_m_s": (0.05, 20.0),
            "tube_current_a": (1e-5, 0.1), "gain_spread": (0.0, 0.2), "crosstalk": (0.0, 0.19),
            "belt_thickness_m": (0.0, 0.03), "flatness": (0.05, 1.5), "fines_m": (1e-4, 0.05),
            "coarse_m": (1e-4, 0.06), "ore_number_fraction": (0.0, 0.8),
            "coverage": (0.01, 0.8), "touching_fraction": (0.0, 1.0),
            "overlap_fraction": (0.0, 1.0),
        }
        for name, (lo, hi) in checks.items():
            a, b = getattr(self, name)
            if a < lo or b > hi or (a == 0.0 and name in ("pitch_m", "belt_speed_m_s",
                                                           "tube_current_a", "pitch_aspect")):
                raise ValueError(f"{name} {a, b} is outside {lo, hi} (or zero)")
        if self.fines_m[1] > self.coarse_m[0]:
            raise ValueError("fines_m must end at or below where coarse_m starts")
        if self.touching_fraction[1] + self.overlap_fraction[1] > 1.0:
            raise ValueError("touching and overlap fractions may sum to at most 1")
        if self.belt_levels < 1:
            raise ValueError("belt_levels must be >= 1")
        if not self.lithologies or any(x not in PRESET_CELLS for x in self.lithologies):
            raise ValueError(f"lithologies must be among {sorted(PRESET_CELLS)}")
        for name, lo, hi in self.held_out:
            if name not in self.range_names() or name == "belt_thickness_m":
                raise ValueError(f"held_out: {name!r} is not a continuous scalar range")
            a, b = getattr(self, name)
            if not (a <= lo < hi <= b) or (lo <= a and hi >= b):
                raise ValueError(f"held_out {name} ({lo}, {hi}) must lie inside {a, b} and "
                                 "leave part of it to train on")

    @classmethod
    def range_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls)
                     if f.name not in ("belt_levels", "lithologies", "held_out"))

    def for_evaluation(self) -> DomainRandomisation:
        """The held-out configuration: each held-out parameter drawn only from its interval."""
        if not self.held_out:
            raise ValueError("nothing is held out")
        ranges = {name: (lo, hi) for name, lo, hi in self.held_out}
        return replace(self, held_out=(), **ranges)  # type: ignore[arg-type]

    def sample(self, rng: np.random.Generator) -> SceneParameters:
        """One scene's parameters (each in its range, outside any held-out interval)."""
        excluded: dict[str, list[Range]] = {}
        for name, lo, hi in self.held_out:
            excluded.setdefault(name, []).append((lo, hi))

        def draw(name: str) -> float:
            lo, hi = getattr(self, name)
            gaps = excluded.get(name, [])
            for _ in range(10000):
                value = float(rng.uniform(lo, hi))
                if not any(a <= value <= b for a, b in gaps):
                    return value
            raise ValueError(f"{name}: the held-out intervals leave nothing to draw")

        pitch = draw("pitch_m")
        flat = sorted((draw("flatness"), draw("flatness")))
        levels = np.linspace(*self.belt_thickness_m, self.belt_levels)
        return SceneParameters(
            lithology=self.lithologies[int(rng.integers(len(self.lithologies)))],
            pitch_across_m=pitch, pitch_along_m=pitch * draw("pitch_aspect"),
            belt_speed_m_s=draw("belt_speed_m_s"), tube_current_a=draw("tube_current_a"),
            gain_spread=draw("gain_spread"),
            crosstalk=(draw("crosstalk"), draw("crosstalk")),
            belt_thickness_m=float(levels[int(rng.integers(len(levels)))]),
            flatness=(flat[0], flat[1]), size_m=(draw("fines_m"), draw("coarse_m")),
            ore_number_fraction=draw("ore_number_fraction"), coverage=draw("coverage"),
            touching_fraction=draw("touching_fraction"),
            overlap_fraction=draw("overlap_fraction"),
        )


@dataclass(frozen=True)
class SceneParameters:
    """What one training scene was drawn with."""

    lithology: str
    pitch_across_m: float
    pitch_along_m: float
    belt_speed_m_s: float
    tube_current_a: float
    gain_spread: float
    crosstalk: tuple[float, float]
    belt_thickness_m: float
    flatness: tuple[float, float]
    size_m: tuple[float, float]
    ore_number_fraction: float
    coverage: float
    touching_fraction: float
    overlap_fraction: float

    @property
    def integration_time_s(self) -> float:
        """One line period: the encoder triggers a line every pitch of belt travel."""
        return self.pitch_along_m / self.belt_speed_m_s

    def row(self) -> dict[str, Any]:
        """Flat record (scenes.csv)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, tuple):
                for suffix, v in zip(("lo", "hi") if key != "crosstalk" else ("low", "high"),
                                     value, strict=True):
                    out[f"{key}_{suffix}"] = v
            else:
                out[key] = value
        out["integration_time_s"] = self.integration_time_s
        return out


@dataclass
class TrainingScene:
    """A rendered scene, its labels and what it was drawn with."""

    index: int
    params: SceneParameters
    feed: FeedSpec
    scene: Scene
    low: np.ndarray            # (lines, pixels) uint16 raw counts
    high: np.ndarray
    references: np.ndarray     # (4, pixels) uint16: dark low, dark high, flat low, flat high
    instances: np.ndarray      # (lines, pixels) uint16, top-most particle 1..n, 0 belt
    labels: np.ndarray         # (lines, pixels) uint8, LABEL_* classes
    cover_count: np.ndarray    # (lines, pixels) uint8, footprints over each pixel
    photons_scale: float       # photons per pixel relative to the cell's setting


def footprint_count(scene: Scene) -> np.ndarray:
    """How many particle footprints cover each pixel (hidden parts included)."""
    count = np.zeros(scene.instances.shape, dtype=np.uint16)
    for p in scene.particles:
        count[p.window] += p.particle.footprint
    return np.minimum(count, 255).astype(np.uint8)


def renumbered_instances(scene: Scene) -> np.ndarray:
    """Top-most particle per pixel as 1..n in placement order (uint16), 0 = belt."""
    if len(scene.particles) > 65535:
        raise ValueError("more than 65,535 particles in one scene")
    lut = np.zeros(int(scene.instances.max(initial=0)) + 1, dtype=np.uint16)
    for k, p in enumerate(scene.particles):
        lut[p.id] = k + 1
    return lut[scene.instances]


def label_map(instances: np.ndarray, count: np.ndarray) -> np.ndarray:
    """0 belt, 1 interior, 2 inner 4-neighbour contour of each visible instance (the frame
    edge is no contour), 3 where two or more footprints lie."""
    padded = np.pad(instances, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    edge = np.zeros(instances.shape, dtype=bool)
    for dr, dc in ((0, 1), (2, 1), (1, 0), (1, 2)):
        edge |= padded[dr:dr + instances.shape[0], dc:dc + instances.shape[1]] != centre
    labels = np.where(instances > 0, LABEL_INTERIOR, LABEL_BACKGROUND).astype(np.uint8)
    labels[edge & (instances > 0)] = LABEL_BOUNDARY
    labels[count >= 2] = LABEL_OVERLAP
    return labels


def contacts(scene: Scene) -> tuple[list[bool], list[bool]]:
    """Per particle (placement order): touching (another footprint lies 4-adjacent without
    overlapping it) and overlapped (another footprint shares a pixel with it)."""
    parts = scene.particles
    n = len(parts)
    touching, overlapped = [False] * n, [False] * n
    boxes = np.array([(p.row0, p.col0, p.row0 + p.particle.rows, p.col0 + p.particle.cols)
                      for p in parts], dtype=np.int64).reshape(-1, 4)
    for i in range(n):
        r0, c0, r1, c1 = (int(v) for v in boxes[i])
        rest = boxes[i + 1:]
        near = np.flatnonzero((rest[:, 0] <= r1) & (rest[:, 2] >= r0)
                              & (rest[:, 1] <= c1) & (rest[:, 3] >= c0)) + i + 1
        for j in near:
            s0, d0, s1, d1 = (int(v) for v in boxes[j])
            rr = slice(max(min(r0, s0) - 1, 0), max(r1, s1) + 1)
            cc = slice(max(min(c0, d0) - 1, 0), max(c1, d1) + 1)
            a = _local_mask(parts[i], rr, cc, scene.instances.shape)
            b = _local_mask(parts[j], rr, cc, scene.instances.shape)
            if (a & b).any():
                overlapped[i] = overlapped[j] = True
                continue
            grown = a.copy()
            grown[1:] |= a[:-1]
            grown[:-1] |= a[1:]
            grown[:, 1:] |= a[:, :-1]
            grown[:, :-1] |= a[:, 1:]
            if (grown & b).any():
                touching[i] = touching[j] = True
    return touching, overlapped


def _local_mask(placed: PlacedParticle, rr: slice, cc: slice, shape: tuple[int, ...]) -> np.ndarray:
    rows = min(rr.stop, shape[0]) - rr.start
    cols = min(cc.stop, shape[1]) - cc.start
    out = np.zeros((rows, cols), dtype=bool)
    fp = placed.particle.footprint
    r, c = placed.row0 - rr.start, placed.col0 - cc.start
    out[r:r + fp.shape[0], c:c + fp.shape[1]] = fp
    return out


class TrainingSceneGenerator:
    """Domain-randomised scenes of a cell's detector, deterministic by (seed, index)."""

    def __init__(self, cell: Mapping[str, Any], randomisation: DomainRandomisation,
                 lines: int = 256, pixels: int = 256, seed: int = 0,
                 library: MaterialLibrary | None = None) -> None:
        self.cell = cell
        self.randomisation = randomisation
        self.lines, self.pixels, self.seed = int(lines), int(pixels), int(seed)
        self.library = library or library_for_cell(cell)
        self.feeds = {name: FeedSpec.from_cell(load_cell(REPO_CONFIG / PRESET_CELLS[name]),
                                               self.library)
                      for name in randomisation.lithologies}
        minerals = {m.name: m for f in self.feeds.values() for m in f.minerals}
        self._materials = [Material.pure(m) for m in minerals.values()]
        self.setup = XraySetup.from_cell(cell)
        self.base_readout = ReadoutSpec.from_cell(cell)
        self._models: dict[float, XrayModel] = {}

    def model(self, belt_thickness_m: float) -> XrayModel:
        """The response table for a belt thickness (built once per level)."""
        key = round(float(belt_thickness_m), 9)
        if key not in self._models:
            belt = replace(self.setup.beam_path[0], thickness_m=key)
            setup = replace(self.setup, beam_path=(belt, *self.setup.beam_path[1:]))
            self._models[key] = build_model(setup, self._materials)
        return self._models[key]

    def photons_scale(self, params: SceneParameters) -> float:
        """Photons per pixel per line relative to the cell's setup (current x time x area)."""
        s = self.setup
        return (params.tube_current_a * params.integration_time_s * params.pitch_along_m
                * params.pitch_across_m) / (s.tube.current_a * s.integration_time_s
                                            * s.pixel_area_m2)

    def feed(self, params: SceneParameters) -> FeedSpec:
        base = self.feeds[params.lithology]
        ore = min(params.ore_number_fraction, 1.0 - base.host_rock_number_fraction)
        return replace(base, flatness=params.flatness, size_m=params.size_m,
                       ore_number_fraction=ore)

    def scene(self, index: int) -> TrainingScene:
        streams = np.random.SeedSequence([self.seed, int(index)]).spawn(4)
        params = self.randomisation.sample(np.random.default_rng(streams[0]))
        base_model = self.model(params.belt_thickness_m)
        feed = self.feed(params)
        spec = SceneSpec(lines=self.lines, pixels=self.pixels,
                         pitch_along_m=params.pitch_along_m,
                         pitch_across_m=params.pitch_across_m, coverage=params.coverage,
                         touching_fraction=params.touching_fraction,
                         overlap_fraction=params.overlap_fraction, size_m=params.size_m)
        scene = compose(feed, base_model, spec, np.random.default_rng(streams[1]), self.library)
        scale = self.photons_scale(params)
        model = copy.copy(base_model)   # same table; attenuation ratios do not depend on N
        model.photons = base_model.photons * scale
        model.flat_moments = base_model.flat_moments * scale   # both moments are linear in N
        r = self.base_readout
        readout = ReadoutSpec(self.pixels, r.flat_counts, r.dark_counts, r.read_noise_counts,
                              params.gain_spread, params.crosstalk)
        renderer = LineScanRenderer(model, readout, np.random.default_rng(streams[2]),
                                    noise_generator(streams[3]))
        low, high = renderer.render(scene.basis_kg_m2)
        dark = renderer.reference(ReferenceKind.DARK, 256)
        flat = renderer.reference(ReferenceKind.FLAT, 256)
        references = np.vstack([dark[0], dark[1], flat[0], flat[1]])
        count = footprint_count(scene)
        instances = renumbered_instances(scene)
        return TrainingScene(int(index), params, feed, scene, low, high, references, instances,
                             label_map(instances, count), count, scale)
