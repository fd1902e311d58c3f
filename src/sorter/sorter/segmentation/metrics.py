"""Scores of a segmentation against its truth: per pixel (classes) and per particle (instances).

Pixel metrics follow Yu et al. (see docs/references.md), from the confusion matrix p (rows:
true class i, columns: predicted class j), summed over the scenes before any ratio is taken:

* accuracy = sum_i p_ii / sum_ij p_ij;
* pixel accuracy of class i, PA_i = p_ii / sum_j p_ij; mPA = mean of PA_i;
* IoU_i = p_ii / (sum_j p_ij + sum_j p_ji - p_ii); mIoU = mean of IoU_i.

A class absent from the truth has no PA, and one absent from truth and prediction no IoU (NaN);
the means run over the classes that have one.

Instance metrics compare two label images (0 background, each other value one particle; the
truth's particles are the labels present in its image, so a particle wholly hidden under
another is not one). IoU of a truth t and a prediction p = |t & p| / |t | p|.

* matching: one-to-one pairs with IoU >= `iou_threshold` (0.5), greedy by decreasing IoU
  (ties: lower truth label, then lower predicted label) or Hungarian (maximum total IoU,
  scipy's linear_sum_assignment). Matched truths are true positives, unmatched truths false
  negatives, unmatched predictions false positives; precision = TP / predictions, recall =
  TP / truths, F1 = 2 TP / (truths + predictions). Each ratio is 1.0 when its denominator is 0
  (nothing to find and nothing found is no error);
* merge: a prediction holding at least `cover` (0.5) of the area of each of two or more truths;
  `merged_truths` counts the truths so held. A merge may still match one of them;
* split: a truth holding at least `cover` of the area of each of two or more predictions;
  `split_predictions` counts the predictions so held;
* recall per group: caller-given per-truth flags (e.g. touching, stacked, isolated), entry
  k - 1 for truth label k; found / total over the truths of each group;
* recall per size: truths binned by their area in pixels at `size_edges_px` (bin b holds
  edges[b] <= area < edges[b + 1]).

Counts add over scenes (`aggregate`); ratios are taken from the sums. No ROS import.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

DEFAULT_SIZE_EDGES_PX: tuple[float, ...] = (0.0, 10.0, 30.0, 100.0, 300.0, 1000.0, math.inf)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 1.0


# ----------------------------------------------------------------------------- pixels
def confusion_matrix(truth: np.ndarray, prediction: np.ndarray, n_classes: int = 4
                     ) -> np.ndarray:
    """(n_classes, n_classes) int64 counts: row = true class, column = predicted class."""
    t, p = np.asarray(truth), np.asarray(prediction)
    if t.shape != p.shape:
        raise ValueError(f"truth {t.shape} and prediction {p.shape} differ in shape")
    for name, a in (("truth", t), ("prediction", p)):
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{name} must be an integer class map, got {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"{name} classes must be 0..{n_classes - 1}")
    keys = t.astype(np.int64).ravel() * n_classes + p.astype(np.int64).ravel()
    return np.bincount(keys, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


@dataclass(frozen=True)
class PixelMetrics:
    """Accuracy, per-class PA and IoU and their means (NaN where undefined)."""

    confusion: np.ndarray
    accuracy: float
    class_pa: tuple[float, ...]
    mpa: float
    class_iou: tuple[float, ...]
    miou: float


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(sum(finite) / len(finite)) if finite else math.nan


def pixel_metrics(confusion: np.ndarray) -> PixelMetrics:
    """The pixel metrics of a (summed) confusion matrix."""
    c = np.asarray(confusion, dtype=np.int64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or (c < 0).any():
        raise ValueError("confusion must be a square matrix of counts")
    diag = np.diag(c).astype(np.float64)
    true_n = c.sum(axis=1).astype(np.float64)
    pred_n = c.sum(axis=0).astype(np.float64)
    total = float(c.sum())
    pa = tuple(float(d / n) if n else math.nan for d, n in zip(diag, true_n, strict=True))
    union = true_n + pred_n - diag
    iou = tuple(float(d / u) if u else math.nan for d, u in zip(diag, union, strict=True))
    return PixelMetrics(c.copy(), float(diag.sum() / total) if total else math.nan,
                        pa, _nanmean(pa), iou, _nanmean(iou))


# ----------------------------------------------------------------------------- instances
@dataclass(frozen=True)
class Overlaps:
    """Areas of the labels of two images and of their non-empty intersections."""

    truth_labels: np.ndarray   # labels present in the truth (sorted)
    truth_area: np.ndarray     # their areas
    pred_labels: np.ndarray
    pred_area: np.ndarray
    pair_truth: np.ndarray     # one entry per intersecting (truth, prediction) pair
    pair_pred: np.ndarray
    pair_inter: np.ndarray
    pair_iou: np.ndarray


def overlaps(truth: np.ndarray, prediction: np.ndarray) -> Overlaps:
    t = np.asarray(truth)
    p = np.asarray(prediction)
    if t.shape != p.shape:
        raise ValueError(f"truth {t.shape} and prediction {p.shape} differ in shape")
    for name, a in (("truth", t), ("prediction", p)):
        if not np.issubdtype(a.dtype, np.integer) or (a.size and a.min() < 0):
            raise ValueError(f"{name} must be a non-negative integer label image")
    t = t.astype(np.int64).ravel()
    p = p.astype(np.int64).ravel()
    t_lab, t_area = np.unique(t[t > 0], return_counts=True)
    p_lab, p_area = np.unique(p[p > 0], return_counts=True)
    both = (t > 0) & (p > 0)
    base = int(p.max(initial=0)) + 1
    keys, inter = np.unique(t[both] * base + p[both], return_counts=True)
    pt, pp = keys // base, keys % base
    ta = t_area[np.searchsorted(t_lab, pt)]
    pa = p_area[np.searchsorted(p_lab, pp)]
    iou = inter / (ta + pa - inter).astype(np.float64)
    return Overlaps(t_lab, t_area, p_lab, p_area, pt, pp, inter, iou)


@dataclass(frozen=True)
class InstanceMatch:
    """One-to-one matched (truth label, predicted label, IoU) triples."""

    pairs: tuple[tuple[int, int, float], ...]
    overlaps: Overlaps

    @property
    def matched_truths(self) -> set[int]:
        return {t for t, _p, _i in self.pairs}

    @property
    def matched_predictions(self) -> set[int]:
        return {p for _t, p, _i in self.pairs}


def match_instances(truth: np.ndarray, prediction: np.ndarray, iou_threshold: float = 0.5,
                    method: str = "greedy") -> InstanceMatch:
    """Match truths to predictions one-to-one at IoU >= iou_threshold (greedy or hungarian)."""
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    ov = overlaps(truth, prediction)
    ok = ov.pair_iou >= iou_threshold
    ct, cp, ci = ov.pair_truth[ok], ov.pair_pred[ok], ov.pair_iou[ok]
    pairs: list[tuple[int, int, float]] = []
    if method == "greedy":
        used_t: set[int] = set()
        used_p: set[int] = set()
        for k in np.lexsort((cp, ct, -ci)):
            t, p = int(ct[k]), int(cp[k])
            if t not in used_t and p not in used_p:
                used_t.add(t)
                used_p.add(p)
                pairs.append((t, p, float(ci[k])))
    elif method == "hungarian":
        if ci.size:
            ut, rt = np.unique(ct, return_inverse=True)
            up, rp = np.unique(cp, return_inverse=True)
            weight = np.zeros((ut.size, up.size))
            weight[rt, rp] = ci
            rows, cols = linear_sum_assignment(weight, maximize=True)
            pairs = [(int(ut[r]), int(up[c]), float(weight[r, c]))
                     for r, c in zip(rows, cols, strict=True) if weight[r, c] > 0.0]
    else:
        raise ValueError(f"method must be 'greedy' or 'hungarian', got {method!r}")
    pairs.sort()
    return InstanceMatch(tuple(pairs), ov)


@dataclass(frozen=True)
class InstanceMetrics:
    """Counts of one scene or a sum of scenes; ratios are properties."""

    truths: int
    predictions: int
    matched: int
    merges: int = 0
    merged_truths: int = 0
    splits: int = 0
    split_predictions: int = 0
    group_found: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # found, total
    size_edges_px: tuple[float, ...] = DEFAULT_SIZE_EDGES_PX
    size_found: tuple[int, ...] = ()
    size_total: tuple[int, ...] = ()

    @property
    def false_positives(self) -> int:
        return self.predictions - self.matched

    @property
    def false_negatives(self) -> int:
        return self.truths - self.matched

    @property
    def precision(self) -> float:
        return _ratio(self.matched, self.predictions)

    @property
    def recall(self) -> float:
        return _ratio(self.matched, self.truths)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.matched, self.truths + self.predictions)

    def group_recall(self, name: str) -> float:
        found, total = self.group_found[name]
        return _ratio(found, total)

    @property
    def size_recall(self) -> tuple[float, ...]:
        return tuple(_ratio(f, n) for f, n in zip(self.size_found, self.size_total,
                                                  strict=True))


def evaluate_instances(truth: np.ndarray, prediction: np.ndarray,
                       groups: Mapping[str, Sequence[bool] | np.ndarray] | None = None,
                       size_edges_px: Sequence[float] = DEFAULT_SIZE_EDGES_PX,
                       iou_threshold: float = 0.5, cover: float = 0.5,
                       method: str = "greedy") -> InstanceMetrics:
    """Instance counts of one scene (see the module's definitions)."""
    edges = tuple(float(e) for e in size_edges_px)
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError("size_edges_px must be at least two increasing edges")
    if not 0.0 < cover <= 1.0:
        raise ValueError(f"cover must be in (0, 1], got {cover}")
    match = match_instances(truth, prediction, iou_threshold, method)
    ov = match.overlaps
    found = match.matched_truths
    t_area = dict(zip(ov.truth_labels.tolist(), ov.truth_area.tolist(), strict=True))
    p_area = dict(zip(ov.pred_labels.tolist(), ov.pred_area.tolist(), strict=True))
    held_by_pred: dict[int, int] = {}   # prediction -> truths it holds >= cover of
    held_by_truth: dict[int, int] = {}  # truth -> predictions it holds >= cover of
    for t, p, n in zip(ov.pair_truth.tolist(), ov.pair_pred.tolist(), ov.pair_inter.tolist(),
                       strict=True):
        if n >= cover * t_area[t]:
            held_by_pred[p] = held_by_pred.get(p, 0) + 1
        if n >= cover * p_area[p]:
            held_by_truth[t] = held_by_truth.get(t, 0) + 1
    merges = [k for k in held_by_pred.values() if k >= 2]
    splits = [k for k in held_by_truth.values() if k >= 2]

    group_found: dict[str, tuple[int, int]] = {}
    labels = ov.truth_labels.tolist()
    for name, flags in (groups or {}).items():
        f = np.asarray(flags, dtype=bool).ravel()
        if labels and f.size < max(labels):
            raise ValueError(f"group {name!r} has {f.size} flags, truth label {max(labels)} "
                             "has none")
        members = [t for t in labels if f[t - 1]]
        group_found[name] = (sum(t in found for t in members), len(members))

    bins = np.searchsorted(edges, ov.truth_area, side="right") - 1
    inside = (bins >= 0) & (bins < len(edges) - 1)
    hit = np.array([t in found for t in labels], dtype=bool)
    size_total = np.bincount(bins[inside], minlength=len(edges) - 1)
    size_found = np.bincount(bins[inside & hit], minlength=len(edges) - 1)
    return InstanceMetrics(
        truths=len(labels), predictions=int(ov.pred_labels.size), matched=len(match.pairs),
        merges=len(merges), merged_truths=int(sum(merges)), splits=len(splits),
        split_predictions=int(sum(splits)), group_found=group_found, size_edges_px=edges,
        size_found=tuple(int(v) for v in size_found),
        size_total=tuple(int(v) for v in size_total),
    )


def contact_groups(touching: Sequence[bool], stacked: Sequence[bool]) -> dict[str, np.ndarray]:
    """Groups for `evaluate_instances` from per-particle contact flags: touching (laid against
    another), stacked (sharing pixels with another) and isolated (neither)."""
    t = np.asarray(touching, dtype=bool)
    s = np.asarray(stacked, dtype=bool)
    if t.shape != s.shape:
        raise ValueError("touching and stacked flags differ in length")
    return {"touching": t, "stacked": s, "isolated": ~(t | s)}


# ----------------------------------------------------------------------------- scenes
@dataclass(frozen=True)
class SceneScore:
    """Pixel confusion and instance counts of one scene, or summed over scenes."""

    confusion: np.ndarray
    instances: InstanceMetrics

    @property
    def pixels(self) -> PixelMetrics:
        return pixel_metrics(self.confusion)


def score_scene(truth_classes: np.ndarray, predicted_classes: np.ndarray,
                truth_instances: np.ndarray, predicted_instances: np.ndarray,
                groups: Mapping[str, Sequence[bool] | np.ndarray] | None = None,
                size_edges_px: Sequence[float] = DEFAULT_SIZE_EDGES_PX,
                iou_threshold: float = 0.5, method: str = "greedy") -> SceneScore:
    return SceneScore(confusion_matrix(truth_classes, predicted_classes),
                      evaluate_instances(truth_instances, predicted_instances, groups,
                                         size_edges_px, iou_threshold, method=method))


def aggregate_instances(metrics: Iterable[InstanceMetrics]) -> InstanceMetrics:
    """Sum of instance counts over scenes (same size bins; groups summed by name)."""
    items = list(metrics)
    if not items:
        raise ValueError("nothing to aggregate")
    edges = items[0].size_edges_px
    if any(m.size_edges_px != edges for m in items):
        raise ValueError("scenes were binned at different size edges")
    groups: dict[str, tuple[int, int]] = {}
    for m in items:
        for name, (f, n) in m.group_found.items():
            g = groups.get(name, (0, 0))
            groups[name] = (g[0] + f, g[1] + n)
    nbins = len(edges) - 1

    def total(name: str) -> int:
        return int(sum(getattr(m, name) for m in items))

    def bins(name: str) -> tuple[int, ...]:
        out = np.zeros(nbins, np.int64)
        for m in items:
            values = getattr(m, name)
            if values:
                out += np.asarray(values, np.int64)
        return tuple(int(v) for v in out)

    return InstanceMetrics(
        truths=total("truths"), predictions=total("predictions"), matched=total("matched"),
        merges=total("merges"), merged_truths=total("merged_truths"), splits=total("splits"),
        split_predictions=total("split_predictions"), group_found=groups, size_edges_px=edges,
        size_found=bins("size_found"), size_total=bins("size_total"),
    )


def aggregate(scores: Iterable[SceneScore]) -> SceneScore:
    """Scene scores summed: confusion matrices added, instance counts added."""
    items = list(scores)
    if not items:
        raise ValueError("nothing to aggregate")
    confusion = np.sum([s.confusion for s in items], axis=0)
    return SceneScore(confusion, aggregate_instances(s.instances for s in items))
