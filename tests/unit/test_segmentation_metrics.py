"""Segmentation scores on hand-made cases with known answers: pixel accuracy, PA, IoU and their
means from a confusion matrix; instance matching, merges, splits, misses, background-only
scenes, per-group and per-size recall, and sums over scenes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sorter.segmentation.metrics import (
    InstanceMetrics,
    aggregate,
    aggregate_instances,
    confusion_matrix,
    contact_groups,
    evaluate_instances,
    match_instances,
    pixel_metrics,
    score_scene,
)


def frame() -> np.ndarray:
    return np.zeros((12, 20), np.int32)


def two_touching_and_one_alone() -> np.ndarray:
    """A 4x4 (label 1) against a 4x6 (label 2), and a 3x3 (label 3) on its own."""
    t = frame()
    t[1:5, 1:5] = 1
    t[1:5, 5:11] = 2
    t[7:10, 14:17] = 3
    return t


GROUPS = {"touching": [True, True, False], "isolated": [False, False, True]}


@pytest.mark.parametrize("method", ["greedy", "hungarian"])
def test_perfect_prediction(method):
    t = two_touching_and_one_alone()
    m = evaluate_instances(t, t.copy() * 7, GROUPS, method=method)   # any label values
    assert (m.truths, m.predictions, m.matched) == (3, 3, 3)
    assert m.precision == m.recall == m.f1 == 1.0
    assert (m.merges, m.splits) == (0, 0)
    assert m.group_recall("touching") == m.group_recall("isolated") == 1.0
    match = match_instances(t, t * 7, method=method)
    assert match.pairs == ((1, 7, 1.0), (2, 14, 1.0), (3, 21, 1.0))


@pytest.mark.parametrize("method", ["greedy", "hungarian"])
def test_one_merge(method):
    t = two_touching_and_one_alone()
    p = t.copy()
    p[p == 2] = 1           # the pair as one particle of 40 px: IoU 16/40 and 24/40
    m = evaluate_instances(t, p, GROUPS, method=method)
    assert (m.truths, m.predictions, m.matched) == (3, 2, 2)
    assert match_instances(t, p, method=method).pairs == ((2, 1, 0.6), (3, 3, 1.0))
    assert (m.merges, m.merged_truths, m.splits) == (1, 2, 0)
    assert (m.false_positives, m.false_negatives) == (0, 1)
    assert m.precision == 1.0
    assert m.recall == pytest.approx(2 / 3)
    assert m.f1 == pytest.approx(2 * 2 / 5)
    assert m.group_found["touching"] == (1, 2)
    assert m.group_recall("touching") == 0.5
    assert m.group_recall("isolated") == 1.0


def test_one_split():
    t = frame()
    t[2:6, 2:10] = 1                     # 32 px
    p = frame()
    p[2:6, 2:7] = 4                      # 20 px: IoU 0.625
    p[2:6, 7:10] = 9                     # 12 px: IoU 0.375
    m = evaluate_instances(t, p)
    assert (m.truths, m.predictions, m.matched) == (1, 2, 1)
    assert (m.splits, m.split_predictions, m.merges) == (1, 2, 0)
    assert (m.precision, m.recall) == (0.5, 1.0)
    assert m.f1 == pytest.approx(2 / 3)


def test_one_missed_and_size_bins():
    t = two_touching_and_one_alone()
    p = t.copy()
    p[p == 3] = 0
    m = evaluate_instances(t, p, GROUPS, size_edges_px=(0, 10, 20, math.inf))
    assert (m.truths, m.predictions, m.matched) == (3, 2, 2)
    assert (m.merges, m.splits, m.false_negatives, m.false_positives) == (0, 0, 1, 0)
    assert m.group_recall("isolated") == 0.0
    assert m.group_recall("touching") == 1.0
    # areas 16, 24, 9: the 9-px particle (missed) in the first bin
    assert m.size_total == (1, 1, 1)
    assert m.size_found == (0, 1, 1)
    assert m.size_recall == (0.0, 1.0, 1.0)


def test_iou_at_the_threshold_counts_and_below_does_not():
    t = frame()
    t[0:4, 0:4] = 1                      # 16 px
    half = frame()
    half[0:4, 0:2] = 1                   # inside it, 8 px: IoU exactly 0.5
    assert evaluate_instances(t, half).matched == 1
    less = frame()
    less[0:4, 0:2] = 1
    less[0, 4] = 1                       # 9 px, union 17: IoU 8/17
    assert evaluate_instances(t, less).matched == 0


def test_background_only_scene():
    empty = frame()
    m = evaluate_instances(empty, empty, GROUPS)
    assert (m.truths, m.predictions, m.matched) == (0, 0, 0)
    assert m.precision == m.recall == m.f1 == 1.0   # nothing to find, nothing found
    assert m.group_found == {"touching": (0, 0), "isolated": (0, 0)}
    spurious = frame()
    spurious[3:5, 3:5] = 2
    m = evaluate_instances(empty, spurious)
    assert (m.precision, m.recall, m.f1) == (0.0, 1.0, 0.0)
    px = pixel_metrics(confusion_matrix(empty, empty))
    assert px.accuracy == 1.0 and px.mpa == 1.0 and px.miou == 1.0
    assert px.class_pa[0] == 1.0 and all(math.isnan(v) for v in px.class_pa[1:])
    assert all(math.isnan(v) for v in px.class_iou[1:])


def test_pixel_metrics_by_hand():
    truth = np.array([[0, 0, 1, 1, 2, 2]])
    pred = np.array([[0, 1, 1, 1, 2, 0]])
    c = confusion_matrix(truth, pred, n_classes=3)
    assert c.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]   # rows: true class
    px = pixel_metrics(c)
    assert px.accuracy == pytest.approx(4 / 6)
    assert px.class_pa == pytest.approx((0.5, 1.0, 0.5))
    assert px.mpa == pytest.approx(2 / 3)
    # IoU_i = p_ii / (row_i + column_i - p_ii)
    assert px.class_iou == pytest.approx((1 / 3, 2 / 3, 1 / 2))
    assert px.miou == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    with pytest.raises(ValueError):
        confusion_matrix(truth, pred[:, :3])
    with pytest.raises(ValueError):
        confusion_matrix(truth, pred + 1, n_classes=3)


def test_scores_add_over_scenes_before_the_ratios():
    t = two_touching_and_one_alone()
    merged = t.copy()
    merged[merged == 2] = 1
    classes = (t > 0).astype(np.uint8)
    wrong = np.zeros_like(classes)
    a = score_scene(classes, classes, t, t, GROUPS)
    b = score_scene(classes, wrong, t, merged, GROUPS)
    total = aggregate([a, b])
    assert (total.instances.truths, total.instances.matched) == (6, 5)
    assert total.instances.merges == 1
    assert total.instances.group_found["touching"] == (3, 4)
    assert total.instances.size_total == tuple(2 * np.asarray(a.instances.size_total))
    fg = int(classes.sum())
    assert total.pixels.accuracy == pytest.approx(1 - fg / (2 * classes.size))
    assert total.pixels.class_pa[1] == pytest.approx(0.5)   # pooled, not per scene
    assert math.isnan(total.pixels.class_pa[2])             # no class 2 anywhere
    by_hand = InstanceMetrics(truths=1, predictions=0, matched=0)
    summed = aggregate_instances([by_hand, a.instances])
    assert (summed.truths, summed.matched) == (4, 3)
    assert summed.size_total == a.instances.size_total


def test_contact_groups_and_bad_input():
    g = contact_groups([True, False, False], [False, True, False])
    assert g["isolated"].tolist() == [False, False, True]
    t = two_touching_and_one_alone()
    with pytest.raises(ValueError):
        evaluate_instances(t, t, {"touching": [True]})       # too few flags
    with pytest.raises(ValueError):
        match_instances(t, t, method="nearest")
    with pytest.raises(ValueError):
        evaluate_instances(t, t[:, :5])
    with pytest.raises(ValueError):
        evaluate_instances(t, t, size_edges_px=(5, 5))
