"""Domain-randomised training scenes: deterministic by seed, labels on the image's pixel
centres and consistent with the footprints, stacked particles attenuating as the sum of their
paths, every draw inside its declared range, and a held-out configuration kept out."""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from sorter.cli import main, parse_args
from sorter.xrt_generator.particle_raster import rasterise
from sorter.xrt_generator.render import LineScanRenderer, ReadoutSpec
from sorter.xrt_generator.scene import paste_basis
from sorter.xrt_generator.training_scenes import (
    LABEL_BOUNDARY,
    LABEL_INTERIOR,
    LABEL_OVERLAP,
    DomainRandomisation,
    TrainingScene,
    TrainingSceneGenerator,
    contacts,
)
from sorter.xrt_generator.training_set import write_training_set

CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
ROOT = Path(__file__).resolve().parents[2]
CELL = yaml.safe_load((ROOT / "config" / "cell.yaml").read_text())
# one belt level and one feed: one response table for the whole module
FAST = DomainRandomisation(belt_thickness_m=(0.004, 0.004), belt_levels=1,
                           lithologies=("copper",), pitch_m=(0.0008, 0.0025),
                           coverage=(0.3, 0.45), overlap_fraction=(0.2, 0.3))


@pytest.fixture(scope="module")
def generator() -> TrainingSceneGenerator:
    return TrainingSceneGenerator(CELL, FAST, lines=96, pixels=96, seed=11)


@pytest.fixture(scope="module")
def scenes(generator: TrainingSceneGenerator) -> list[TrainingScene]:
    return [generator.scene(i) for i in range(4)]


def footprints(ts: TrainingScene) -> list[np.ndarray]:
    return [ts.scene.mask(p) for p in ts.scene.particles]


def test_same_seed_same_arrays(generator: TrainingSceneGenerator, scenes):
    again = TrainingSceneGenerator(CELL, FAST, lines=96, pixels=96, seed=11).scene(2)
    for name in ("low", "high", "references", "instances", "labels", "cover_count"):
        assert np.array_equal(getattr(again, name), getattr(scenes[2], name)), name
    assert again.params == scenes[2].params
    other = TrainingSceneGenerator(CELL, FAST, lines=96, pixels=96, seed=12).scene(2)
    assert other.params != scenes[2].params


