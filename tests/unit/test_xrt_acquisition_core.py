"""Dark/flat correction and strip validation, on strips the simulator's detector model makes."""

from __future__ import annotations

import numpy as np
import pytest

from sorter.xrt_acquisition.core import (
    FULL_SCALE,
    FlatFieldCorrector,
    RawStrip,
    StripValidator,
    attenuation_from_mono16,
)


def _strip(index: int, low: np.ndarray, high: np.ndarray, stamp: float = 0.0,
           encoder: float = 0.0) -> RawStrip:
    return RawStrip(index, stamp, encoder, 0.0008, 0.0004, low, high)


def test_correction_recovers_attenuation_despite_gain_and_offset() -> None:
    rng = np.random.default_rng(1)
    pixels = 64
    dark = 400 + rng.normal(0, 5, pixels)
    gain = 8 * (1 + rng.normal(0, 0.05, pixels))
    n0 = 3500.0
    flat = dark + gain * n0
    true_att = np.tile(np.linspace(0, 3, pixels), (16, 1))
    raw = dark + gain * n0 * np.exp(-true_att)
    corr = FlatFieldCorrector(dark, dark, flat, flat)
    low, high = corr.correct(_strip(0, raw.astype(np.uint16), raw.astype(np.uint16)))
    att = attenuation_from_mono16(low)
    assert np.allclose(att, true_att, atol=2e-3)
    assert low.dtype == np.uint16 and int(low[:, 0].min()) >= FULL_SCALE - 2


def test_dead_flat_field_is_refused() -> None:
    dark = np.full(8, 400.0)
    with pytest.raises(ValueError, match="within 50.0 counts of dark on 8 pixels"):
        FlatFieldCorrector(dark, dark, dark + 10, dark + 1000)


def test_validator_refuses_bad_strips_and_counts_gaps() -> None:
    v = StripValidator(pixels=4, lines=2)
    ok = np.zeros((2, 4), np.uint16)
    v.check(_strip(0, ok, ok, 1.0, 0.0))
    with pytest.raises(ValueError, match="expected 2x4"):
        v.check(_strip(1, np.zeros((3, 4), np.uint16), ok, 1.1, 0.1))
    with pytest.raises(ValueError, match="stamp went backwards"):
        v.check(_strip(1, ok, ok, 0.5, 0.1))
    with pytest.raises(ValueError, match="encoder went backwards"):
        v.check(_strip(1, ok, ok, 1.1, -0.1))
    with pytest.raises(ValueError, match="does not follow"):
        v.check(_strip(0, ok, ok, 1.1, 0.1))
    v.check(_strip(3, ok, ok, 1.2, 0.2))
    assert v.lost_strips == 2
