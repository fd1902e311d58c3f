"""Detector model: flat and dark statistics, references, attenuation recovered after dark/flat
correction (against the spectral integration, beam hardening included), the dual-energy
ratio, stacking, clipping and speed."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sorter.sim_world.feed_particles import ParticleGenerator
from sorter.sim_world.line_scanner import Detector, DetectorSpec, ReferenceKind
from sorter.sim_world.world import WorldConfig, world_model
from sorter.xrt_generator.render import corrected_attenuation

CELL = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "cell.yaml").read_text())
CONFIG = WorldConfig.from_cell(CELL)
SPEC = DetectorSpec.from_cell(CELL)
MODEL = world_model(CONFIG)
DIMS = MODEL.table.dims


def make_detector(seed: int = 1, spec: DetectorSpec = SPEC) -> Detector:
    gain_seq, noise_seq = np.random.SeedSequence(seed).spawn(2)
    return Detector(spec, MODEL, np.random.default_rng(gain_seq),
                    np.random.default_rng(noise_seq))


def zeros(lines: int) -> np.ndarray:
    return np.zeros((DIMS, lines, SPEC.pixels), dtype=np.float32)


def crosstalk_noise_factor(c: float) -> float:
    """Variance left in an interior pixel after light sharing with its 4 neighbours."""
    return (1 - 4 * c) ** 2 + 4 * c * c


def test_spec_reads_the_cell():
    d = CELL["detector"]
    assert SPEC.pixels == d["pixels"] and SPEC.lines_per_strip == d["lines_per_strip"]
    assert SPEC.setup.tube.kv == d["tube_kv"]
    assert SPEC.setup.sandwich.filter.formula == d["filter_layer"]["formula"]
    assert SPEC.readout.flat_counts == tuple(d["flat_counts"])
    with pytest.raises(ValueError):
        dataclasses.replace(SPEC.readout, dark_counts=-1.0)
    with pytest.raises(ValueError):
        dataclasses.replace(SPEC, pixels=0)


def test_photon_budget_is_the_reference():
    """~3,500 / ~780 photons per pixel per line (SNR 55 / 26) at 3 mA, 3 m/s, as computed for
    this sorter before the generator was written."""
    low, high = MODEL.flat_photons
    assert low == pytest.approx(3500, rel=0.05) and high == pytest.approx(780, rel=0.05)
    snr_low, snr_high = MODEL.flat_snr
    assert snr_low == pytest.approx(55, rel=0.05) and snr_high == pytest.approx(26, rel=0.05)


def test_flat_strip_statistics():
    det = make_detector()
    lines = 400
    low, high = det.render(zeros(lines))
    assert low.dtype == np.uint16 and low.shape == (lines, SPEC.pixels)
    r = det.renderer
    for channel, raw in ((0, low), (1, high)):
        gain = det.gain[channel]
        # the flat reads flat_counts above dark, times the pixel's gain
        expected = SPEC.readout.dark_counts + gain * SPEC.readout.flat_counts[channel]
        np.testing.assert_allclose(expected, det.expected_counts(channel), rtol=1e-9)
        # compound Poisson: variance m2 (keV^2) in ADC units, shared by crosstalk, plus read
        scale = gain * r.counts_per_kev[channel]
        c = SPEC.readout.crosstalk[channel]
        variance = (scale**2 * r.flat_second_kev2[channel] * crosstalk_noise_factor(c)
                    + SPEC.readout.read_noise_counts**2)
        mean = raw.mean(axis=0)
        z = (mean - expected) / np.sqrt(variance / lines)
        assert np.abs(z[1:-1]).max() < 5.0  # per pixel, photon + read noise tolerance
        assert abs(z.mean()) < 5.0 / math.sqrt(SPEC.pixels)
        inner = raw[1:-1, 1:-1].astype(float).var(axis=0).mean()
        assert inner == pytest.approx(variance[1:-1].mean(), rel=0.1)
        # the per-pixel gain non-uniformity is visible and is gain_spread
        assert np.std(gain) == pytest.approx(SPEC.readout.gain_spread, rel=0.25)


def test_references():
    det = make_detector()
    lines = 1000
    dark_low, dark_high = det.reference(ReferenceKind.DARK, lines)
    flat_low, flat_high = det.reference(ReferenceKind.FLAT, lines)
    for ref in (dark_low, dark_high, flat_low, flat_high):
        assert ref.shape == (1, SPEC.pixels) and ref.dtype == np.uint16
    tol_dark = 5 * SPEC.readout.read_noise_counts / math.sqrt(lines) + 0.5
    assert np.abs(dark_low.astype(float) - SPEC.readout.dark_counts).max() < tol_dark
    assert np.abs(dark_high.astype(float) - SPEC.readout.dark_counts).max() < tol_dark
    r = det.renderer
    for channel, flat in ((0, flat_low), (1, flat_high)):
        scale = det.gain[channel] * r.counts_per_kev[channel]
        sigma = np.sqrt(scale**2 * r.flat_second_kev2[channel]
                        + SPEC.readout.read_noise_counts**2) / math.sqrt(lines)
        z = (flat[0] - det.expected_counts(channel)) / np.sqrt(sigma**2 + 1 / 12)
        assert np.abs(z).max() < 5.0
    with pytest.raises(ValueError):
        det.reference(ReferenceKind.FLAT, 0)


def _particle(is_ore: bool, seed: int = 3):
    feed = dataclasses.replace(CONFIG.feed, ore_number_fraction=1.0 if is_ore else 0.0)
    gen = ParticleGenerator(feed, SPEC.pixel_pitch_m, MODEL, CONFIG.library)
    return gen.generate(np.random.default_rng(seed), 1)


def _strip_with(part, lines: int = 64, col0: int = 100) -> tuple[np.ndarray, tuple]:
    basis = zeros(lines)
    rows = slice(10, 10 + part.rows)
    cols = slice(col0, col0 + part.cols)
    basis[:, rows, cols] = part.basis_kg_m2
    return basis, (rows, cols)


def test_corrected_attenuation_matches_the_spectral_integration():
    det = make_detector(seed=4)
    dark = det.reference(ReferenceKind.DARK, 2000)
    flat = det.reference(ReferenceKind.FLAT, 2000)
    part = _particle(is_ore=False)
    basis, (rows, cols) = _strip_with(part)
    j, c = np.unravel_index(np.argmax(part.thickness_m), part.thickness_m.shape)
    # truth at the thickest pixel: the ray integrated over the spectrum (no table, no blur)
    truth = MODEL.direct_attenuation(part.basis_kg_m2[:, j, c][:, None])[:2, 0]
    # what the detector should show without noise (blur included), from expected counts
    noiseless = [np.log((det.expected_counts(ch)[None, :] - SPEC.readout.dark_counts)
                        / (det.expected_counts(ch, basis) - SPEC.readout.dark_counts))
                 for ch in (0, 1)]
    repeats = 30
    measured = {0: [], 1: []}
    residuals = {0: [], 1: []}
    for _ in range(repeats):
        low, high = det.render(basis)
        for channel, raw in ((0, low), (1, high)):
            a = corrected_attenuation(raw, dark[channel], flat[channel])
            measured[channel].append(a[rows, cols][j, c])
            residuals[channel].append((a - noiseless[channel])[rows, cols][part.footprint])
    for channel in (0, 1):
        # the peak pixel's neighbours are nearly as thick: crosstalk moves it < 1 %
        assert noiseless[channel][rows, cols][j, c] == pytest.approx(truth[channel], rel=0.01)
        photons = MODEL.flat_photons[channel] * math.exp(-truth[channel])
        sigma = 1.2 / math.sqrt(photons)  # photon noise with the spectral Swank factor
        # one render: within noise; the mean of 30: within noise / sqrt(30) (+ blur bias)
        assert abs(measured[channel][0] - truth[channel]) < 5 * sigma + 0.01 * truth[channel]
        assert abs(np.mean(measured[channel]) - truth[channel]) < \
            5 * sigma / math.sqrt(repeats) + 0.01 * truth[channel]
        # and over the whole footprint the correction is unbiased
        res = np.concatenate(residuals[channel])
        assert abs(res.mean()) < 0.01


def test_ratio_of_ore_exceeds_waste():
    det = make_detector(seed=8)
    dark = det.reference(ReferenceKind.DARK, 500)
    flat = det.reference(ReferenceKind.FLAT, 500)
    ratios = {}
    for is_ore in (True, False):
        part = _particle(is_ore)
        basis, (rows, cols) = _strip_with(part)
        low, high = det.render(basis)
        fp = part.footprint
        a_low = corrected_attenuation(low, dark[0], flat[0])[rows, cols][fp].sum()
        a_high = corrected_attenuation(high, dark[1], flat[1])[rows, cols][fp].sum()
        ratios[is_ore] = a_low / a_high
        # polychromatic model: R is what the spectral integration of each ray gives
        direct = MODEL.direct_attenuation(part.basis_kg_m2[:, fp])
        assert ratios[is_ore] == pytest.approx(direct[0].sum() / direct[1].sum(), rel=0.03)
    assert ratios[True] > ratios[False] + 0.1


def test_stacked_particles_harden_and_counts_clip():
    det = make_detector()
    quartz = MODEL.basis_density(CONFIG.feed.gangue) * 0.01  # 10 mm of quartz
    basis = zeros(64)
    basis[:, :, 10:40] = quartz[:, None, None]
    basis[:, :, 60:90] = 2 * quartz[:, None, None]   # two stacked layers
    basis[:, :, 110:140] = 30 * quartz[:, None, None]  # opaque
    low, _ = det.render(basis)
    flat_signal = det.expected_counts(0) - SPEC.readout.dark_counts
    one = (low[:, 12:38].mean(axis=0) - SPEC.readout.dark_counts) / flat_signal[12:38]
    two = (low[:, 62:88].mean(axis=0) - SPEC.readout.dark_counts) / flat_signal[62:88]
    a_one, a_two = -math.log(one.mean()), -math.log(two.mean())
    direct = MODEL.direct_attenuation(np.stack([quartz, 2 * quartz], axis=1))[0]
    assert a_one == pytest.approx(direct[0], rel=0.01)
    assert a_two == pytest.approx(direct[1], rel=0.01)
    assert a_two < 2 * a_one * 0.97  # beam hardening: the second layer attenuates less
    assert abs(low[:, 112:138].mean() - SPEC.readout.dark_counts) < \
        5 * SPEC.readout.read_noise_counts
    hot = dataclasses.replace(SPEC, readout=dataclasses.replace(
        SPEC.readout, flat_counts=(65535.0, 65535.0)))
    saturated, _ = make_detector(spec=hot).render(zeros(2))
    assert saturated.max() == 65535
    with pytest.raises(ValueError):
        det.render(np.zeros((DIMS, 4, 3)))


def test_render_speed():
    """128 x 500 x 2 strips with ~10 particles in view at >= 40 strips/s on one core."""
    det = make_detector()
    basis = zeros(SPEC.lines_per_strip)
    for k in range(10):
        part = _particle(is_ore=k % 3 == 0, seed=20 + k)
        r, c = 5 + 8 * k, 40 * k
        basis[:, r:r + part.rows, c:c + part.cols] += part.basis_kg_m2
    best = math.inf
    for _ in range(5):  # best of 5 batches: robust to other work on a shared machine
        start = time.perf_counter()
        for _ in range(10):
            det.render(basis)
        best = min(best, (time.perf_counter() - start) / 10)
    assert 1.0 / best >= 40.0
