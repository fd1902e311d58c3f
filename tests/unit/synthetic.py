"""Synthetic dual-energy attenuation maps for the segmentation, classification and sizing tests.

Particles are drawn as star-shaped footprints (discs, ellipses, irregular rocks) with an
ellipsoidal thickness dome, rendered mono-energetically as a = mu * t per channel, plus noise
whose standard deviation follows photon statistics, sigma = exp(a / 2) / sqrt(N0). The ground
truth (footprint, centroid, row extent) is kept for every particle so tests can compare what
the cores report against what was drawn, instead of against what the code happened to output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

PHOTONS_LOW = 3500.0  # reference photon budget (the cell renders ~3,470: sorter xray rtable)
PHOTONS_HIGH = 780.0  # reference photon budget (the cell renders ~770)


@dataclass
class Shape:
    """One footprint in local coordinates: mask (bool) and thickness [m], same shape."""

    mask: np.ndarray
    thickness_m: np.ndarray


def star_shape(
    radius_px: float,
    max_thickness_m: float,
    aspect: float = 1.0,
    angle_rad: float = 0.0,
    roughness: float = 0.0,
    rng: np.random.Generator | None = None,
    flat: bool = False,
) -> Shape:
    """Footprint r(theta) = radius * ellipse(aspect, angle) * (1 + harmonics), dome thickness.

    aspect >= 1 stretches the major axis (radius_px is the geometric-mean radius, so the area
    stays ~pi r^2); roughness adds low harmonics (k = 2..5) of relative amplitude ~roughness,
    which gives rock-like but still star-shaped outlines (one thickness maximum). flat=True
    gives a uniform thickness (a slab with that outline), whose footprint survives any
    threshold exactly, for tests that compare extents to the line.
    """
    a = radius_px * math.sqrt(aspect)
    b = radius_px / math.sqrt(aspect)
    harmonics: list[tuple[int, float, float]] = []
    if roughness > 0.0:
        if rng is None:
            raise ValueError("roughness needs an rng")
        for k in range(2, 6):
            harmonics.append((k, roughness * rng.uniform(0.3, 1.0) / k, rng.uniform(0, 2 * np.pi)))
    reach = int(math.ceil(a * (1.0 + sum(h[1] for h in harmonics)))) + 2
    yy, xx = np.mgrid[-reach : reach + 1, -reach : reach + 1].astype(np.float64)
    # rotate into the ellipse frame
    u = xx * math.cos(angle_rad) + yy * math.sin(angle_rad)
    v = -xx * math.sin(angle_rad) + yy * math.cos(angle_rad)
    theta = np.arctan2(v, u)
    rho = np.hypot(u, v)
    r_edge = (a * b) / np.sqrt((b * np.cos(theta)) ** 2 + (a * np.sin(theta)) ** 2)
    for k, amp, phase in harmonics:
        r_edge = r_edge * (1.0 + amp * np.cos(k * theta + phase))
    s = rho / r_edge
    mask = s <= 1.0
    dome = 1.0 if flat else np.sqrt(np.clip(1.0 - s**2, 0.0, 1.0))
    thickness = np.where(mask, max_thickness_m * dome, 0.0)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return Shape(mask=mask[crop], thickness_m=thickness[crop])


def disc(radius_px: float, max_thickness_m: float, flat: bool = False) -> Shape:
    return star_shape(radius_px, max_thickness_m, flat=flat)


def slab(rows: int, cols: int, thickness_m: float) -> Shape:
    """Flat rectangular slab of uniform thickness (for mass and rectangle checks)."""
    return Shape(mask=np.ones((rows, cols), bool), thickness_m=np.full((rows, cols), thickness_m))


@dataclass
class PlacedParticle:
    """Ground truth of one drawn particle in scene pixel coordinates."""

    label: int
    row: int  # top-left of the shape's crop
    col: int
    shape: Shape
    mu_low_per_m: float
    mu_high_per_m: float

    @property
    def rows(self) -> tuple[int, int]:
        """First and last scene row covered by the footprint."""
        r = np.flatnonzero(self.shape.mask.any(axis=1))
        return self.row + int(r[0]), self.row + int(r[-1])

    @property
    def centroid_rc(self) -> tuple[float, float]:
        """Footprint centroid in scene pixel-index coordinates (pixel centres at integers)."""
        rr, cc = np.nonzero(self.shape.mask)
        return self.row + float(rr.mean()), self.col + float(cc.mean())


@dataclass
class Scene:
    """A belt image: particles placed on an empty (zero-attenuation) background."""

    rows: int
    cols: int
    particles: list[PlacedParticle] = field(default_factory=list)
    _occupied: np.ndarray | None = None

    def __post_init__(self) -> None:
        self._occupied = np.zeros((self.rows, self.cols), bool)

    def fits(self, shape: Shape, row: int, col: int, gap_px: int = 2) -> bool:
        """True if the footprint lies inside the scene and keeps gap_px from every other."""
        h, w = shape.mask.shape
        if row < 0 or col < 0 or row + h > self.rows or col + w > self.cols:
            return False
        r0, c0 = max(0, row - gap_px), max(0, col - gap_px)
        r1, c1 = min(self.rows, row + h + gap_px), min(self.cols, col + w + gap_px)
        region = self._occupied[r0:r1, c0:c1]
        if not region.any():
            return True
        grown = np.zeros_like(region)
        ys, xs = np.nonzero(shape.mask)
        for dy in range(-gap_px, gap_px + 1):
            for dx in range(-gap_px, gap_px + 1):
                yy, xx = ys + row - r0 + dy, xs + col - c0 + dx
                ok = (yy >= 0) & (yy < grown.shape[0]) & (xx >= 0) & (xx < grown.shape[1])
                grown[yy[ok], xx[ok]] = True
        return not (grown & region).any()

    def add(self, shape: Shape, row: int, col: int, mu_low: float,
            mu_high: float) -> PlacedParticle:
        """Place a particle (overlap allowed: thickness of overlapping particles is maxed)."""
        h, w = shape.mask.shape
        if row < 0 or col < 0 or row + h > self.rows or col + w > self.cols:
            raise ValueError("particle outside the scene")
        particle = PlacedParticle(len(self.particles) + 1, row, col, shape, mu_low, mu_high)
        self.particles.append(particle)
        self._occupied[row : row + h, col : col + w] |= shape.mask
        return particle

    def render(
        self, rng: np.random.Generator | None = None, noise: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Attenuation maps (low, high) as float32; touching particles take the max per channel."""
        low = np.zeros((self.rows, self.cols), np.float64)
        high = np.zeros_like(low)
        for p in self.particles:
            h, w = p.shape.mask.shape
            win = (slice(p.row, p.row + h), slice(p.col, p.col + w))
            low[win] = np.maximum(low[win], p.mu_low_per_m * p.shape.thickness_m)
            high[win] = np.maximum(high[win], p.mu_high_per_m * p.shape.thickness_m)
        if noise:
            if rng is None:
                raise ValueError("noise needs an rng")
            low += rng.standard_normal(low.shape) * np.exp(low / 2) / math.sqrt(PHOTONS_LOW)
            high += rng.standard_normal(high.shape) * np.exp(high / 2) / math.sqrt(PHOTONS_HIGH)
        return low.astype(np.float32), high.astype(np.float32)


