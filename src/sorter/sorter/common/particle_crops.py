"""sorter_interfaces/Particle <-> numpy crops, shared by every stage that reads a particle.
A particle whose crops disagree with its declared size, or hold NaN, is refused."""

from __future__ import annotations

from typing import Any

import numpy as np


def particle_crops(msg: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask uint8, attenuation_low float32, attenuation_high float32), each h x w."""
    h, w = int(msg.mask_height), int(msg.mask_width)
    if h == 0 or w == 0:
        raise ValueError(f"particle {msg.id}: empty crop {h}x{w}")
    n = h * w
    for name in ("mask", "attenuation_low", "attenuation_high"):
        size = len(getattr(msg, name))
        if size != n:
            raise ValueError(f"particle {msg.id}: {name} has {size} values, {h}x{w} needs {n}")
    if not (msg.pixel_along_m > 0 and msg.pixel_across_m > 0):
        raise ValueError(f"particle {msg.id}: pixel size must be positive")
    mask = np.frombuffer(bytes(msg.mask), np.uint8).reshape(h, w)
    low = np.asarray(msg.attenuation_low, np.float32).reshape(h, w)
    high = np.asarray(msg.attenuation_high, np.float32).reshape(h, w)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ValueError(f"particle {msg.id}: attenuation crops contain NaN or infinity")
    if not mask.any():
        raise ValueError(f"particle {msg.id}: mask is empty")
    return mask, low, high


def fill_crops(msg: Any, mask: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
    msg.mask_height, msg.mask_width = (int(n) for n in mask.shape)
    msg.mask = mask.astype(np.uint8).tobytes()
    msg.attenuation_low = np.ascontiguousarray(low, np.float32).ravel()
    msg.attenuation_high = np.ascontiguousarray(high, np.float32).ravel()
