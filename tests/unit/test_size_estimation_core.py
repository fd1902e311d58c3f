"""SizeEstimator: footprint geometry against drawn shapes, mass against a known slab."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sorter.physics import linear_attenuation_per_m, mass_attenuation_m2_kg
from sorter.size_estimation.core import (
    SizeEstimator,
    SizingConfig,
    areal_density_kg_m2,
    hull_geometry,
)

try:
    from . import synthetic
except ImportError:  # tests/unit is not a package: pytest put its directory on sys.path
    import synthetic

PX = 0.0008  # m
RHO_Q = 2650.0


def estimator() -> SizeEstimator:
    return SizeEstimator(SizingConfig("SiO2", RHO_Q, 0.86, 100.0))


def test_disc_of_known_diameter():
    # The footprint is the union of the pixel squares whose centres lie in the disc: it pokes
    # out of the disc by up to half a pixel diagonal, so its Feret max exceeds d by 1-1.41 px
    # (the pixel square's projection on the diagonal); its Feret min and equivalent diameter
    # stay within a pixel (0.3 px) of d.
    rng = np.random.default_rng(0)
    for radius_px in (4.0, 6.0, 12.5, 25.0, 40.0):
        r = radius_px * rng.uniform(0.97, 1.03)
        cy, cx = rng.uniform(0, 1, 2)
        n = int(r) + 2
        yy, xx = np.mgrid[-n : n + 1, -n : n + 1]
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)
        d = 2 * r * PX
        m = estimator().measure(mask, mask * np.float32(0.3), PX, PX)
        assert m.area_m2 == pytest.approx(math.pi * (d / 2) ** 2, rel=0.03)
        assert m.equivalent_diameter_m == pytest.approx(d, abs=0.3 * PX)
        assert d <= m.feret_max_m <= d + 1.42 * PX
        assert m.feret_min_m == pytest.approx(d, abs=PX)
        assert m.feret_min_m <= m.feret_max_m
        assert m.rect_width_m <= m.rect_length_m <= m.feret_max_m
        assert m.rect_length_m == pytest.approx(d, abs=1.5 * PX)
        assert m.pixel_count == int(mask.sum())


def test_axis_aligned_rectangle():
    mask = np.zeros((40, 100), np.uint8)
    mask[5:35, 10:90] = 1  # 30 x 80 px
    m = estimator().measure(mask, mask * 0.2, PX, PX)
    assert m.area_m2 == pytest.approx(30 * 80 * PX**2)
    assert m.feret_max_m == pytest.approx(math.hypot(30, 80) * PX, rel=1e-9)
    assert m.feret_min_m == pytest.approx(30 * PX, rel=1e-9)
    assert m.rect_length_m == pytest.approx(80 * PX, rel=1e-9)
    assert m.rect_width_m == pytest.approx(30 * PX, rel=1e-9)
    assert m.rect_area_estimate_m2 == pytest.approx(0.86 * 80 * 30 * PX**2, rel=1e-9)
    assert abs(m.rect_angle_rad) < 1e-9  # long side across the belt


def test_rotated_rectangle():
    # pixels whose centre lies in a 70 x 24 px rectangle turned by 30 degrees; the pixel
    # squares add up to cos 30 + sin 30 = 1.37 px to each side's caliper
    length, width, angle = 70.0, 24.0, math.radians(30)
    yy, xx = np.mgrid[0:120, 0:120] - 60.0
    u = xx * math.cos(angle) + yy * math.sin(angle)
    v = -xx * math.sin(angle) + yy * math.cos(angle)
    mask = ((np.abs(u) <= length / 2) & (np.abs(v) <= width / 2)).astype(np.uint8)
    m = estimator().measure(mask, mask * np.float32(0.2), PX, PX)
    spill = (math.cos(angle) + math.sin(angle)) * PX
    assert length * PX - 0.5 * PX <= m.rect_length_m <= length * PX + spill
    assert width * PX - 0.5 * PX <= m.rect_width_m <= width * PX + spill
    assert m.feret_min_m == pytest.approx(m.rect_width_m, abs=1e-12)
    diag = math.hypot(length, width) * PX
    assert diag - 0.5 * PX <= m.feret_max_m <= diag + math.sqrt(2) * PX
    assert abs(m.rect_angle_rad - angle) < math.radians(2)  # y axis across, x along
    # the OIR method's area estimate from the rectangle (docs/references.md)
    assert m.rect_area_estimate_m2 == pytest.approx(0.86 * m.rect_length_m * m.rect_width_m)


def test_anisotropic_pixels_are_measured_in_metres():
    # 20 lines x 40 pixels with 1.0 mm lines and 0.5 mm pixels: a 20 mm x 20 mm square
    mask = np.ones((20, 40), np.uint8)
    g = hull_geometry(mask, pixel_along_m=0.001, pixel_across_m=0.0005)
    assert g.feret_min_m == pytest.approx(0.020, rel=1e-9)
    assert g.feret_max_m == pytest.approx(0.020 * math.sqrt(2), rel=1e-9)
    assert g.rect_length_m == pytest.approx(0.020) and g.rect_width_m == pytest.approx(0.020)
    m = estimator().measure(mask, mask * 0.1, 0.001, 0.0005)
    assert m.area_m2 == pytest.approx(4e-4)


def test_single_pixel_is_one_pixel_square():
    g = hull_geometry(np.ones((1, 1), np.uint8), PX, PX)
    assert g.feret_min_m == pytest.approx(PX) and g.feret_max_m == pytest.approx(PX * math.sqrt(2))


def test_mass_of_a_quartz_slab_from_its_attenuation():
    rng = np.random.default_rng(4)
    t = 0.012
    rows, cols = 40, 55
    scene = synthetic.Scene(rows, cols)
    scene.add(synthetic.slab(rows, cols, t), 0, 0, linear_attenuation_per_m("SiO2", RHO_Q, 55.0),
              linear_attenuation_per_m("SiO2", RHO_Q, 100.0))
    _low, high = scene.render(rng)  # photon noise on a_H
    mask = np.ones((rows, cols), np.uint8)
    m = estimator().measure(mask, high, PX, PX)
    area = rows * cols * PX**2
    assert m.mass_kg == pytest.approx(RHO_Q * t * area, rel=0.01)
    assert m.volume_m3 == pytest.approx(t * area, rel=0.01)
    assert m.areal_density_kg_m2 == pytest.approx(RHO_Q * t, rel=0.01)


def test_areal_density_helper():
    mu = mass_attenuation_m2_kg("SiO2", 100.0)
    assert areal_density_kg_m2(0.5, mu) == pytest.approx(0.5 / mu)
    arr = areal_density_kg_m2(np.array([0.1, 0.2], np.float32), mu)
    assert arr.dtype == np.float64 and arr[1] == pytest.approx(0.2 / mu)
    with pytest.raises(ValueError, match="mass attenuation"):
        areal_density_kg_m2(0.5, 0.0)


def test_invalid_inputs_raise_value_errors():
    est = estimator()
    mask = np.ones((5, 5), np.uint8)
    a = np.full((5, 5), 0.2, np.float32)
    with pytest.raises(ValueError, match="shape"):
        est.measure(mask, a[:, :4], PX, PX)
    with pytest.raises(ValueError, match="empty"):
        est.measure(np.zeros_like(mask), a, PX, PX)
    bad = a.copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match=r"non-finite.*row 1, col 2"):
        est.measure(mask, bad, PX, PX)
    with pytest.raises(ValueError, match="pixel_along_m"):
        est.measure(mask, a, 0.0, PX)
    with pytest.raises(ValueError, match="pixel_across_m"):
        est.measure(mask, a, PX, math.nan)
    with pytest.raises(ValueError, match="2-D"):
        est.measure(mask[0], a[0], PX, PX)


@pytest.mark.parametrize("cfg,match", [
    (SizingConfig("SiO2", 0.0, 0.86, 100.0), "reference_density"),
    (SizingConfig("SiO2", RHO_Q, 1.5, 100.0), "rectangle_area_factor"),
    (SizingConfig("SiO2", RHO_Q, 0.86, 0.0), "energy"),
    (SizingConfig("NotAFormula(", RHO_Q, 0.86, 100.0), "formula"),
])
def test_bad_config_is_rejected(cfg, match):
    with pytest.raises(ValueError, match=match):
        SizeEstimator(cfg)
