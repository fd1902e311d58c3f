"""Particle generator: geometry, mass and grade bookkeeping, composition, determinism."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from sorter.sim_world.feed_particles import (
    FeedSpec,
    ParticleGenerator,
    minor_width_m,
    profile_volume_factor,
)
from sorter.sim_world.world import WorldConfig, world_model
from sorter.xrt_generator.materials import Material, assay_mass_fraction

CELL = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "cell.yaml").read_text())
CONFIG = WorldConfig.from_cell(CELL)
PITCH = float(CELL["detector"]["pixel_pitch_m"])
MODEL = world_model(CONFIG)


def make_generator(feed: FeedSpec | None = None) -> ParticleGenerator:
    return ParticleGenerator(feed or CONFIG.feed, PITCH, MODEL, CONFIG.library)


@pytest.fixture(scope="module")
def sample():
    gen = make_generator()
    rng = np.random.default_rng(11)
    return gen, [gen.generate(rng, i) for i in range(400)]


def test_feed_spec_reads_the_cell():
    feed = FeedSpec.from_cell(CELL)
    assert feed.size_m == tuple(CELL["feed"]["size_m"])
    assert feed.pay_mineral.name == CELL["feed"]["pay_mineral"]
    assert feed.pay_mineral.formula == "CuFeS2"
    assert feed.assay == CELL["feed"]["assay"]
    assert feed.gangue.name == CELL["feed"]["gangue"]
    with pytest.raises(ValueError):
        dataclasses.replace(feed, size_m=(0.02, 0.01))
    # the slice's ad-hoc syntax still reads
    legacy = {**CELL, "feed": {**CELL["feed"], "gangue": {"formula": "SiO2",
                                                          "density_kg_m3": 2650.0}}}
    assert FeedSpec.from_cell(legacy).gangue.density_kg_m3 == 2650.0


def test_mass_is_density_times_thickness_map(sample):
    _, particles = sample
    for part in particles:
        volume = part.thickness_m.sum() * PITCH**2
        assert part.volume_m3 == pytest.approx(volume, rel=1e-12)
        # matrix (with disseminated pay mineral) along t - g, pay-mineral grains along g
        matrix = part.spec.matrix_material()
        pay = part.spec.pay
        matrix_volume = (part.thickness_m - part.grain_path_m).sum() * PITCH**2
        grain_volume = part.grain_path_m.sum() * PITCH**2
        mass = matrix.density_kg_m3 * matrix_volume + pay.density_kg_m3 * grain_volume
        assert part.mass_kg == pytest.approx(mass, rel=1e-9)
        assert part.density_kg_m3 == pytest.approx(mass / volume, rel=1e-9)
        dissem = dict((m.name, f) for m, f in matrix.components).get(pay.name, 0.0)
        pay_mass = pay.density_kg_m3 * (grain_volume + dissem * matrix_volume)
        assert part.mineral_mass_kg == pytest.approx(pay_mass, rel=1e-9, abs=1e-15)
        assert (part.thickness_m >= 0).all() and (part.grain_path_m <= part.thickness_m).all()


def test_size_within_class(sample):
    lo, hi = CELL["feed"]["size_m"]
    diameters = [math.sqrt(4 * p.area_m2 / math.pi) for p in sample[1]]
    # the rasterised footprint's area-equivalent diameter is the drawn size to within half a
    # pixel (edge sampling), so it lies in the sieve class widened by that much
    assert min(diameters) >= lo - PITCH / 2
    assert max(diameters) <= hi + PITCH / 2
    targets = np.array([p.equivalent_diameter_m for p in sample[1]])
    assert np.abs(np.array(diameters) - targets).max() < PITCH / 2
    # uniform in the class: both ends of the class are populated
    assert targets.min() < lo + 0.1 * (hi - lo) and targets.max() > hi - 0.1 * (hi - lo)


def test_profile_volume_and_flatness(sample):
    flat_lo, flat_hi = CELL["feed"]["flatness"]
    p_lo, p_hi = CELL["feed"]["profile_exponent"]
    assert profile_volume_factor(2.0) == pytest.approx(2 / 3, rel=1e-6)  # ellipsoid cap
    for part in sample[1]:
        # t = T (1 - rho^p)^(1/p) over a star-shaped footprint has volume c(p) A T
        p = part.spec.profile_exponent
        assert p_lo <= p <= p_hi
        peak = part.flatness * minor_width_m(part.footprint, PITCH)
        assert part.volume_m3 == pytest.approx(profile_volume_factor(p) * part.area_m2 * peak,
                                               rel=0.06)
        assert part.max_thickness_m <= peak * (1 + 1e-12)
        assert flat_lo <= part.flatness <= flat_hi
        # the map is cropped to the footprint and the centroid lies inside it
        fp = part.footprint
        assert fp[0].any() and fp[-1].any() and fp[:, 0].any() and fp[:, -1].any()
        assert 0 <= part.centroid_row_px <= part.rows - 1
        assert 0 <= part.centroid_col_px <= part.cols - 1


def test_grade_of_pure_chalcopyrite_is_its_copper_fraction():
    feed = dataclasses.replace(CONFIG.feed, ore_number_fraction=1.0, liberated_fraction=0.0,
                               ore_pay_volume_fraction=(1.0, 1.0))
    part = make_generator(feed).generate(np.random.default_rng(0), 1)
    assert part.is_ore
    assert part.grade == pytest.approx(0.3462, abs=5e-4)
    assert part.mineral_mass_kg == pytest.approx(part.mass_kg, rel=1e-9)
    barren = dataclasses.replace(feed, ore_number_fraction=0.0,
                                 waste_pay_volume_fraction=(0.0, 0.0))
    assert make_generator(barren).generate(np.random.default_rng(0), 2).grade == 0.0


def test_grade_and_basis_maps_of_a_mixture(sample):
    _, particles = sample
    w_cu = assay_mass_fraction("CuFeS2", "Cu")
    for part in particles[:50]:
        assert part.grade == pytest.approx(part.mineral_mass_kg * w_cu / part.mass_kg,
                                           rel=1e-9, abs=1e-12)
        # what the detector renders: matrix basis density along t - g, pay along g
        bd_matrix = MODEL.basis_density(part.spec.matrix_material())
        bd_pay = MODEL.basis_density(Material.pure(part.spec.pay))
        expected = (bd_matrix[:, None, None] * (part.thickness_m - part.grain_path_m)
                    + bd_pay[:, None, None] * part.grain_path_m)
        np.testing.assert_allclose(part.basis_kg_m2, expected, rtol=1e-5, atol=1e-6)


def test_classes_follow_the_feed(sample):
    _, particles = sample
    ore_lo, ore_hi = CELL["feed"]["ore_pay_volume_fraction"]
    waste_lo, waste_hi = CELL["feed"]["waste_pay_volume_fraction"]
    n = len(particles)
    ore = [p for p in particles if p.is_ore]
    share = CELL["feed"]["ore_number_fraction"]
    assert abs(len(ore) / n - share) < 4 * math.sqrt(share * (1 - share) / n)
    for part in particles:
        lo, hi = (ore_lo, ore_hi) if part.is_ore else (waste_lo, waste_hi)
        assert lo <= part.spec.pay_volume_fraction <= hi          # drawn
        # rasterised grains are clipped to the rock and sampled on pixels: within 25 %
        assert 0.75 * lo <= part.pay_volume_fraction <= 1.25 * hi
    assert min(p.grade for p in ore) > max(p.grade for p in particles if not p.is_ore)


def test_deterministic_by_seed():
    gen = make_generator()
    a = [gen.generate(np.random.default_rng(5), i) for i in range(3)]
    b = [gen.generate(np.random.default_rng(5), i) for i in range(3)]
    c = gen.generate(np.random.default_rng(6), 0)
    for pa, pb in zip(a, b, strict=True):
        assert np.array_equal(pa.thickness_m, pb.thickness_m)
        assert np.array_equal(pa.basis_kg_m2, pb.basis_kg_m2)
        assert (pa.mass_kg, pa.grade, pa.is_ore) == (pb.mass_kg, pb.grade, pb.is_ore)
    assert c.mass_kg != a[0].mass_kg