def random_scene(
    rng: np.random.Generator,
    rows: int,
    cols: int,
    count: int,
    mu_low: float,
    mu_high: float,
    radius_px: tuple[float, float] = (6.0, 14.0),
    thickness_m: tuple[float, float] = (0.006, 0.02),
    touching_pairs: int = 0,
    margin_rows: int = 0,
) -> Scene:
    """Randomly placed, separated rocks, plus `touching_pairs` pairs of overlapping discs.

    A touching pair is two discs whose centres are 1.6-1.75 radii apart (a clear neck), which a
    distance-transform watershed must split; everything else keeps a 2 px gap, so connected
    components alone would already find it. margin_rows keeps particles off the first/last rows.
    """
    scene = Scene(rows, cols)
    tries = 0
    for _ in range(touching_pairs):
        while True:
            tries += 1
            if tries > 100 * (count + touching_pairs) + 1000:
                raise RuntimeError("scene too crowded")
            r = rng.uniform(*radius_px)
            t = rng.uniform(*thickness_m)
            first, second = disc(r, t), disc(r * rng.uniform(0.85, 1.0), t)
            d = r * rng.uniform(1.6, 1.75)
            ang = rng.uniform(0, 2 * np.pi)
            row = int(rng.integers(margin_rows, rows - margin_rows - 4 * r))
            col = int(rng.integers(0, cols - 4 * r))
            cy, cx = row + first.mask.shape[0] // 2, col + first.mask.shape[1] // 2
            row2 = int(round(cy + d * math.sin(ang))) - second.mask.shape[0] // 2
            col2 = int(round(cx + d * math.cos(ang))) - second.mask.shape[1] // 2
            in_rows = margin_rows <= row2 and row2 + second.mask.shape[0] <= rows - margin_rows
            if not in_rows or not scene.fits(first, row, col) or not scene.fits(second, row2, col2):
                continue
            # the two discs must not touch anything else; check the pair against the scene
            scene.add(first, row, col, mu_low, mu_high)
            scene.add(second, row2, col2, mu_low, mu_high)
            break
    placed = 0
    while placed < count:
        tries += 1
        if tries > 100 * (count + touching_pairs) + 1000:
            raise RuntimeError("scene too crowded")
        shape = star_shape(
            rng.uniform(*radius_px),
            rng.uniform(*thickness_m),
            aspect=rng.uniform(1.0, 1.8),
            angle_rad=rng.uniform(0, np.pi),
            roughness=rng.uniform(0.0, 0.15),
            rng=rng,
        )
        h, w = shape.mask.shape
        if h + 2 * margin_rows >= rows or w >= cols:
            continue
        row = int(rng.integers(margin_rows, rows - margin_rows - h + 1))
        col = int(rng.integers(0, cols - w + 1))
        if scene.fits(shape, row, col):
            scene.add(shape, row, col, mu_low, mu_high)
            placed += 1
    return scene
