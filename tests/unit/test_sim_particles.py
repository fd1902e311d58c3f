"""Particle generator: geometry, mass and grade bookkeeping, composition, determinism."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from sorter import physics
from sorter.sim.particles import FeedSpec, Mineral, ParticleGenerator, minor_width_m

CELL = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "cell.yaml").read_text())
PITCH = float(CELL["detector"]["pixel_pitch_m"])
E_LOW = float(CELL["detector"]["effective_energy_low_kev"])
E_HIGH = float(CELL["detector"]["effective_energy_high_kev"])


def make_generator(feed: FeedSpec | None = None) -> ParticleGenerator:
    return ParticleGenerator(feed or FeedSpec.from_cell(CELL), PITCH, E_LOW, E_HIGH)


@pytest.fixture(scope="module")
def sample():
    gen = make_generator()
    rng = np.random.default_rng(11)
    return gen, [gen.generate(rng, i) for i in range(400)]


def test_feed_spec_reads_the_cell():
    feed = FeedSpec.from_cell(CELL)
    assert feed.size_m == tuple(CELL["feed"]["size_m"])
    assert feed.pay_mineral.formula == CELL["feed"]["pay_mineral"]["formula"]
    assert feed.element == CELL["feed"]["pay_mineral"]["element"]
    with pytest.raises(ValueError):
        dataclasses.replace(feed, size_m=(0.02, 0.01))


def test_mass_is_density_times_thickness_map(sample):
    gen, particles = sample
    feed = gen.feed
    for part in particles:
        f = part.pay_volume_fraction
        rho = (1 - f) * feed.gangue.density_kg_m3 + f * feed.pay_mineral.density_kg_m3
        volume = part.thickness_m.sum() * PITCH**2
        assert part.volume_m3 == pytest.approx(volume, rel=1e-12)
        assert part.mass_kg == pytest.approx(rho * volume, rel=1e-12)
        assert part.density_kg_m3 == pytest.approx(rho, rel=1e-12)
        assert part.mineral_mass_kg == pytest.approx(f * feed.pay_mineral.density_kg_m3 * volume,
                                                     rel=1e-12)
        assert (part.thickness_m >= 0).all()


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


def test_dome_volume_and_flatness(sample):
    flat_lo, flat_hi = CELL["feed"]["flatness"]
    for part in sample[1]:
        # a dome t = T sqrt(1 - rho^2) over any star-shaped footprint has volume 2/3 A T
        peak = part.flatness * minor_width_m(part.footprint, PITCH)
        assert part.volume_m3 == pytest.approx(2 / 3 * part.area_m2 * peak, rel=0.06)
        assert part.max_thickness_m <= peak * (1 + 1e-12)
        assert flat_lo <= part.flatness <= flat_hi
        # the map is cropped to the footprint and the centroid lies inside it
        fp = part.footprint
        assert fp[0].any() and fp[-1].any() and fp[:, 0].any() and fp[:, -1].any()
        assert 0 <= part.centroid_row_px <= part.rows - 1
        assert 0 <= part.centroid_col_px <= part.cols - 1


def test_grade_of_pure_chalcopyrite_is_its_copper_fraction():
    feed = dataclasses.replace(
        FeedSpec.from_cell(CELL), ore_number_fraction=1.0,
        pay_mineral=Mineral("CuFeS2", 4190.0), element="Cu", ore_pay_volume_fraction=(1.0, 1.0))
    part = make_generator(feed).generate(np.random.default_rng(0), 1)
    assert part.is_ore
    assert part.grade == pytest.approx(0.3462, abs=5e-4)
    assert part.mineral_mass_kg == pytest.approx(part.mass_kg, rel=1e-12)
    barren = dataclasses.replace(feed, ore_number_fraction=0.0,
                                 waste_pay_volume_fraction=(0.0, 0.0))
    assert make_generator(barren).generate(np.random.default_rng(0), 2).grade == 0.0


def test_grade_and_attenuation_of_a_mixture(sample):
    gen, particles = sample
    feed = gen.feed
    w_cu = physics.element_mass_fraction(feed.pay_mineral.formula, feed.element)
    g, m = feed.gangue, feed.pay_mineral
    for part in particles[:50]:
        f = part.pay_volume_fraction
        expected = f * m.density_kg_m3 * w_cu / ((1 - f) * g.density_kg_m3 + f * m.density_kg_m3)
        assert part.grade == pytest.approx(expected, rel=1e-12)
        for energy, mu in ((E_LOW, part.mu_low_per_m), (E_HIGH, part.mu_high_per_m)):
            mix = ((1 - f) * physics.linear_attenuation_per_m(g.formula, g.density_kg_m3, energy)
                   + f * physics.linear_attenuation_per_m(m.formula, m.density_kg_m3, energy))
            assert mu == pytest.approx(mix, rel=1e-12)


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
        assert lo <= part.pay_volume_fraction <= hi
    assert min(p.grade for p in ore) > max(p.grade for p in particles if not p.is_ore)


def test_deterministic_by_seed():
    gen = make_generator()
    a = [gen.generate(np.random.default_rng(5), i) for i in range(3)]
    b = [gen.generate(np.random.default_rng(5), i) for i in range(3)]
    c = gen.generate(np.random.default_rng(6), 0)
    for pa, pb in zip(a, b, strict=True):
        assert np.array_equal(pa.thickness_m, pb.thickness_m)
        assert (pa.mass_kg, pa.grade, pa.is_ore) == (pb.mass_kg, pb.grade, pb.is_ore)
    assert c.mass_kg != a[0].mass_kg
