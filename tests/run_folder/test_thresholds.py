"""run_folder/thresholds.py: bins, the coverage-accuracy curve and the target threshold,
against numpy over made-up confidences."""

from __future__ import annotations

import numpy as np
import pytest

from bucketscore.run_folder import thresholds


def _counts(confidence, right):
    labelled = [0] * thresholds.N_BINS
    correct = [0] * thresholds.N_BINS
    for c, r in zip(confidence, right):
        b = thresholds.fine_bin(c)
        labelled[b] += 1
        correct[b] += int(r)
    return labelled, correct


def test_bins_are_coarse_below_0_9_and_fine_above():
    assert thresholds.N_BINS == 190 and thresholds.EDGES[0] == 0.0
    assert thresholds.EDGES[89] == 0.89 and thresholds.EDGES[90] == 0.9
    assert thresholds.EDGES[-1] == 0.999
    assert thresholds.fine_bin(0.0) == 0 and thresholds.fine_bin(1.0) == 189
    assert thresholds.fine_bin(0.9995) == 189 and thresholds.fine_bin(0.95) == 140
    assert thresholds.fine_bin(0.29) == 29  # an edge is in its own bin (no float slip)


def test_the_curve_is_what_numpy_keeps_at_every_edge():
    rng = np.random.default_rng(3)
    confidence = np.concatenate([rng.uniform(0, 1, 500), 1 - rng.exponential(0.01, 500)])
    confidence = np.clip(confidence, 0, 1).astype(np.float32).astype(np.float64)
    right = rng.uniform(0, 1, confidence.size) < confidence
    points = thresholds.curve(*_counts(confidence, right))
    assert [p["threshold"] for p in points] == list(thresholds.EDGES)
    for p in points:
        kept = confidence >= p["threshold"]
        assert p["kept"] == kept.sum() and p["correct"] == right[kept].sum()
        assert p["coverage"] == pytest.approx(kept.mean())
        assert p["accuracy"] == (pytest.approx(right[kept].mean()) if kept.any() else None)


def test_lowest_threshold_reaching_a_target_and_its_sentence():
    # 10 images: confidences 0.05 .. 0.95, right only from 0.55 up
    confidence = [0.05 + 0.1 * i for i in range(10)]
    right = [c > 0.5 for c in confidence]
    points = thresholds.curve(*_counts(confidence, right))
    point = thresholds.lowest_threshold(points, 1.0)
    assert point["threshold"] == 0.46 and point["kept"] == 5  # 0.55 is the first kept
    assert thresholds.target_text(points, 1.0).startswith(
        "threshold 0.46 keeps 50.0% of images at 100.0% accuracy (5 of 10 labelled"
    )
    assert thresholds.lowest_threshold(points, 0.5)["threshold"] == 0.0


def test_a_target_no_threshold_reaches_says_the_best_there_is():
    points = thresholds.curve(*_counts([0.3, 0.6, 0.99], [True, False, False]))
    assert thresholds.lowest_threshold(points, 0.9) is None
    text = thresholds.target_text(points, 0.9)
    assert text.startswith("no threshold reaches 90.0% accuracy on this run: the best is 33.3%")
    empty = thresholds.curve([0] * thresholds.N_BINS, [0] * thresholds.N_BINS)
    assert "no labelled images" in thresholds.target_text(empty, 0.9)


def test_class_curves_change_only_where_the_class_has_images():
    curves = thresholds.class_curves({"cat": {50: [2, 1], 150: [3, 3]}})
    assert curves["cat"] == [
        {"threshold": 0.5, "kept": 5, "coverage": 1.0, "accuracy": 0.8},
        {"threshold": 0.96, "kept": 3, "coverage": 0.6, "accuracy": 1.0},
    ]
    assert thresholds.kept_at(curves["cat"], 0.7)["kept"] == 3
    assert thresholds.kept_at(curves["cat"], 0.97) is None
