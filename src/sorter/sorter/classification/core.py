"""Dual-energy ore/waste classification of one particle from its footprint crops.

R = sum(a_L) / sum(a_H) is an effective-atomic-number proxy: copper sulphides absorb the low
energy far more than quartz does, relative to the high energy. R also falls with thickness
(beam hardening), so it is compared with a threshold taken *at the particle's own mean
high-energy attenuation* (the H-L curve), not at a fixed value: for quartz R falls
from 2.50 at 1 mm to 1.42 at 50 mm (spectral integration with the copper cell's tube and
detector, tests/unit/test_xrt_generator_physics.py).

Only the particle's core enters R: edge pixels are partial-volume (part rock, part belt) and
blurred by the detector, their a_L/a_H is noisy and biased, so the mask is eroded first. The
sums (not a mean of per-pixel ratios) weight each pixel by its signal, which is the
minimum-variance combination when the noise is roughly constant per pixel.

No ROS import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

_SQUARE3 = np.ones((3, 3), np.uint8)


@dataclass
class ClassifierConfig:
    """The cell description's `classification` section."""

    r_threshold_curve: list[tuple[float, float]]  # (mean a_H, R threshold), by a_H; clamped
    r_scale: float  # logistic width of P(ore) around the threshold (in units of R)
    core_erosion_px: int  # erosion of the mask before averaging (3x3 square, per iteration)
    min_core_pixels: int = 4  # fewer left after erosion: use the whole mask (small particles)


@dataclass
class Classification:
    ratio_r: float  # sum a_L / sum a_H over the core pixels
    mean_attenuation_high: float  # mean a_H over the core pixels
    ore_probability: float  # P(ore) in [0, 1]
    is_ore: bool  # P(ore) >= 0.5
    core_pixels: int  # pixels that entered R (eroded mask, or the full mask as fallback)
    threshold_r: float = 0.0  # the curve's R threshold at mean_attenuation_high


class DualEnergyClassifier:
    """Threshold-curve classifier on the H-L plane with a logistic probability."""

    def __init__(self, config: ClassifierConfig):
        curve = config.r_threshold_curve
        try:
            pts = np.asarray([(float(a), float(r)) for a, r in curve], dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"r_threshold_curve must be a list of (a_H, R) pairs, got {curve!r}"
            ) from err
        if pts.shape[0] < 1:
            raise ValueError("r_threshold_curve needs at least one (a_H, R) point")
        if not np.isfinite(pts).all():
            raise ValueError(f"r_threshold_curve has non-finite values: {curve!r}")
        if pts.shape[0] > 1 and not (np.diff(pts[:, 0]) > 0).all():
            raise ValueError(
                f"r_threshold_curve must be sorted by strictly increasing a_H, got {curve!r}"
            )
        if not (math.isfinite(config.r_scale) and config.r_scale > 0):
            raise ValueError(f"r_scale must be finite and > 0, got {config.r_scale}")
        k = config.core_erosion_px
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"core_erosion_px must be an integer >= 0, got {k!r}")
        m = config.min_core_pixels
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ValueError(f"min_core_pixels must be an integer >= 1, got {m!r}")
        self.config = config
        self._curve_a = pts[:, 0].copy()
        self._curve_r = pts[:, 1].copy()

    def threshold_at(self, mean_attenuation_high: float) -> float:
        """R threshold at this mean a_H: piecewise linear, constant beyond the end points."""
        return float(np.interp(mean_attenuation_high, self._curve_a, self._curve_r))

    def probability(self, ratio_r: float, mean_attenuation_high: float) -> float:
        """P(ore) = logistic((R - threshold(a_H)) / r_scale); overflow-safe."""
        z = (ratio_r - self.threshold_at(mean_attenuation_high)) / self.config.r_scale
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        ez = math.exp(z)
        return ez / (1.0 + ez)

    def core_mask(self, mask: np.ndarray) -> np.ndarray:
        """Boolean core of the footprint: eroded (outside the crop counts as background), or the
        full mask when erosion would leave fewer than min_core_pixels."""
        full = np.asarray(mask) != 0
        k = self.config.core_erosion_px
        if k == 0:
            return full
        eroded = cv2.erode(full.view(np.uint8), _SQUARE3, iterations=int(k),
                           borderType=cv2.BORDER_CONSTANT, borderValue=0).view(bool)
        if np.count_nonzero(eroded) < self.config.min_core_pixels:
            return full
        return eroded

    def classify(self, mask: np.ndarray, attenuation_low: np.ndarray,
                 attenuation_high: np.ndarray) -> Classification:
        """Classify one particle; ValueError (precise message) on an unusable crop."""
        mask_a, low, high = _check_crops(mask, attenuation_low, attenuation_high)
        core = self.core_mask(mask_a)
        n = int(np.count_nonzero(core))
        sum_h = float(high[core].sum(dtype=np.float64))
        if not sum_h > 0.0:
            raise ValueError(
                f"sum of a_H over the {n} core pixels is {sum_h:.6g} <= 0: no attenuation, "
                "R is undefined (empty belt or a bad flat field?)"
            )
        sum_l = float(low[core].sum(dtype=np.float64))
        ratio = sum_l / sum_h
        mean_h = sum_h / n
        p = self.probability(ratio, mean_h)
        return Classification(
            ratio_r=ratio,
            mean_attenuation_high=mean_h,
            ore_probability=p,
            is_ore=p >= 0.5,
            core_pixels=n,
            threshold_r=self.threshold_at(mean_h),
        )


def _check_crops(mask: np.ndarray, low: np.ndarray,
                 high: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = []
    for name, a in (("mask", mask), ("attenuation_low", low), ("attenuation_high", high)):
        a = np.asarray(a)
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise ValueError(f"{name} has non-numeric dtype {a.dtype}")
        arrays.append(a)
    mask_a, low_a, high_a = arrays
    if not (mask_a.shape == low_a.shape == high_a.shape):
        raise ValueError(
            f"crop shapes differ: mask {mask_a.shape}, attenuation_low {low_a.shape}, "
            f"attenuation_high {high_a.shape}"
        )
    for name, a in (("attenuation_low", low_a), ("attenuation_high", high_a)):
        bad = ~np.isfinite(a)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise ValueError(
                f"{name} has {int(bad.sum())} non-finite value(s), first at row {r}, col {c}"
            )
    if np.issubdtype(mask_a.dtype, np.floating) and not np.isfinite(mask_a).all():
        raise ValueError("mask has non-finite values")
    if not np.any(mask_a):
        raise ValueError(f"mask {mask_a.shape} is empty: no particle pixels")
    return mask_a, low_a.astype(np.float64, copy=False), high_a.astype(np.float64, copy=False)
