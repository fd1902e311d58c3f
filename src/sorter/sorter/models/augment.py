"""Training augmentation in two spaces, after the M-Augment scheme of Yu et al. (see
docs/references.md): a pixel space and a geometric space; each sample draws one combination of
counts (pixel + geometric: 1+2, 0+3, 1+1 or 0+2, their four) and that many distinct
operations from each space.

Everything keeps the images physical attenuation ln(I0/I) of the same two channels in the same
order (low, high): no inversion, no histogram equalisation, no channel swap, and no change of
the low/high ratio a material shows except through noise and per-channel gain. The pixel space
works on transmission or attenuation as the physics does:

    noise      Gaussian, its standard deviation growing as exp(A/2) (photon noise ~ 1/sqrt(I))
    gain       per channel, transmission x g (a flat-field drift): A - ln(g)
    thickness  both channels x k (every path k times as long)
    blur       Gaussian, both channels alike (a wider detector response)
    sharpen    unsharp mask, both channels alike
    posterize  transmission quantised to fewer bits (a coarser digitiser)

and the result is clipped to what the acquisition can deliver: 0 (transmission 1) up to one
count in mono16. The geometric space moves the image, the instance map and the footprint
cover together (the labels are recomputed from the last two afterwards): flips across and
along the belt, rotation by 90-degree steps, translation (belt comes in at the edges) and a
small zoom (the pixel pitch seen changes by the same factor; `AugmentConfig.pitch_factors`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from sorter.models.data import Sample
from sorter.xrt_acquisition.core import FULL_SCALE

Range = tuple[float, float]
MAX_ATTENUATION = float(np.log(FULL_SCALE))  # one count of 65535


@dataclass(frozen=True)
class AugmentConfig:
    """combinations: (pixel, geometric) operation counts, one drawn per sample; the rest are
    the ranges each operation draws from (uniformly)."""

    combinations: tuple[tuple[int, int], ...] = ((1, 2), (0, 3), (1, 1), (0, 2))
    noise_sigma: Range = (0.005, 0.03)      # attenuation at A = 0
    gain: Range = (0.97, 1.03)
    thickness: Range = (0.8, 1.25)
    blur_sigma_px: Range = (0.4, 1.0)
    sharpen: Range = (0.2, 0.6)
    posterize_bits: tuple[int, int] = (8, 12)
    translate: float = 0.2                  # of the image size, each direction
    scale: Range = (0.8, 1.25)

    def pitch_factors(self) -> Range:
        """Range of (pitch seen / true pitch) the zoom produces: a zoom by s shows pixels of
        pitch / s."""
        return 1.0 / self.scale[1], 1.0 / self.scale[0]


# --- pixel space: (2, H, W) attenuation in, same out -------------------------------------------


def noise(a: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    sigma = rng.uniform(*cfg.noise_sigma)
    scale = sigma * np.exp(np.minimum(a, 6.0) / 2.0)
    return a + scale * rng.standard_normal(a.shape).astype(np.float32)


def gain(a: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    g = rng.uniform(*cfg.gain, size=(a.shape[0], 1, 1))
    return a - np.log(g).astype(np.float32)


def thickness(a: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    return a * np.float32(rng.uniform(*cfg.thickness))


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(c, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
                     for c in a])


def blur(a: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    return _blur(a, rng.uniform(*cfg.blur_sigma_px))


def sharpen(a: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    amount = np.float32(rng.uniform(*cfg.sharpen))
    return a + amount * (a - _blur(a, 1.0))


def posterize(a: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    levels = float(2 ** int(rng.integers(cfg.posterize_bits[0], cfg.posterize_bits[1] + 1)) - 1)
    t = np.maximum(np.rint(np.exp(-a) * levels), 1.0) / levels
    return (-np.log(t)).astype(np.float32)


PixelOp = Callable[[np.ndarray, np.random.Generator, AugmentConfig], np.ndarray]
PIXEL_OPS: dict[str, PixelOp] = {"noise": noise, "gain": gain, "thickness": thickness,
                                 "blur": blur, "sharpen": sharpen, "posterize": posterize}


# --- geometric space: image, instances and cover together --------------------------------------


def _each(s: Sample, f: Callable[[np.ndarray], np.ndarray]) -> Sample:
    return Sample(np.ascontiguousarray(f(s.image)), np.ascontiguousarray(f(s.instances)),
                  np.ascontiguousarray(f(s.cover)))


def flip_across(s: Sample, rng: np.random.Generator, cfg: AugmentConfig) -> Sample:
    return _each(s, lambda a: np.flip(a, -1))


def flip_along(s: Sample, rng: np.random.Generator, cfg: AugmentConfig) -> Sample:
    return _each(s, lambda a: np.flip(a, -2))


def rotate90(s: Sample, rng: np.random.Generator, cfg: AugmentConfig) -> Sample:
    h, w = s.instances.shape
    k = int(rng.integers(1, 4)) if h == w else 2   # a non-square image keeps its shape
    return _each(s, lambda a: np.rot90(a, k, axes=(-2, -1)))


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(a)
    h, w = a.shape[-2:]
    src_r = slice(max(-dy, 0), h - max(dy, 0))
    dst_r = slice(max(dy, 0), h - max(-dy, 0))
    src_c = slice(max(-dx, 0), w - max(dx, 0))
    dst_c = slice(max(dx, 0), w - max(-dx, 0))
    out[..., dst_r, dst_c] = a[..., src_r, src_c]
    return out


def translate(s: Sample, rng: np.random.Generator, cfg: AugmentConfig) -> Sample:
    h, w = s.instances.shape
    dy = int(rng.integers(-int(cfg.translate * h), int(cfg.translate * h) + 1))
    dx = int(rng.integers(-int(cfg.translate * w), int(cfg.translate * w) + 1))
    return _each(s, lambda a: _shift(a, dy, dx))


def scale(s: Sample, rng: np.random.Generator, cfg: AugmentConfig) -> Sample:
    """Zoom by s about the centre: the output pixel x samples the input at (x - c) / s + c;
    bilinear for the image, nearest for instances and cover; belt outside the input."""
    factor = rng.uniform(*cfg.scale)
    h, w = s.instances.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ys = ((np.arange(h, dtype=np.float32) - cy) / factor + cy).astype(np.float32)
    xs = ((np.arange(w, dtype=np.float32) - cx) / factor + cx).astype(np.float32)
    map_x, map_y = np.meshgrid(xs, ys)
    image = np.stack([cv2.remap(c, map_x, map_y, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
                      for c in s.image])
    r, c = np.rint(map_y).astype(np.int64), np.rint(map_x).astype(np.int64)
    inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    rc, cc = np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)
    instances = np.where(inside, s.instances[rc, cc], 0).astype(s.instances.dtype)
    cover = np.where(inside, s.cover[rc, cc], 0).astype(s.cover.dtype)
    return Sample(image, instances, cover)


GeometricOp = Callable[[Sample, np.random.Generator, AugmentConfig], Sample]
GEOMETRIC_OPS: dict[str, GeometricOp] = {"flip_across": flip_across, "flip_along": flip_along,
                                         "rotate90": rotate90, "translate": translate,
                                         "scale": scale}


def draw_operations(rng: np.random.Generator,
                    cfg: AugmentConfig) -> tuple[list[str], list[str]]:
    """The pixel and geometric operations one sample gets (names, in the order applied)."""
    n_pixel, n_geometric = cfg.combinations[int(rng.integers(len(cfg.combinations)))]
    pixel = [str(n) for n in rng.choice(list(PIXEL_OPS), n_pixel, replace=False)]
    geometric = [str(n) for n in rng.choice(list(GEOMETRIC_OPS), n_geometric, replace=False)]
    return pixel, geometric


def apply(sample: Sample, pixel: list[str], geometric: list[str], rng: np.random.Generator,
          cfg: AugmentConfig) -> Sample:
    """Run the named operations (geometric first, then pixel) and clip to the attenuation
    range the acquisition delivers."""
    out = sample
    for name in geometric:
        out = GEOMETRIC_OPS[name](out, rng, cfg)
    image = out.image.astype(np.float32)
    for name in pixel:
        image = PIXEL_OPS[name](image, rng, cfg)
    image = np.clip(image, 0.0, MAX_ATTENUATION).astype(np.float32)
    return Sample(image, out.instances, out.cover)


class Augmenter:
    """Callable (sample, rng) -> augmented sample, for `CropDataset(augment=...)`."""

    def __init__(self, config: AugmentConfig | None = None) -> None:
        self.config = config or AugmentConfig()

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        pixel, geometric = draw_operations(rng, self.config)
        return apply(sample, pixel, geometric, rng, self.config)