def test_labels_follow_the_footprints(scenes):
    for ts in scenes:
        masks = footprints(ts)
        count = np.sum(masks, axis=0)
        top = np.zeros(ts.instances.shape, dtype=np.uint16)
        for k in sorted(range(len(masks)), key=lambda i: ts.scene.particles[i].layer):
            top[masks[k]] = k + 1
        assert np.array_equal(ts.instances, top)            # the top-most particle
        assert np.array_equal(ts.labels > 0, count > 0)
        assert np.array_equal(ts.labels == LABEL_OVERLAP, count >= 2)  # exactly there
        assert (ts.labels == LABEL_OVERLAP).any()
        padded = np.pad(ts.instances, 1, mode="edge")
        neighbours = [padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
        differs = np.any([n != ts.instances for n in neighbours], axis=0)
        assert not differs[ts.labels == LABEL_INTERIOR].any()
        assert differs[ts.labels == LABEL_BOUNDARY].all()
        # the raw image and the labels share one grid: rock wherever a label says so
        assert np.array_equal(ts.scene.basis_kg_m2.sum(axis=0) > 0, count > 0)


def test_footprint_is_sampled_at_pixel_centres(generator: TrainingSceneGenerator):
    drawn = generator.scene(0).scene.particles[0].particle.spec
    disc = replace(drawn, amplitudes=(0.0,) * len(drawn.amplitudes), aspect=1.0,
                   rotation_rad=0.0, equivalent_diameter_m=0.012, grains=())
    model = generator.model(0.004)
    for pa, pc, phase in ((0.0008, 0.0008, (0.3, 0.7)), (0.0012, 0.0005, (0.5, 0.1))):
        part = rasterise(disc, pa, pc, phase, model.basis_density, "Cu")
        half_r, half_c = math.ceil(disc.reach_m / pa) + 1, math.ceil(disc.reach_m / pc) + 1
        u = (np.arange(-half_r, half_r + 1) - phase[0])[:, None] * pa
        v = (np.arange(-half_c, half_c + 1) - phase[1])[None, :] * pc
        inside = u * u + v * v < disc.r0_m ** 2
        rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
        assert np.array_equal(part.footprint, inside[rows[0]:rows[-1] + 1,
                                                     cols[0]:cols[-1] + 1])


def test_stacked_particles_attenuate_more_than_either(generator, scenes):
    ts = next(t for t in scenes if any(p.layer > 0 for p in t.scene.particles))
    top = next(p for p in ts.scene.particles if p.layer > 0)
    below = next(p for p in ts.scene.particles if p.id in top.neighbours)
    shape = ts.instances.shape
    both = ts.scene.mask(top) & ts.scene.mask(below)
    assert both.any()
    model = generator.model(ts.params.belt_thickness_m)
    r = ReadoutSpec.from_cell(CELL)
    renderer = LineScanRenderer(model, replace(r, pixels=shape[1]),
                                np.random.default_rng(0), np.random.default_rng(0))
    dims = model.table.dims
    alone = [paste_basis(shape, [p], dims) for p in (top, below)]
    stack = paste_basis(shape, [top, below], dims)
    assert np.allclose(stack, alone[0] + alone[1])        # paths add, nothing overwritten
    assert np.allclose(ts.scene.basis_kg_m2, paste_basis(shape, ts.scene.particles, dims))

    def a_high(basis: np.ndarray) -> np.ndarray:
        return -np.log(renderer.moments(basis)[1] / model.flat_moments[1])[both]

    assert np.all(a_high(stack) > a_high(alone[0]) + 1e-3)
    assert np.all(a_high(stack) > a_high(alone[1]) + 1e-3)


def test_pitch_randomisation_changes_the_grid(generator, scenes):
    pitches = {ts.params.pitch_across_m for ts in scenes}
    assert len(pitches) == len(scenes)
    for ts in scenes:
        assert ts.scene.spec.pitch_across_m == ts.params.pitch_across_m
        assert all(p.particle.pitch_across_m == ts.params.pitch_across_m
                   for p in ts.scene.particles)
    spec = scenes[0].scene.particles[0].particle.spec
    model = generator.model(0.004)
    fine = rasterise(spec, 0.0005, 0.0005, (0.5, 0.5), model.basis_density, "Cu")
    coarse = rasterise(spec, 0.002, 0.002, (0.5, 0.5), model.basis_density, "Cu")
    ratio = fine.footprint.sum() / coarse.footprint.sum()
    assert 10.0 < ratio < 24.0   # 16 x fewer pixels at 4 x the pitch
    assert fine.mass_kg == pytest.approx(coarse.mass_kg, rel=0.15)


def test_belt_speed_sets_photons_per_pixel(generator, scenes):
    p = scenes[0].params
    base = generator.photons_scale(p)
    assert generator.photons_scale(replace(p, belt_speed_m_s=p.belt_speed_m_s / 2)) == \
        pytest.approx(2 * base)     # a line period twice as long
    assert generator.photons_scale(replace(p, tube_current_a=p.tube_current_a * 3)) == \
        pytest.approx(3 * base)
    assert generator.photons_scale(replace(p, pitch_along_m=p.pitch_along_m * 2)) == \
        pytest.approx(4 * base)     # twice the area and twice the line period
    cell = generator.setup
    same = replace(p, pitch_along_m=cell.pixel_along_m, pitch_across_m=cell.pixel_across_m,
                   tube_current_a=cell.tube.current_a,
                   belt_speed_m_s=cell.pixel_along_m / cell.integration_time_s)
    assert generator.photons_scale(same) == pytest.approx(1.0)


def in_range(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] - 1e-12 <= value <= bounds[1] + 1e-12


def test_every_draw_stays_in_its_range(scenes):
    spec = DomainRandomisation()
    rng = np.random.default_rng(3)
    levels = np.linspace(*spec.belt_thickness_m, spec.belt_levels)
    for _ in range(300):
        p = spec.sample(rng)
        assert in_range(p.pitch_across_m, spec.pitch_m)
        assert in_range(p.pitch_along_m / p.pitch_across_m, spec.pitch_aspect)
        for name in ("belt_speed_m_s", "tube_current_a", "gain_spread", "ore_number_fraction",
                     "coverage", "touching_fraction", "overlap_fraction"):
            assert in_range(getattr(p, name), getattr(spec, name)), name
        assert all(in_range(c, spec.crosstalk) for c in p.crosstalk)
        assert all(in_range(f, spec.flatness) for f in p.flatness)
        assert p.flatness[0] <= p.flatness[1]
        assert in_range(p.size_m[0], spec.fines_m) and in_range(p.size_m[1], spec.coarse_m)
        assert np.isclose(levels, p.belt_thickness_m).any()
        assert p.lithology in spec.lithologies
    for ts in scenes:   # what the scenes were made with, down to every particle
        assert in_range(ts.params.pitch_across_m, FAST.pitch_m)
        for placed in ts.scene.particles:
            assert in_range(placed.particle.flatness, ts.params.flatness)
            assert placed.particle.equivalent_diameter_m <= ts.params.size_m[1] + 1e-12


def test_held_out_configuration_is_excluded():
    train = DomainRandomisation(held_out=(("pitch_m", 0.0012, 0.0016),))
    test = train.for_evaluation()
    rng = np.random.default_rng(5)
    drawn = [train.sample(rng).pitch_across_m for _ in range(400)]
    assert not any(0.0012 <= p <= 0.0016 for p in drawn)
    assert min(drawn) < 0.0012 < 0.0016 < max(drawn)
    assert all(0.0012 <= test.sample(rng).pitch_across_m <= 0.0016 for _ in range(100))
    with pytest.raises(ValueError):
        DomainRandomisation(held_out=(("pitch_m", 0.0001, 0.003),))   # nothing left
    with pytest.raises(ValueError):
        DomainRandomisation(held_out=(("lithologies", 0.0, 1.0),))
    with pytest.raises(ValueError):
        DomainRandomisation().for_evaluation()


@pytest.mark.parametrize("bad", [
    {"pitch_m": (0.002, 0.001)}, {"coverage": (0.1, 0.95)}, {"lithologies": ("gold",)},
    {"touching_fraction": (0.5, 0.8), "overlap_fraction": (0.1, 0.3)},
    {"fines_m": (0.002, 0.02)}, {"crosstalk": (0.0, 0.3)}, {"belt_levels": 0},
])
def test_invalid_randomisation_is_refused(bad):
    with pytest.raises(ValueError):
        DomainRandomisation(**bad)


def test_contacts_flags(scenes):
    every: list[bool] = []
    for ts in scenes:
        touching, overlapped = contacts(ts.scene)
        every += touching
        masks = footprints(ts)
        count = np.sum(masks, axis=0)
        grown = [cv2.dilate(m.astype(np.uint8), CROSS).astype(bool) for m in masks]
        for k, m in enumerate(masks):
            assert overlapped[k] == bool((count[m] >= 2).any())
            assert touching[k] == any(not (m & o).any() and (grown[k] & o).any()
                                      for j, o in enumerate(masks) if j != k)
    assert any(every) and not all(every)


def test_training_set_on_disk(tmp_path: Path):
    out = write_training_set(CELL, FAST, tmp_path / "ts", scenes=2, seed=4, lines=64,
                             pixels=64, progress=False)
    ts = TrainingSceneGenerator(CELL, FAST, lines=64, pixels=64, seed=4).scene(1)
    folder = out / "scenes" / "00001"
    for name, array in (("low", ts.low), ("high", ts.high), ("labels", ts.labels),
                        ("instances", ts.instances), ("references", ts.references)):
        image = cv2.imread(str(folder / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert image is not None and image.dtype == array.dtype
        assert np.array_equal(image, array), name
    instances = list(csv.DictReader((out / "instances.csv").open()))
    particles = list(csv.DictReader((out / "particles.csv").open()))
    assert len(instances) == len(particles) > 0
    assert len(list(csv.DictReader((out / "scenes.csv").open()))) == 2
    assert (out / "TRAINING.md").read_text().startswith("# sorter X-ray training set")


def test_cli_parses_training_set():
    args = parse_args(["xray", "training-set", "--out", "x", "--scenes", "3", "--seed", "2",
                       "--lines", "64", "--preset", "lithium"])
    assert (args.scenes, args.seed, args.lines, args.preset) == (3, 2, 64, "lithium")
    with pytest.raises(SystemExit):
        main(["xray", "training-set", "--out", "x", "--preset", "gold"])
