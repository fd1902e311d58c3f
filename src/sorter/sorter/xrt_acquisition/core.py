"""Dark/flat-field correction of raw dual-energy line-scan strips (ROS-free).

Raw counts carry a per-pixel offset (dark) and gain (flat, which includes the belt in the beam).
Correcting to transmission T = (raw - dark) / (flat - dark) removes both, so downstream stages
see ln(1/T) = attenuation of the particles alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

FULL_SCALE = 65535.0


@dataclass
class RawStrip:
    index: int
    stamp_s: float
    encoder_m: float
    line_pitch_m: float
    line_period_s: float
    low: np.ndarray  # uint16 (lines, pixels) raw counts
    high: np.ndarray


class StripValidator:
    """Refuses strips that would corrupt the stream: wrong size, stamps or encoder going
    backwards. Index gaps are accepted (the strip is good) but counted as lost strips."""

    def __init__(self, pixels: int, lines: int) -> None:
        self.pixels, self.lines = pixels, lines
        self.last: RawStrip | None = None
        self.lost_strips = 0

    def check(self, strip: RawStrip) -> None:
        for name, channel in (("low", strip.low), ("high", strip.high)):
            if channel.shape != (self.lines, self.pixels):
                raise ValueError(
                    f"{name} channel is {channel.shape[0]}x{channel.shape[1]}, "
                    f"expected {self.lines}x{self.pixels} (lines x pixels)"
                )
        for name in ("stamp_s", "encoder_m", "line_pitch_m", "line_period_s"):
            if not np.isfinite(getattr(strip, name)):
                raise ValueError(f"{name} is not finite")
        if strip.line_pitch_m <= 0 or strip.line_period_s <= 0:
            raise ValueError("line pitch and period must be positive")
        last = self.last
        if last is not None:
            if strip.index <= last.index:
                raise ValueError(f"strip index {strip.index} does not follow {last.index}")
            if strip.stamp_s < last.stamp_s:
                raise ValueError(f"stamp went backwards ({strip.stamp_s:.6f} < {last.stamp_s:.6f})")
            if strip.encoder_m < last.encoder_m:
                raise ValueError(
                    f"encoder went backwards ({strip.encoder_m:.6f} < {last.encoder_m:.6f} m)"
                )
            self.lost_strips += strip.index - last.index - 1
        self.last = strip


class FlatFieldCorrector:
    """Per-pixel two-point correction for both channels."""

    def __init__(self, dark_low: ArrayLike, dark_high: ArrayLike, flat_low: ArrayLike,
                 flat_high: ArrayLike, min_signal: float = 50.0) -> None:
        self.dark = [np.asarray(d, np.float32).reshape(-1) for d in (dark_low, dark_high)]
        flats = [np.asarray(f, np.float32).reshape(-1) for f in (flat_low, flat_high)]
        for name, dark, flat in zip(("low", "high"), self.dark, flats, strict=True):
            if dark.shape != flat.shape:
                raise ValueError(f"{name}: dark has {dark.size} pixels, flat {flat.size}")
            span = flat - dark
            if not np.all(np.isfinite(span)) or np.any(span < min_signal):
                bad = int(np.sum(~(span >= min_signal)))
                raise ValueError(
                    f"{name} flat field is within {min_signal} counts of dark on {bad} pixels: "
                    "source off or detector saturated during calibration?"
                )
        self.inv_span = [1.0 / (f - d) for f, d in zip(flats, self.dark, strict=True)]
        self.pixels = self.dark[0].size

    def transmission(self, raw: np.ndarray, channel: int) -> np.ndarray:
        """T in [0, 1] as float32."""
        if raw.shape[-1] != self.pixels:
            raise ValueError(f"strip has {raw.shape[-1]} pixels, calibration {self.pixels}")
        t = (raw.astype(np.float32) - self.dark[channel]) * self.inv_span[channel]
        return np.clip(t, 0.0, 1.0, out=t)

    def correct(self, strip: RawStrip) -> tuple[np.ndarray, np.ndarray]:
        """Transmission of both channels scaled to mono16 full scale."""
        low, high = (
            np.rint(self.transmission(raw, channel) * FULL_SCALE).astype(np.uint16)
            for channel, raw in enumerate((strip.low, strip.high))
        )
        return low, high


# ln(I0/I) for every mono16 value, one count as the floor (no log of zero): a table lookup is
# several times cheaper than a float log over every pixel of every strip.
_ATTENUATION_LUT = -np.log(np.maximum(np.arange(65536, dtype=np.float64), 1.0) / FULL_SCALE)
_ATTENUATION_LUT = _ATTENUATION_LUT.astype(np.float32)


def attenuation_from_mono16(transmission_u16: np.ndarray) -> np.ndarray:
    """ln(I0/I) from a corrected mono16 strip."""
    if transmission_u16.dtype != np.uint16:
        raise ValueError(f"expected a uint16 strip, got {transmission_u16.dtype}")
    return _ATTENUATION_LUT[transmission_u16]
