"""Monitor core: windowed throughput and particle rate, totals, latency percentiles, drops."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from sorter.cell_monitor.core import CellMetricsCore, MetricsSnapshot


def test_throughput_and_particle_rate_over_the_window() -> None:
    core = CellMetricsCore(window_s=10.0)
    # 20 s of 5 particles of 4 g every 0.5 s: 40 g/s = 144 kg/h, 10 particles/s.
    for i in range(40):
        stamp = 100.0 + 0.5 * i
        core.on_scanned(stamp, 5)
        for _ in range(5):
            core.on_measured(stamp, 0.004)
    snap = core.snapshot(now_s=119.5)
    # Window (109.5, 119.5]: stamps 110.0 .. 119.5 = 20 strips, 100 particles, 0.4 kg.
    assert snap.throughput_kg_h == pytest.approx(0.4 / 10.0 * 3600.0)
    assert snap.particles_per_s == pytest.approx(10.0)
    assert snap.particles_scanned == snap.scanned == 200
    assert snap.particles_measured == snap.measured == 200
    assert snap.window_s == 10.0
    # Later, with nothing new, the window empties but the totals stay.
    later = core.snapshot(now_s=140.0)
    assert later.throughput_kg_h == 0.0 and later.particles_per_s == 0.0
    assert later.particles_scanned == 200


def test_window_bounds_are_half_open_and_future_events_excluded() -> None:
    core = CellMetricsCore(window_s=1.0)
    core.on_measured(9.0, 1.0)  # exactly at now - window: out
    core.on_measured(9.5, 2.0)
    core.on_measured(10.0, 4.0)  # exactly now: in
    core.on_measured(10.5, 8.0)  # after now (clock skew): out
    assert core.snapshot(10.0).throughput_kg_h == pytest.approx(6.0 * 3600.0)


def test_rates_during_the_first_window_use_elapsed_time() -> None:
    core = CellMetricsCore(window_s=10.0, start_s=50.0)
    for i in range(20):
        core.on_scanned(50.0 + 0.1 * i, 1)
    assert core.snapshot(52.0).particles_per_s == pytest.approx(10.0)
    assert CellMetricsCore(window_s=10.0, start_s=50.0).snapshot(50.0).particles_per_s == 0.0
    plain = CellMetricsCore(window_s=10.0)
    for i in range(20):
        plain.on_scanned(50.0 + 0.1 * i, 1)
    assert plain.snapshot(52.0).particles_per_s == pytest.approx(2.0)


def test_out_of_order_events_still_count() -> None:
    core = CellMetricsCore(window_s=5.0)
    core.on_measured(10.0, 1.0)
    core.on_measured(8.0, 1.0)  # a slower producer
    core.on_measured(11.0, 1.0)
    assert core.snapshot(11.0).throughput_kg_h == pytest.approx(3.0 / 5.0 * 3600.0)


def test_latency_percentiles_and_decision_totals() -> None:
    core = CellMetricsCore(window_s=10.0)
    latencies = [0.001 * k for k in range(1, 101)]  # 1 .. 100 ms
    kinds = ["eject"] * 30 + ["accept"] * 65 + ["missed"] * 5
    for latency, kind in zip(latencies, kinds, strict=True):
        core.on_decision(10.0, kind, latency)
    snap = core.snapshot(10.0)
    # numpy linear interpolation: p50 = 50.5 ms, p99 = 99.01 ms
    assert snap.latency_p50_s == pytest.approx(0.0505)
    assert snap.latency_p99_s == pytest.approx(0.09901)
    assert snap.latency_samples == 100
    assert (snap.decisions, snap.ejections, snap.accepts, snap.missed_ejections) == (100, 30, 65, 5)
    assert snap.missed == 5  # alias


def test_latency_reservoir_keeps_the_most_recent() -> None:
    core = CellMetricsCore(window_s=10.0, latency_capacity=100)
    for _ in range(1000):
        core.on_decision(1.0, "accept", 1.0)  # an old slow spell
    for k in range(1, 101):
        core.on_decision(2.0, "eject", 0.001 * k)
    snap = core.snapshot(2.0)
    assert snap.latency_samples == 100
    assert snap.latency_p99_s == pytest.approx(0.09901)
    assert snap.decisions == 1100


def test_no_latency_yet_is_nan() -> None:
    snap = CellMetricsCore(window_s=10.0).snapshot(0.0)
    assert math.isnan(snap.latency_p50_s) and math.isnan(snap.latency_p99_s)
    assert snap.latency_samples == 0
    assert math.isnan(snap.belt_speed_m_s) and math.isnan(snap.feed_setpoint_kg_h)


def test_dropped_totals_are_summed_per_source_and_survive_restarts() -> None:
    core = CellMetricsCore(window_s=10.0)
    core.on_dropped("segmentation", 3)
    core.on_dropped("ejector", 2)
    core.on_dropped("segmentation", 5)  # a running total, not an increment
    assert core.snapshot(0.0).dropped_inputs == 7
    assert core.snapshot(0.0).dropped == 7  # alias
    core.on_dropped("segmentation", 1)  # restarted: its 5 are kept
    assert core.snapshot(0.0).dropped_inputs == 5 + 1 + 2


def test_belt_and_feed_pass_through() -> None:
    core = CellMetricsCore(window_s=10.0)
    core.on_belt_speed(2.5)
    core.on_feed_setpoint(150.0)
    snap = core.snapshot(1.0)
    assert isinstance(snap, MetricsSnapshot)
    assert (snap.belt_speed_m_s, snap.feed_setpoint_kg_h) == (2.5, 150.0)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda c: c.on_decision(1.0, "fired", 0.01), "kind"),
        (lambda c: c.on_decision(1.0, "eject", math.nan), "latency_s"),
        (lambda c: c.on_scanned(math.inf, 1), "stamp_s"),
        (lambda c: c.on_scanned(1.0, -1), "count"),
        (lambda c: c.on_measured(1.0, -0.1), "mass_kg"),
        (lambda c: c.on_dropped("", 1), "source"),
        (lambda c: c.on_dropped("x", -1), "count_total"),
    ],
)
def test_invalid_events_rejected_without_effect(
    call: Callable[[CellMetricsCore], None], words: str
) -> None:
    core = CellMetricsCore(window_s=10.0)
    with pytest.raises(ValueError, match=words):
        call(core)
    snap = core.snapshot(1.0)
    assert (snap.decisions, snap.particles_scanned, snap.particles_measured) == (0, 0, 0)
    assert snap.dropped_inputs == 0


def test_memory_bounded_without_snapshots() -> None:
    core = CellMetricsCore(window_s=1.0)
    for i in range(20_000):
        core.on_measured(0.001 * i, 0.001)
    assert len(core._masses) <= 2100  # white box: about two windows are kept
    snap = core.snapshot(19.999)
    assert snap.throughput_kg_h == pytest.approx(1000 * 0.001 * 3600.0, rel=1e-3)


def test_against_numpy_on_random_latencies() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(mean=-4.0, sigma=0.5, size=5000)
    core = CellMetricsCore(window_s=10.0)
    for v in values:
        core.on_decision(0.0, "accept", float(v))
    p50, p99 = core.latency_percentiles((50.0, 99.0))
    assert p50 == pytest.approx(float(np.percentile(values, 50)))
    assert p99 == pytest.approx(float(np.percentile(values, 99)))
