"""Belt core: speed from quantised, irregularly latched encoder readings; set-point limits."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from sorter.belt.core import EncoderSpeedEstimator, SpeedCommandLimiter

STEP_M = 0.0001  # encoder resolution (cell.yaml belt.encoder_step_m)


def readings(
    position: Callable[[np.ndarray], np.ndarray],
    duration_s: float,
    rng: np.random.Generator,
    t0: float = 0.0,
    period_s: float = 0.005,
    jitter_s: float = 0.0015,
    stamp_noise_s: float = 20e-6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encoder readings latched at irregular instants (period +- jitter), quantised to 0.1 mm,
    with the stamp itself off by a little timing noise. Returns (true_t, stamps, encoder)."""
    gaps = period_s + rng.uniform(-jitter_s, jitter_s, size=int(duration_s / period_s))
    true_t = np.cumsum(gaps)
    encoder = np.floor(position(true_t) / STEP_M) * STEP_M
    stamps = t0 + true_t + rng.normal(0.0, stamp_noise_s, size=true_t.size)
    # Stamp noise must not reorder readings (a latch clock is monotonic).
    stamps = np.maximum.accumulate(stamps + np.arange(stamps.size) * 1e-9)
    return true_t, stamps, encoder


def test_constant_speed_from_quantised_irregular_readings() -> None:
    rng = np.random.default_rng(1)
    _, stamps, encoder = readings(lambda t: 3.0 + 2.0 * t, 2.0, rng)
    estimator = EncoderSpeedEstimator(window_s=0.05)
    errors = []
    for stamp, position in zip(stamps, encoder, strict=True):
        speed = estimator.update(float(stamp), float(position))
        if stamp > 0.06:
            assert speed is not None
            errors.append(speed - 2.0)
    # Differencing two readings would be off by up to 0.1 mm / 3.5 ms = 0.03 m/s.
    assert max(abs(e) for e in errors) < 0.005
    assert abs(float(np.mean(errors))) < 0.001
    assert estimator.speed_m_s == pytest.approx(2.0, abs=0.005)
    assert estimator.latest == (float(stamps[-1]), float(encoder[-1]))


def test_ramp_recovered_at_the_window_mean_time() -> None:
    # Drive ramp 1 -> 5 m/s at 4 m/s^2 (cell.yaml acceleration limit).
    rng = np.random.default_rng(2)
    a, v0 = 4.0, 1.0
    _, stamps, encoder = readings(lambda t: v0 * t + 0.5 * a * t**2, 1.0, rng)
    estimator = EncoderSpeedEstimator(window_s=0.05)
    lags = []
    for stamp, position in zip(stamps, encoder, strict=True):
        speed = estimator.update(float(stamp), float(position))
        if stamp > 0.06:
            assert speed is not None and estimator.speed_stamp_s is not None
            true_speed = v0 + a * estimator.speed_stamp_s
            assert speed == pytest.approx(true_speed, abs=0.01)
            lags.append(float(stamp) - estimator.speed_stamp_s)
    # The estimate is valid about half a window before the newest reading.
    assert float(np.mean(lags)) == pytest.approx(0.025, abs=0.003)
    final = estimator.speed_m_s
    assert final is not None and final == pytest.approx(v0 + a * (stamps[-1] - 0.025), abs=0.02)


def test_wall_clock_stamps_lose_no_precision() -> None:
    rng = np.random.default_rng(3)
    _, stamps, encoder = readings(lambda t: 123_456.0 + 2.5 * t, 0.5, rng, t0=1_760_000_000.0)
    estimator = EncoderSpeedEstimator()
    for stamp, position in zip(stamps, encoder, strict=True):
        estimator.update(float(stamp), float(position))
    assert estimator.speed_m_s == pytest.approx(2.5, abs=0.01)


def test_old_readings_leave_the_window() -> None:
    estimator = EncoderSpeedEstimator(window_s=0.05)
    t, x = 0.0, 0.0
    for _ in range(40):  # 1 m/s for 0.2 s
        t, x = t + 0.005, x + 0.005
        estimator.update(t, x)
    assert estimator.speed_m_s == pytest.approx(1.0)
    for _ in range(11):  # 3 m/s for 55 ms: the window only holds the new speed
        t, x = t + 0.005, x + 0.015
        estimator.update(t, x)
    assert estimator.speed_m_s == pytest.approx(3.0)
    assert estimator.sample_count in (10, 11)  # 0..50 ms inclusive, give or take rounding


def test_needs_two_readings_in_the_window() -> None:
    estimator = EncoderSpeedEstimator(window_s=0.05)
    assert estimator.update(1.0, 0.0) is None
    assert estimator.speed_m_s is None
    assert estimator.update(1.2, 0.4) is None  # the first reading fell out of the window
    assert estimator.update(1.21, 0.42) == pytest.approx(2.0)
    estimator.reset()
    assert estimator.latest is None and estimator.speed_m_s is None


def test_standing_belt_reads_zero() -> None:
    estimator = EncoderSpeedEstimator()
    for i in range(20):
        estimator.update(10.0 + 0.005 * i, 7.0)
    assert estimator.speed_m_s == 0.0


@pytest.mark.parametrize(
    ("stamp", "encoder", "words"),
    [
        (0.999, 0.011, "stamp not increasing"),
        (1.0, 0.011, "stamp not increasing"),
        (1.001, 0.0099, "went backwards"),
        (math.nan, 0.011, "finite"),
        (1.001, math.inf, "finite"),
    ],
)
def test_rejects_bad_readings_and_keeps_state(stamp: float, encoder: float, words: str) -> None:
    estimator = EncoderSpeedEstimator()
    estimator.update(0.995, 0.0)
    estimator.update(1.0, 0.01)
    with pytest.raises(ValueError, match=words):
        estimator.update(stamp, encoder)
    assert estimator.latest == (1.0, 0.01)
    assert estimator.speed_m_s == pytest.approx(2.0)
    assert estimator.update(1.005, 0.02) == pytest.approx(2.0)


@pytest.mark.parametrize("window", [0.0, -0.05, math.nan, math.inf])
def test_window_validated(window: float) -> None:
    with pytest.raises(ValueError, match="window_s"):
        EncoderSpeedEstimator(window_s=window)


def test_speed_command_limiter() -> None:
    limiter = SpeedCommandLimiter(max_speed_m_s=7.0)
    assert limiter.validate(0.0) == 0.0
    assert limiter.validate(7.0) == 7.0
    assert limiter.validate(3) == 3.0
    for bad, words in [(math.nan, "finite"), (-0.1, ">= 0"), (7.01, "exceeds"), ("x", "number")]:
        with pytest.raises(ValueError, match=words):
            limiter.validate(bad)  # type: ignore[arg-type]
    for bad_max in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match="max_speed_m_s"):
            SpeedCommandLimiter(bad_max)
