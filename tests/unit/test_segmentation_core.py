"""StripSegmenter: splitting touching particles, exact-once stitching, gaps, jams, validation.

All scenes are drawn (tests/unit/synthetic.py) with quartz attenuation at the cell's effective
energies and photon noise, then cut into strips the way the acquisition node delivers them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sorter.physics import linear_attenuation_per_m
from sorter.segmentation.core import SegmentationConfig, SegmentationResult, Strip
from sorter.segmentation.stitching import StripSegmenter
from sorter.segmentation.watershed import split_touching

try:
    from . import synthetic
except ImportError:  # tests/unit is not a package: pytest put its directory on sys.path
    import synthetic

PITCH = 0.0008  # m, across and along (lines are encoder-triggered every 0.8 mm)
PERIOD = PITCH / 2.0  # s per line at 2 m/s
T0 = 1000.0  # s, stamp of the first line of strip 0
ENC0 = 12.5  # m, encoder at the first line of strip 0
LINES = 128
MU_L = linear_attenuation_per_m("SiO2", 2650.0, 55.0)
MU_H = linear_attenuation_per_m("SiO2", 2650.0, 100.0)


def config(**overrides) -> SegmentationConfig:
    values = dict(attenuation_threshold=0.06, min_area_px=20, split_min_distance_px=5,
                  max_carry_strips=4, pixel_pitch_m=PITCH)
    values.update(overrides)
    return SegmentationConfig(**values)


def strip(low: np.ndarray, high: np.ndarray, k: int, lines: int = LINES,
          index: int | None = None) -> Strip:
    """Strip k of a scene (rows k*lines .. (k+1)*lines), stamps/encoder continuous."""
    rows = slice(k * lines, (k + 1) * lines)
    return Strip(index=k if index is None else index, stamp_s=T0 + k * lines * PERIOD,
                 encoder_m=ENC0 + k * lines * PITCH, line_pitch_m=PITCH, line_period_s=PERIOD,
                 low=low[rows], high=high[rows])


def run(seg: StripSegmenter, low, high, lines: int = LINES) -> list[SegmentationResult]:
    return [seg.push(strip(low, high, k, lines)) for k in range(low.shape[0] // lines)]


def all_particles(results):
    return [p for r in results for p in r.particles]


def row_of(encoder_m: float) -> float:
    """Scene line index (line r spans encoder [r, r + 1) * PITCH) of an encoder position."""
    return (encoder_m - ENC0) / PITCH


# --------------------------------------------------------------------------- splitting
def test_two_touching_discs_are_split_into_two():
    rng = np.random.default_rng(3)
    scene = synthetic.Scene(LINES, 200)
    a = scene.add(synthetic.disc(12, 0.012), 30, 40, MU_L, MU_H)
    b = scene.add(synthetic.disc(12, 0.012), 30, 60, MU_L, MU_H)  # centres 20 px apart
    low, high = scene.render(rng)
    result = StripSegmenter(config()).push(strip(low, high, 0))
    assert len(result.particles) == 2
    assert all(p.touching for p in result.particles)
    found = sorted((row_of(p.centroid_encoder_m) - 0.5, p.centroid_y_m / PITCH - 0.5)
                   for p in result.particles)
    truth = sorted([a.centroid_rc, b.centroid_rc])
    for (fr, fc), (tr, tc) in zip(found, truth, strict=True):
        assert abs(fr - tr) < 1.0 and abs(fc - tc) < 1.5
    # the cut goes through the neck: each half holds about half the pixels
    areas = sorted(p.area_px for p in result.particles)
    assert areas[0] > 0.8 * areas[1]


def test_seeds_closer_than_min_distance_merge():
    rng = np.random.default_rng(3)
    scene = synthetic.Scene(LINES, 200)
    scene.add(synthetic.disc(12, 0.012), 30, 40, MU_L, MU_H)
    scene.add(synthetic.disc(12, 0.012), 30, 60, MU_L, MU_H)
    low, high = scene.render(rng)
    result = StripSegmenter(config(split_min_distance_px=25)).push(strip(low, high, 0))
    assert len(result.particles) == 1 and not result.particles[0].touching


def test_rough_isolated_rocks_are_not_oversplit():
    rng = np.random.default_rng(11)
    scene = synthetic.random_scene(rng, 4 * LINES, 500, 40, MU_L, MU_H, radius_px=(6, 18),
                                   margin_rows=3)
    low, high = scene.render(rng)
    particles = all_particles(run(StripSegmenter(config()), low, high))
    assert len(particles) == 40
    assert not any(p.touching for p in particles)


def test_split_touching_keeps_every_pixel():
    mask = np.zeros((40, 70), bool)
    yy, xx = np.mgrid[:40, :70]
    mask |= (yy - 20) ** 2 + (xx - 20) ** 2 <= 14**2
    mask |= (yy - 20) ** 2 + (xx - 44) ** 2 <= 14**2
    pieces = split_touching(mask, 5, 0.75, 20, h_rel=0.15)
    assert len(pieces) == 2
    total = np.zeros(mask.shape, int)
    for piece in pieces:
        total += piece
    assert (total == mask).all()  # a partition: no pixel lost, none in two pieces


# --------------------------------------------------------------------------- stitching
@pytest.mark.parametrize("noise", [False, True])
def test_particle_crossing_a_strip_border_is_reported_once_with_exact_extent(noise):
    # noiseless: extents must be exact to the line; with photon noise an edge pixel may
    # flip (the 0.06 threshold is only ~1.7 sigma of the high channel), so +-1 line
    rng = np.random.default_rng(5)
    scene = synthetic.Scene(2 * LINES, 300)
    # radius 15.5: the extreme rows are 7 px wide, so the 3x3 median cannot remove them
    p = scene.add(synthetic.disc(15.5, 0.010, flat=True), LINES - 12, 100, MU_L, MU_H)
    low, high = scene.render(rng, noise=noise)
    tol = PITCH * (1.01 if noise else 1e-9)
    seg = StripSegmenter(config())
    first = seg.push(strip(low, high, 0))
    assert first.particles == [] and first.carried_rows > 0
    second = seg.push(strip(low, high, 1))
    assert len(second.particles) == 1
    q = second.particles[0]
    r0, r1 = p.rows
    assert q.leading_edge_encoder_m == pytest.approx(ENC0 + r0 * PITCH, abs=tol)
    assert q.trailing_edge_encoder_m == pytest.approx(ENC0 + (r1 + 1) * PITCH, abs=tol)
    assert q.first_line_stamp_s == pytest.approx(T0 + r0 * PERIOD, abs=tol / PITCH * PERIOD)
    assert q.last_line_stamp_s == pytest.approx(T0 + r1 * PERIOD, abs=tol / PITCH * PERIOD)
    rc, cc = p.centroid_rc
    assert row_of(q.centroid_encoder_m) - 0.5 == pytest.approx(rc, abs=0.1 if noise else 1e-6)
    assert q.centroid_y_m / PITCH - 0.5 == pytest.approx(cc, abs=0.1 if noise else 1e-6)
    n_true = int(p.shape.mask.sum())
    assert q.area_px == pytest.approx(n_true, rel=0.02 if noise else 0)
    assert q.strip_index == 1 and not q.truncated and not q.forced_out
    assert q.pixel_along_m == pytest.approx(PITCH) and q.pixel_across_m == PITCH
    # crops hold the strip values inside the mask, 0 outside
    y0 = int(round(row_of(q.leading_edge_encoder_m)))
    x0 = int(round(q.y_min_m / PITCH))
    h, w = q.mask.shape
    window = high[y0 : y0 + h, x0 : x0 + w]
    assert np.array_equal(q.attenuation_high, np.where(q.mask > 0, window, 0).astype(np.float32))
    if not noise:
        assert np.array_equal(q.mask > 0, p.shape.mask)


def test_particle_spanning_three_strips_is_reported_once():
    rng = np.random.default_rng(6)
    scene = synthetic.Scene(4 * LINES, 200)
    bar = synthetic.Shape(mask=np.ones((200, 16), bool), thickness_m=np.full((200, 16), 0.01))
    scene.add(bar, 100, 50, MU_L, MU_H)  # rows 100..299: strips 0, 1, 2
    low, high = scene.render(rng, noise=False)
    results = run(StripSegmenter(config()), low, high)
    counts = [len(r.particles) for r in results]
    assert counts == [0, 0, 1, 0]
    q = results[2].particles[0]
    assert q.leading_edge_encoder_m == pytest.approx(ENC0 + 100 * PITCH, abs=1e-12)
    assert q.trailing_edge_encoder_m == pytest.approx(ENC0 + 300 * PITCH, abs=1e-12)
    assert q.area_px == 200 * 16 - 4  # the 3x3 median takes the 4 corner pixels, nothing else
    assert results[2].forced_out == 0


@pytest.mark.parametrize("lines", [LINES, 37])
def test_long_random_stream_loses_and_duplicates_nothing(lines):
    # 37-line strips: most rocks cross one or two borders, some span three strips
    rng = np.random.default_rng(2024)
    n_strips = -(-30 * LINES // lines)
    scene = synthetic.random_scene(rng, n_strips * lines, 500, 150, MU_L, MU_H,
                                   touching_pairs=15, margin_rows=3)
    low, high = scene.render(rng)
    seg = StripSegmenter(config())
    results = run(seg, low, high, lines)
    particles = all_particles(results)
    truth = np.array([p.centroid_rc for p in scene.particles])
    assert len(particles) == len(scene.particles) == 180
    found = np.array([(row_of(p.centroid_encoder_m) - 0.5, p.centroid_y_m / PITCH - 0.5)
                      for p in particles])
    d = np.hypot(found[:, None, 0] - truth[None, :, 0], found[:, None, 1] - truth[None, :, 1])
    nearest = d.argmin(axis=1)
    assert len(set(nearest.tolist())) == len(truth)  # one-to-one
    assert d.min(axis=1).max() < 2.0
    # each particle comes out of the push that completed it: its last line's strip, or the
    # next one when its last line is a strip's last line
    for p in particles:
        last_strip = int(round(row_of(p.trailing_edge_encoder_m) - 1)) // lines
        assert p.strip_index in (last_strip, last_strip + 1)
    assert sum(r.forced_out for r in results) == 0
    assert seg.counters.particles == 180 and seg.counters.gap_resets == 0
    # occupancy, summed over the strips, counts each particle pixel once
    occupied = sum(r.occupancy * lines * 500 for r in results)
    # (up to noise specks that were open at a strip's end, then fell below min_area)
    assert occupied == pytest.approx(sum(p.area_px for p in particles), rel=3e-3)


# --------------------------------------------------------------------------- gaps and jams
def test_gap_in_strip_index_resets_the_buffer_and_is_counted():
    rng = np.random.default_rng(8)
    scene = synthetic.Scene(4 * LINES, 300)
    scene.add(synthetic.disc(14, 0.01, flat=True), LINES - 10, 40, MU_L, MU_H)  # crosses 0|1
    scene.add(synthetic.disc(14, 0.01, flat=True), 2 * LINES - 10, 150, MU_L, MU_H)  # 1|2
    low, high = scene.render(rng)
    seg = StripSegmenter(config())
    assert seg.push(strip(low, high, 0)).particles == []
    result = seg.push(strip(low, high, 2))  # strip 1 is lost
    assert result.lost_strips == 1
    assert seg.counters.gap_resets == 1 and seg.counters.lost_strips == 1
    # the open disc of strip 0 is flushed (truncated at the end of strip 0), the lower half
    # of the second disc starts strip 2 (truncated at its start); nothing was stitched
    assert len(result.particles) == 2
    flushed = min(result.particles, key=lambda p: p.leading_edge_encoder_m)
    tail = max(result.particles, key=lambda p: p.leading_edge_encoder_m)
    assert flushed.truncated and tail.truncated
    assert flushed.trailing_edge_encoder_m == pytest.approx(ENC0 + LINES * PITCH)
    assert tail.leading_edge_encoder_m == pytest.approx(ENC0 + 2 * LINES * PITCH)
    # the stream goes on normally afterwards
    nxt = seg.push(strip(low, high, 3))
    assert nxt.lost_strips == 0 and seg.counters.gap_resets == 1


def test_jam_is_forced_out_and_counted_and_its_pixels_reported_once():
    rng = np.random.default_rng(9)
    n_strips = 8
    scene = synthetic.Scene(n_strips * LINES, 200)
    length = n_strips * LINES - 30  # rows 10 .. 1003 (strip 7)
    bar = synthetic.Shape(mask=np.ones((length, 10), bool),
                          thickness_m=np.full((length, 10), 0.01))
    scene.add(bar, 10, 80, MU_L, MU_H)
    scene.add(synthetic.disc(10, 0.01, flat=True), 300, 20, MU_L, MU_H)  # an innocent rock
    low, high = scene.render(rng, noise=False)  # exact pixel bookkeeping
    seg = StripSegmenter(config(max_carry_strips=3))
    results = run(seg, low, high)
    forced = [r.forced_out for r in results]
    # rows 10.. span 4 strips at strip 3 -> forced; the continuation (connector row in strip
    # 3) spans 4 strips again at strip 6 -> forced; the rest ends in strip 7
    assert forced == [0, 0, 0, 1, 0, 0, 1, 0]
    assert seg.counters.forced_out == seg.forced_out_total == 2
    pieces = [p for p in all_particles(results) if p.forced_out]
    assert len(pieces) == 3
    # every jam pixel exactly once (but the 4 corners, which the 3x3 median removes)
    assert sum(p.area_px for p in pieces) == length * 10 - 4
    spans = sorted((row_of(p.leading_edge_encoder_m), row_of(p.trailing_edge_encoder_m))
                   for p in pieces)
    assert spans[0][0] == pytest.approx(10)
    assert spans[-1][1] == pytest.approx(10 + length)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start == pytest.approx(end)  # contiguous, no overlap
    # the buffer never held more than max_carry_strips strips
    assert max(r.carried_rows for r in results) <= 3 * LINES
    innocent = [p for p in all_particles(results) if not p.forced_out]
    assert len(innocent) == 1


# --------------------------------------------------------------------------- occupancy
def test_occupancy_and_attenuation_sum():
    low = np.zeros((LINES, 400), np.float32)
    high = np.zeros_like(low)
    high[20:50, 100:140] = 0.5  # 1200 px slab
    low[20:50, 100:140] = 0.8
    high[90:93, 300:303] = 0.5  # 9 px speck: below min_area, not a particle
    raw = StripSegmenter(config(smoothing_px=0))
    result = raw.push(Strip(0, T0, ENC0, PITCH, PERIOD, low, high))
    assert len(result.particles) == 1 and result.dropped_small == 1
    assert result.occupancy == pytest.approx(1200 / (LINES * 400), rel=1e-12)
    assert result.attenuation_high_sum == pytest.approx(1200 * 0.5, rel=1e-6)
    # the 3x3 median takes the four one-pixel corners of the slab: the occupancy follows the
    # particle pixels, whatever the filter
    result = StripSegmenter(config()).push(Strip(0, T0, ENC0, PITCH, PERIOD, low, high))
    assert result.occupancy * LINES * 400 == pytest.approx(result.particles[0].area_px)
    assert result.particles[0].area_px == 1196


# --------------------------------------------------------------------------- validation
def _blank(lines=LINES, pixels=100) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((lines, pixels), np.float32), np.zeros((lines, pixels), np.float32)


def test_invalid_strips_raise_precise_value_errors():
    seg = StripSegmenter(config())
    low, high = _blank()
    bad = high.copy()
    bad[3, 7] = np.nan
    with pytest.raises(ValueError, match=r"high has 1 non-finite.*line 3, pixel 7"):
        seg.push(Strip(0, T0, ENC0, PITCH, PERIOD, low, bad))
    with pytest.raises(ValueError, match="low shape"):
        seg.push(Strip(0, T0, ENC0, PITCH, PERIOD, low[:, :50], high))
    with pytest.raises(ValueError, match="2-D"):
        seg.push(Strip(0, T0, ENC0, PITCH, PERIOD, low[0], high[0]))
    with pytest.raises(ValueError, match="line_pitch_m"):
        seg.push(Strip(0, T0, ENC0, 0.0, PERIOD, low, high))
    with pytest.raises(ValueError, match="stamp_s"):
        seg.push(Strip(0, math.inf, ENC0, PITCH, PERIOD, low, high))
    assert seg.counters.rejected_strips == 5 and seg.counters.strips == 0

    seg.push(Strip(0, T0, ENC0, PITCH, PERIOD, low, high))
    t1, e1 = T0 + LINES * PERIOD, ENC0 + LINES * PITCH
    with pytest.raises(ValueError, match="index 0 repeated"):
        seg.push(Strip(0, t1, e1, PITCH, PERIOD, low, high))
    with pytest.raises(ValueError, match="time going backwards"):
        seg.push(Strip(1, T0 + 10 * PERIOD, e1, PITCH, PERIOD, low, high))
    with pytest.raises(ValueError, match="encoder going backwards"):
        seg.push(Strip(1, t1, ENC0, PITCH, PERIOD, low, high))
    with pytest.raises(ValueError, match="pixels per line"):
        seg.push(Strip(1, t1, e1, PITCH, PERIOD, *_blank(pixels=120)))
    # a rejected strip changed nothing: the next good one follows on without a gap
    result = seg.push(Strip(1, t1, e1, PITCH, PERIOD, low, high))
    assert result.lost_strips == 0 and seg.counters.strips == 2


def test_index_going_backwards_is_rejected():
    seg = StripSegmenter(config())
    low, high = _blank()
    seg.push(Strip(5, T0, ENC0, PITCH, PERIOD, low, high))
    with pytest.raises(ValueError, match="index 4 going backwards"):
        seg.push(Strip(4, T0 + 1.0, ENC0 + 1.0, PITCH, PERIOD, low, high))
    seg.reset()  # after a reset any index is accepted
    assert seg.push(Strip(4, T0 - 1.0, ENC0, PITCH, PERIOD, low, high)).lost_strips == 0


@pytest.mark.parametrize("field,value", [
    ("attenuation_threshold", 0.0), ("attenuation_threshold", math.nan), ("min_area_px", 0),
    ("max_carry_strips", 0), ("pixel_pitch_m", -1.0), ("split_min_distance_px", 2.5),
    ("smoothing_px", 3), ("split_h_rel", 1.0),
])
def test_bad_config_is_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        config(**{field: value})
