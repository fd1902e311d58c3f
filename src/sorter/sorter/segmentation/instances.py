"""Instance labels from a learned segmenter's per-pixel classes (no ROS, no torch).

The learned segmenter predicts four classes per pixel: 0 belt, 1 particle interior,
2 boundary (the 1-px inner contour of each visible particle), 3 overlap (pixels under two or
more particles); `sorter.xrt_generator.training_scenes` makes the training labels the same way.
This module turns its output, a class-probability map (4, H, W) or a class map (H, W), into an
int32 label image: 0 belt, 1..n one per particle. A class map is read as one-hot
probabilities, so both inputs follow one rule:

* foreground: pixels whose belt probability is below 1 - `foreground_threshold`
  (p1 + p2 + p3 >= threshold; with a class map, every class but 0);
* low ground: foreground pixels with p1 + p3 >= `interior_threshold` (interior or overlap);
  the relief the seeds are grown over is 1 - p1 - p3, so boundary pixels form ridges;
* seeds: the 8-connected components of the interior (p1 >= `interior_threshold`), eroded by a
  disc of `seed_erosion_px` (a threshold on the interior's Euclidean distance transform; 0 =
  the interior itself). Interiors of two particles are never 8-adjacent in the labels (a pixel
  with a neighbour of another particle is boundary or overlap), so with clean labels one
  component is one particle. A 4-connected component of low ground that holds no seed (an
  interior the erosion removed, or a particle lying wholly on another, all of it overlap)
  becomes one seed. Foreground pixels with no low ground among their 8 neighbours seed one
  particle per 8-connected group: a particle's own contour lies next to its interior, so such
  pixels are a fine (two pixels wide or less, all boundary) lying against a particle, or a
  thin spur of one. Last, a 4-connected foreground component still without a seed becomes
  one (an isolated fine);
* growth: marker watershed of the relief over the foreground, 4-connected, so every
  foreground pixel gets a particle. Pixels flood in order of height: interior and overlap
  first, boundary ridges last. Touching particles are kept apart by their boundary lines.
  A stack is split by the overlap band: the band belongs to the particle on top (the truth is
  the top-most particle), and in the labels only the top particle's interior reaches the band
  without a boundary in between (the lower particle's visible pixels next to the band are its
  contour), so the band floods from the top particle before the lower one climbs its ridge;
* fragments: a particle smaller than `min_area_px` that shares an 8-neighbour border with
  another is folded into the one it shares most border pixels with (smallest first); an
  isolated small one stays (a fine).

What the labels cannot say: a fine with no interior pixel in a notch of a larger particle, or
partly under one, reads as that particle's contour and is grown into it; in a pile of three
or more the overlap bands join and do not tell which particle is on top; a particle cut in
two by one lying across it gets one instance per visible piece. Drawing the top particle's
contour inside the band (boundary over overlap) would separate piles; a per-particle centre
class would seed fines.

Stitching: the result has the mask semantics of the classical path, one label image per
strip, 0 = belt, each label one particle. A strip segmenter can use it in place of the
threshold and watershed split: run it on the carried rows plus the new strip, emit the labels
that do not touch the last row and carry the others (the probabilities of carried rows are
kept, like the attenuation rows are now).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.segmentation import relabel_sequential, watershed

N_CLASSES = 4
BELT, INTERIOR, BOUNDARY, OVERLAP = 0, 1, 2, 3
_CROSS = ndimage.generate_binary_structure(2, 1)
_SQUARE = ndimage.generate_binary_structure(2, 2)


@dataclass(frozen=True)
class InstanceConfig:
    """How class probabilities become particles (see the module's rule)."""

    interior_threshold: float = 0.5    # p_interior for a seed, p_interior + p_overlap: low ground
    foreground_threshold: float = 0.5  # 1 - p_belt above which a pixel is particle
    seed_erosion_px: float = 0.0       # seeds: interior pixels farther than this from its edge
    min_area_px: int = 4               # smaller particles with a neighbour are folded into it

    def __post_init__(self) -> None:
        for name in ("interior_threshold", "foreground_threshold"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 < value <= 1.0):
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if not (math.isfinite(self.seed_erosion_px) and self.seed_erosion_px >= 0.0):
            raise ValueError(f"seed_erosion_px must be finite and >= 0, got "
                             f"{self.seed_erosion_px}")
        area = self.min_area_px
        if isinstance(area, bool) or not isinstance(area, (int, np.integer)) or area < 0:
            raise ValueError(f"min_area_px must be an integer >= 0, got {area!r}")


def class_probabilities(prediction: np.ndarray) -> np.ndarray:
    """(4, H, W) float32 probabilities from a probability map or an integer class map
    (one-hot). Raises ValueError on a wrong shape, class or non-finite value."""
    a = np.asarray(prediction)
    if a.ndim == 2:
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"a class map must be integer, got {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= N_CLASSES):
            raise ValueError(f"classes must be 0..{N_CLASSES - 1}, got {a.min()}..{a.max()}")
        return (a[None, :, :] == np.arange(N_CLASSES)[:, None, None]).astype(np.float32)
    if a.ndim != 3 or a.shape[0] != N_CLASSES:
        raise ValueError(f"expected ({N_CLASSES}, H, W) probabilities or an (H, W) class map, "
                         f"got shape {a.shape}")
    p = np.asarray(a, dtype=np.float32)
    if not np.isfinite(p).all():
        raise ValueError("probabilities must be finite")
    if p.size and (p.min() < 0.0 or p.max() > 1.0 + 1e-4):
        raise ValueError("probabilities must lie in [0, 1] (softmax output, not logits)")
    return p


def extract_instances(prediction: np.ndarray,
                      config: InstanceConfig | None = None) -> np.ndarray:
    """int32 label image (0 belt, 1..n particles) from class probabilities or a class map."""
    cfg = config or InstanceConfig()
    p = class_probabilities(prediction)
    shape = p.shape[1:]
    fg = (p[INTERIOR] + p[BOUNDARY] + p[OVERLAP]) >= cfg.foreground_threshold
    if not fg.any():
        return np.zeros(shape, np.int32)
    low_p = p[INTERIOR] + p[OVERLAP]
    low = fg & (low_p >= cfg.interior_threshold)
    interior = fg & (p[INTERIOR] >= cfg.interior_threshold)
    if cfg.seed_erosion_px > 0:
        interior = ndimage.distance_transform_edt(interior) > cfg.seed_erosion_px
    markers, n = ndimage.label(interior, structure=_SQUARE)
    markers = markers.astype(np.int32)
    n = _seed_empty_components(markers, low, n)
    # boundary with no interior or overlap among its 8 neighbours: a fine lying against a
    # particle (that particle's own contour is next to its interior)
    orphan = fg & ~ndimage.binary_dilation(low, structure=_SQUARE)
    olab, n_orphan = ndimage.label(orphan, structure=_SQUARE)
    markers[orphan] = olab[orphan] + n
    n += n_orphan
    n = _seed_empty_components(markers, fg, n)
    relief = np.clip(1.0 - low_p, 0.0, 1.0)
    labels = watershed(relief, markers, mask=fg, connectivity=1).astype(np.int32)
    if cfg.min_area_px > 1:
        _fold_small(labels, cfg.min_area_px)
    out, _fw, _inv = relabel_sequential(labels)
    return np.asarray(out, dtype=np.int32)


def _seed_empty_components(markers: np.ndarray, region: np.ndarray, n: int) -> int:
    """Give every 4-connected component of `region` without a marker pixel one new marker
    (the whole component); returns the new marker count."""
    comp, n_comp = ndimage.label(region, structure=_CROSS)
    if n_comp == 0:
        return n
    seeded = np.zeros(n_comp + 1, bool)
    seeded[comp[markers > 0]] = True
    empty = np.flatnonzero(~seeded[1:]) + 1
    if empty.size == 0:
        return n
    new_id = np.zeros(n_comp + 1, np.int32)
    new_id[empty] = np.arange(n + 1, n + 1 + empty.size, dtype=np.int32)
    fill = new_id[comp]
    markers[fill > 0] = fill[fill > 0]
    return n + int(empty.size)


def _fold_small(labels: np.ndarray, min_area_px: int) -> None:
    """Fold particles below min_area_px into the 8-neighbour sharing most border (in place)."""
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    small = [int(k) for k in np.flatnonzero((sizes > 0) & (sizes < min_area_px))]
    if not small:
        return
    boxes = ndimage.find_objects(labels)
    rows, cols = labels.shape
    box = {k: boxes[k - 1] for k in small}
    for k in sorted(small, key=lambda i: (sizes[i], i)):
        if sizes[k] == 0 or sizes[k] >= min_area_px:
            continue
        rs, cs = box[k]
        win = (slice(max(rs.start - 1, 0), min(rs.stop + 1, rows)),
               slice(max(cs.start - 1, 0), min(cs.stop + 1, cols)))
        sub = labels[win]
        own = sub == k
        ring = ndimage.binary_dilation(own, structure=_SQUARE) & ~own & (sub > 0)
        if not ring.any():
            continue
        neighbours, counts = np.unique(sub[ring], return_counts=True)
        target = int(neighbours[np.argmax(counts)])   # ties: the lowest label
        sub[own] = target
        sizes[target] += sizes[k]
        sizes[k] = 0
        if target in box:
            tr, tc = box[target]
            box[target] = (slice(min(tr.start, rs.start), max(tr.stop, rs.stop)),
                           slice(min(tc.start, cs.start), max(tc.stop, cs.stop)))
