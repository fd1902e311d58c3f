"""DualEnergyClassifier on synthetic dual-energy crops with xraylib attenuation (55/100 keV)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sorter.classification.core import ClassifierConfig, DualEnergyClassifier
from sorter.physics import linear_attenuation_per_m

try:
    from . import synthetic
except ImportError:  # tests/unit is not a package: pytest put its directory on sys.path
    import synthetic

E_LOW, E_HIGH = 55.0, 100.0  # config/cell.yaml detector effective energies


def mu_pair(pay_volume_fraction: float) -> tuple[float, float]:
    """Linear attenuation (low, high) of quartz with a volume fraction of chalcopyrite."""
    out = []
    for e in (E_LOW, E_HIGH):
        q = linear_attenuation_per_m("SiO2", 2650.0, e)
        c = linear_attenuation_per_m("CuFeS2", 4190.0, e)
        out.append((1.0 - pay_volume_fraction) * q + pay_volume_fraction * c)
    return out[0], out[1]


def classifier(curve=((0.0, 1.95), (3.0, 1.95)), r_scale=0.06, erosion=1) -> DualEnergyClassifier:
    return DualEnergyClassifier(ClassifierConfig([tuple(p) for p in curve], r_scale, erosion))


def rock(rng, mu_l, mu_h, noise=True):
    """One rock crop: random outline and thickness, rendered with photon noise."""
    shape = synthetic.star_shape(rng.uniform(5, 15), rng.uniform(0.005, 0.025),
                                 aspect=rng.uniform(1.0, 1.7), angle_rad=rng.uniform(0, np.pi),
                                 roughness=0.1, rng=rng)
    scene = synthetic.Scene(*shape.mask.shape)
    scene.add(shape, 0, 0, mu_l, mu_h)
    low, high = scene.render(rng, noise=noise)
    mask = shape.mask.astype(np.uint8)
    return mask, low * mask, high * mask


def test_ratio_of_noiseless_crops_is_the_attenuation_ratio():
    rng = np.random.default_rng(1)
    for f in (0.0, 0.1):
        mu_l, mu_h = mu_pair(f)
        c = classifier().classify(*rock(rng, mu_l, mu_h, noise=False))
        assert c.ratio_r == pytest.approx(mu_l / mu_h, rel=1e-5)


def test_quartz_and_quartz_with_10_percent_chalcopyrite_are_separated():
    rng = np.random.default_rng(2)
    clf = classifier()
    waste = [clf.classify(*rock(rng, *mu_pair(0.0))) for _ in range(40)]
    ore = [clf.classify(*rock(rng, *mu_pair(0.10))) for _ in range(40)]
    assert not any(c.is_ore for c in waste)
    assert all(c.is_ore for c in ore)
    assert max(c.ore_probability for c in waste) < 0.05
    assert min(c.ore_probability for c in ore) > 0.95
    # R sits where the physics puts it: 1.66 for quartz, 2.24 with 10 vol% CuFeS2
    assert np.median([c.ratio_r for c in waste]) == pytest.approx(1.658, abs=0.02)
    assert np.median([c.ratio_r for c in ore]) == pytest.approx(2.240, abs=0.02)


def _uniform(ratio: float, a_h: float = 0.5, size: int = 9):
    mask = np.ones((size, size), np.uint8)
    high = np.full((size, size), a_h, np.float32)
    return mask, high * ratio, high


def test_probability_is_monotone_in_r_and_one_half_on_the_curve():
    clf = classifier()
    ratios = np.linspace(1.5, 2.4, 37)
    p = [clf.classify(*_uniform(r)).ore_probability for r in ratios]
    assert all(b > a for a, b in zip(p, p[1:], strict=False))
    assert clf.classify(*_uniform(1.95)).ore_probability == pytest.approx(0.5, abs=1e-6)
    # logistic width: one r_scale above the curve is logistic(1)
    assert clf.classify(*_uniform(1.95 + 0.06)).ore_probability == pytest.approx(
        1 / (1 + math.exp(-1)), rel=1e-5)
    # far from the curve the probability saturates without overflow
    assert clf.probability(1e6, 0.5) == 1.0 and clf.probability(-1e6, 0.5) == 0.0


def test_threshold_curve_is_interpolated_and_clamped():
    clf = classifier(curve=[(0.2, 1.8), (1.0, 2.2), (2.0, 2.0)])
    assert clf.threshold_at(0.6) == pytest.approx(2.0)
    assert clf.threshold_at(1.5) == pytest.approx(2.1)
    assert clf.threshold_at(0.0) == pytest.approx(1.8)  # clamped below
    assert clf.threshold_at(5.0) == pytest.approx(2.0)  # clamped above
    # through classify: the threshold is taken at the particle's own mean a_H
    c = clf.classify(*_uniform(2.0, a_h=0.6))
    assert c.mean_attenuation_high == pytest.approx(0.6, rel=1e-6)
    assert c.threshold_r == pytest.approx(2.0)
    assert c.ore_probability == pytest.approx(0.5, abs=1e-6)
    c = clf.classify(*_uniform(2.0, a_h=1.0))  # same R, thicker: threshold 2.2 -> waste
    assert not c.is_ore
    single = classifier(curve=[(0.7, 1.9)])
    assert single.threshold_at(0.0) == single.threshold_at(9.0) == pytest.approx(1.9)


def test_edge_pixels_are_left_out_of_r():
    mask = np.ones((10, 12), np.uint8)
    high = np.full(mask.shape, 0.4, np.float32)
    low = high * 2.5
    low[0, :] = low[-1, :] = low[:, 0] = low[:, -1] = 0.4  # partial-volume ring: R = 1
    c = classifier(erosion=1).classify(mask, low, high)
    assert c.ratio_r == pytest.approx(2.5, rel=1e-6)
    assert c.core_pixels == 8 * 10
    full = classifier(erosion=0).classify(mask, low, high)
    assert full.core_pixels == 120 and full.ratio_r < 2.2


def test_tiny_particle_falls_back_to_the_full_mask():
    mask = np.ones((3, 3), np.uint8)
    high = np.full((3, 3), 0.3, np.float32)
    c = classifier(erosion=2).classify(mask, high * 2.0, high)
    assert c.core_pixels == 9 and c.ratio_r == pytest.approx(2.0)


def test_invalid_crops_raise_precise_value_errors():
    clf = classifier()
    mask, low, high = _uniform(2.0)
    with pytest.raises(ValueError, match="crop shapes differ"):
        clf.classify(mask, low[:, :5], high)
    bad = high.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"attenuation_high has 1 non-finite.*row 2, col 3"):
        clf.classify(mask, low, bad)
    with pytest.raises(ValueError, match="empty"):
        clf.classify(np.zeros_like(mask), low, high)
    with pytest.raises(ValueError, match="<= 0"):
        clf.classify(mask, low, np.zeros_like(high))
    with pytest.raises(ValueError, match="2-D"):
        clf.classify(mask[0], low[0], high[0])


@pytest.mark.parametrize("curve,r_scale,erosion,match", [
    ([], 0.06, 1, "at least one"),
    ([(1.0, 1.9), (0.5, 2.0)], 0.06, 1, "sorted"),
    ([(0.5, 1.9), (0.5, 2.0)], 0.06, 1, "sorted"),
    ([(0.0, math.nan)], 0.06, 1, "non-finite"),
    ([(0.0, 1.9)], 0.0, 1, "r_scale"),
    ([(0.0, 1.9)], -1.0, 1, "r_scale"),
    ([(0.0, 1.9)], 0.06, -1, "core_erosion_px"),
    ([(0.0, 1.9, 3.0)], 0.06, 1, "pairs"),
])
def test_bad_config_is_rejected(curve, r_scale, erosion, match):
    with pytest.raises(ValueError, match=match):
        DualEnergyClassifier(ClassifierConfig(curve, r_scale, erosion))
