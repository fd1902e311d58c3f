"""Data of the segmentation core: its configuration, the strips it takes and the particles it
returns, and the per-strip input check.

The segmenter itself is StripSegmenter (stitching.py: threshold, carry across strip borders,
exactly-once emission); the splitting of touching particles is in watershed.py. No ROS import:
the node wraps this core (adapters convert Image messages to Strip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class SegmentationConfig:
    """The cell description's `segmentation` section plus the detector pitch (SI units)."""

    attenuation_threshold: float  # high-channel ln(I0/I) above which a pixel is particle
    min_area_px: int  # smaller complete components are noise/dust: dropped, not reported
    split_min_distance_px: int  # watershed seeds closer than this merge (one particle)
    max_carry_strips: int  # an open blob spanning more strips than this is forced out
    pixel_pitch_m: float  # across the belt; y = 0 at the left edge of column 0
    # Median filter radius applied to the high channel before thresholding (0 = off,
    # 1 = 3x3, 2 = 5x5). A median removes photon-noise speckle (the high channel has SNR ~26
    # on the empty belt, so a 0.06 threshold is only ~1.7 sigma) without dilating edges, as a
    # box or Gaussian filter would (that would bias area and close 1-px gaps between rocks).
    smoothing_px: int = 1
    # A distance-map peak seeds its own particle only if it rises above the saddle to a higher
    # peak by max(split_h_px, split_h_rel x its own height): the bumps of a rough outline make
    # shallow extra maxima, while the neck between two touching rocks is narrower than each
    # rock. The relative term scales with size (a 0.15 dynamic means the neck is at most 85 %
    # of the smaller rock's inscribed width). Defaults chosen on drawn scenes (tests/unit): no
    # over-split of 600 smooth and 4 of 360 very rough elongated rocks, 0 of 180 touching disc
    # pairs left merged; an absolute 1.0 px alone gave 9 over-splits and 7-11 merged pairs.
    split_h_px: float = 0.75
    split_h_rel: float = 0.15

    def __post_init__(self) -> None:
        if not (math.isfinite(self.attenuation_threshold) and self.attenuation_threshold > 0):
            raise ValueError(
                f"attenuation_threshold must be finite and > 0, got {self.attenuation_threshold}"
            )
        for name, low in (("min_area_px", 1), ("split_min_distance_px", 0),
                          ("max_carry_strips", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (math.isfinite(self.pixel_pitch_m) and self.pixel_pitch_m > 0):
            raise ValueError(f"pixel_pitch_m must be finite and > 0, got {self.pixel_pitch_m}")
        if self.smoothing_px not in (0, 1, 2):
            raise ValueError(f"smoothing_px must be 0, 1 or 2, got {self.smoothing_px!r}")
        if not (math.isfinite(self.split_h_px) and self.split_h_px > 0):
            raise ValueError(f"split_h_px must be finite and > 0, got {self.split_h_px}")
        if not (math.isfinite(self.split_h_rel) and 0 <= self.split_h_rel < 1):
            raise ValueError(f"split_h_rel must be in [0, 1), got {self.split_h_rel}")


@dataclass
class Strip:
    """One dual-energy strip, already dark/flat corrected (ln(I0/I) per pixel)."""

    index: int  # consecutive per acquisition; a jump means strips were lost
    stamp_s: float  # acquisition time of the first line [s]
    encoder_m: float  # encoder position at the first line [m]
    line_pitch_m: float  # belt travel per line [m]
    line_period_s: float  # time per line [s]
    low: np.ndarray  # float32 (lines, pixels): ln(I0/I) low energy
    high: np.ndarray  # float32 (lines, pixels): ln(I0/I) high energy


@dataclass
class SegmentedParticle:
    """One particle in belt coordinates, with its footprint crops.

    Along travel the extent is given by line boundaries: the leading edge is the encoder at the
    start of the particle's first line, the trailing edge the encoder at the end of its last
    line (start + pitch), so trailing - leading = lines x pitch covers the whole footprint.
    Across the belt likewise: y_min is the left edge of the leftmost pixel, y_max the right edge
    of the rightmost. Centroids are area centroids of pixel centres.
    """

    local_index: int  # 0.. within one SegmentationResult
    first_line_stamp_s: float  # acquisition time of the particle's first line [s]
    last_line_stamp_s: float  # acquisition time of the particle's last line [s]
    leading_edge_encoder_m: float  # [m]
    trailing_edge_encoder_m: float  # [m]
    centroid_encoder_m: float  # [m]
    y_min_m: float  # [m]
    y_max_m: float  # [m]
    centroid_y_m: float  # [m]
    mask: np.ndarray  # uint8 (h, w): 1 inside the particle
    attenuation_low: np.ndarray  # float32 (h, w), 0 outside the mask
    attenuation_high: np.ndarray  # float32 (h, w), 0 outside the mask
    touching: bool  # was split off a touching cluster
    strip_index: int = 0  # strip whose push emitted (completed) the particle
    pixel_along_m: float = 0.0  # mean line pitch over the particle's rows [m]
    pixel_across_m: float = 0.0  # detector pitch [m]
    area_px: int = 0
    forced_out: bool = False  # part of a jam (forced out, or a continuation of one)
    truncated: bool = False  # cut by a lost strip or by the start of the stream


@dataclass
class SegmentationResult:
    particles: list[SegmentedParticle]
    occupancy: float  # fraction of this strip's pixels that are particle
    attenuation_high_sum: float  # sum of a_H over this strip's particle pixels (mass flow)
    forced_out: int  # jammed blobs forced out this call
    lost_strips: int = 0  # strips missing before this one (the carry buffer was reset)
    dropped_small: int = 0  # complete components below min_area_px (noise, dust)
    carried_rows: int = 0  # rows kept for the next push (diagnostics: grows during a jam)


def validate_strip(strip: Strip) -> tuple[np.ndarray, np.ndarray]:
    """Check one strip on its own (types, shapes, finite values); return float32 copies-or-views.

    Raises ValueError naming the strip and the fault, so the node can count and publish it.
    """
    idx = strip.index
    if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)) or idx < 0:
        raise ValueError(f"strip index must be a non-negative integer, got {idx!r}")
    for name in ("stamp_s", "encoder_m", "line_pitch_m", "line_period_s"):
        value = getattr(strip, name)
        try:
            ok = math.isfinite(float(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"strip {idx}: {name} must be a finite number, got {value!r}")
    if not strip.line_pitch_m > 0:
        raise ValueError(f"strip {idx}: line_pitch_m must be > 0, got {strip.line_pitch_m}")
    if not strip.line_period_s > 0:
        raise ValueError(f"strip {idx}: line_period_s must be > 0, got {strip.line_period_s}")
    arrays = []
    for name in ("low", "high"):
        a = np.asarray(getattr(strip, name))
        if a.ndim != 2:
            raise ValueError(
                f"strip {idx}: {name} must be 2-D (lines, pixels), got shape {a.shape}"
            )
        if a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError(f"strip {idx}: {name} is empty, shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"strip {idx}: {name} has non-numeric dtype {a.dtype}")
        arrays.append(np.ascontiguousarray(a, dtype=np.float32))
    low, high = arrays
    if low.shape != high.shape:
        raise ValueError(f"strip {idx}: low shape {low.shape} != high shape {high.shape}")
    for name, a in (("low", low), ("high", high)):
        finite = np.isfinite(a)
        if not finite.all():
            bad = np.argwhere(~finite)
            r, c = bad[0]
            raise ValueError(
                f"strip {idx}: {name} has {len(bad)} non-finite value(s), first at "
                f"line {r}, pixel {c} ({a[r, c]})"
            )
    return low, high
