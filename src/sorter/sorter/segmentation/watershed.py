"""Splitting touching particles: distance transform + marker watershed on a component's mask.

Why classical: on the 2-core development VM, threshold + components + watershed ran at 19-23
Mpx/s (1024 x 1024 frames, ~200 touching particles), 2-3x the smallest learned segmenter
measured there (DeepLabV3+, MobileNetV4-small encoder, ONNX Runtime: 7.5-11.5 Mpx/s) and ~30x
a MobileNetV4-large one, the size of Yu et al.'s lithium model (0.5-0.8 Mpx/s; see
docs/references.md); and the copper feed is high contrast. This is the baseline a learned
model must beat. No ROS import.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.segmentation import watershed


def _peak_window(min_distance_px: int) -> int:
    """Side of the local-maximum window: peaks within ~min_distance/2 of higher ground are
    never separate seeds (they would be merged by the min-distance rule anyway)."""
    return 2 * min(3, max(1, min_distance_px // 2)) + 1


def peak_candidates(live: np.ndarray, labels: np.ndarray, n_lab: int,
                     min_distance_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame-wide distance map (zero-padded by 1 px) and, per component, whether it holds more
    than one plateau of local maxima (a possible cluster). Components are separated by
    background, so the frame-wide map restricted to a component equals the component's own
    map; computing it once and skipping single-peak components avoids per-component work for
    most isolated rocks."""
    fg = cv2.copyMakeBorder((live > 0).view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    dist = cv2.distanceTransform(fg, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    k = _peak_window(min_distance_px)
    dil = cv2.dilate(dist, np.ones((k, k), np.uint8))
    cand = ((dist >= dil) & (dist >= 1.0))[1:-1, 1:-1]
    # count candidate plateaus (not pixels) per component: pairs (component, plateau)
    n_plat, plat = cv2.connectedComponents(cand.view(np.uint8), connectivity=8)
    if n_plat <= 1:
        return dist, np.zeros(n_lab, bool)
    comp_of = np.zeros(n_plat, np.int64)
    comp_of[plat[cand]] = labels[cand]
    counts = np.bincount(comp_of[1:], minlength=n_lab)
    return dist, counts > 1


def split_touching(mask: np.ndarray, min_distance_px: int, h_px: float,
                   min_area_px: int, dist: np.ndarray | None = None,
                   h_rel: float = 0.0) -> list[np.ndarray]:
    """Split one connected footprint into particles: distance transform + marker watershed.

    Seeds are the h-maxima of the Euclidean distance map (a peak must rise max(h_px, h_rel x
    its height) above the saddle to a higher one, so bumps of a rough outline do not seed),
    merged when closer than min_distance_px. Pieces smaller than min_area_px are merged into
    the neighbour they share most boundary with rather than dropped, so no pixel (mass) is
    lost. Returns boolean masks of mask's shape; [mask] when there is nothing to split.
    `dist` may pass the precomputed Euclidean distance map of the mask zero-padded by 1 px
    (shape + 2, zero outside the mask).
    """
    n_pix = int(np.count_nonzero(mask))
    if n_pix < 2 * min_area_px:
        return [mask]
    if dist is None:
        padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
        padded[1:-1, 1:-1] = mask
        dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    markers, n_seeds = seed_markers(dist, min_distance_px, h_px, h_rel)
    if markers is None:
        return [mask]
    (ws,) = watershed_batch([(dist, markers)])
    return merge_small(ws, n_seeds, min_area_px)


def seed_markers(dist: np.ndarray, min_distance_px: int, h_px: float,
                  h_rel: float) -> tuple[np.ndarray | None, int]:
    """Watershed markers (int32, dist's shape, 1..n) from the dynamic peaks of a padded
    distance map, seeds closer than min_distance_px merged; (None, 1) when fewer than two."""
    seeds = _dynamic_peaks(dist, h_px, h_rel, _peak_window(min_distance_px))
    if seeds is None:
        return None, 1
    n_seed, seed_lab, _s, cent = cv2.connectedComponentsWithStats(seeds, connectivity=8)
    if n_seed <= 2:
        return None, 1
    # merge seeds closer than min_distance (union-find over the few seeds of one blob)
    parent = list(range(n_seed))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if min_distance_px > 0:
        pts = cent[1:]
        d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
        close = np.argwhere(np.triu(d2 < float(min_distance_px) ** 2, k=1))
        for i, j in close:
            parent[find(int(i) + 1)] = find(int(j) + 1)
    roots = sorted({find(i) for i in range(1, n_seed)})
    if len(roots) <= 1:
        return None, 1
    remap = np.zeros(n_seed, np.int32)
    for i in range(1, n_seed):
        remap[i] = roots.index(find(i)) + 1
    return remap[seed_lab], len(roots)


def watershed_batch(jobs: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Marker watershed of -dist inside dist > 0 for many padded crops in ONE call.

    skimage's watershed costs ~0.3 ms of Python set-up per call, more than the flooding of a
    typical 40 x 40 cluster; the crops are stacked into one mosaic (their zero borders keep
    them apart) with marker labels offset per crop. Returns the unpadded label crops, with
    each crop's own labels 1..n.
    """
    if not jobs:
        return []
    width = max(d.shape[1] for d, _ in jobs)
    height = sum(d.shape[0] for d, _ in jobs)
    dist = np.zeros((height, width), np.float32)
    markers = np.zeros((height, width), np.int32)
    offsets = []
    row, label = 0, 0
    for d, m in jobs:
        h, w = d.shape
        dist[row : row + h, :w] = d
        markers[row : row + h, :w] = np.where(m > 0, m + label, 0)
        offsets.append((row, h, w, label))
        row += h
        label += int(m.max())
    ws = watershed(-dist, markers, mask=dist > 0)
    return [ws[r + 1 : r + h - 1, 1 : w - 1] - np.where(ws[r + 1 : r + h - 1, 1 : w - 1] > 0,
                                                          lab, 0)
            for r, h, w, lab in offsets]


def _dynamic_peaks(dist: np.ndarray, h_px: float, h_rel: float,
                   window: int) -> np.ndarray | None:
    """Peaks of the distance map whose dynamic is at least max(h_px, h_rel x height) (uint8
    seed image), or None.

    Same seeds as skimage's h_maxima for our purpose, but several times cheaper on small crops
    (h_maxima was 2/3 of the frame time): the candidates are the plateaus of local maxima over
    a window x window neighbourhood (a few per blob); a candidate is kept unless the level set
    {dist >= its height - h}, h = max(h_px, h_rel x its height), joins it to a candidate
    processed before it (higher, or equal and earlier), i.e. unless the saddle to a higher
    peak is shallower than h.
    Returns None when at most one peak survives (the common case: nothing to split).
    """
    dil = cv2.dilate(dist, np.ones((window, window), np.uint8))
    cand = ((dist >= dil) & (dist >= 1.0)).view(np.uint8)
    n, lab, _stats, _cent = cv2.connectedComponentsWithStats(cand, connectivity=8)
    if n <= 2:
        return None
    # one representative pixel per plateau (all its pixels share the same height)
    flat = lab.ravel()
    first = np.full(n, -1, np.int64)
    idx = np.flatnonzero(flat)
    first[flat[idx[::-1]]] = idx[::-1]
    reps = first[1:]
    heights = dist.ravel()[reps]
    order = np.argsort(-heights, kind="stable")
    kept: list[int] = []
    done: list[int] = []
    for i in order:
        level = (dist >= heights[i] - max(h_px, h_rel * heights[i])).view(np.uint8)
        _nl, lev_lab = cv2.connectedComponents(level, connectivity=8)
        lev = lev_lab.ravel()
        own = lev[reps[i]]
        if not any(lev[reps[j]] == own for j in done):
            kept.append(int(i) + 1)
        done.append(int(i))
    if len(kept) <= 1:
        return None
    return np.isin(lab, kept).view(np.uint8)


def merge_small(ws: np.ndarray, n: int, min_area_px: int) -> list[np.ndarray]:
    """Fold pieces below min_area into the neighbour they share most boundary with."""
    while True:
        sizes = np.bincount(ws.ravel(), minlength=n + 1)
        sizes[0] = 0
        present = np.flatnonzero(sizes)
        small = [k for k in present if sizes[k] < min_area_px]
        if not small or len(present) <= 1:
            break
        k = min(small, key=lambda i: sizes[i])
        piece = (ws == k).astype(np.uint8)
        ring = cv2.dilate(piece, np.ones((3, 3), np.uint8)).view(bool) & (ws != k) & (ws > 0)
        neighbours = np.bincount(ws[ring], minlength=n + 1)
        target = int(np.argmax(neighbours)) if neighbours.any() else int(
            present[present != k][0])
        ws[ws == k] = target
    return [ws == k for k in np.flatnonzero(np.bincount(ws.ravel())[1:]) + 1]
