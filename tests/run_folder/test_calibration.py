"""run_folder/calibration.py: ECE and MCE against the formula computed with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from bucketscore.run_folder import calibration


def _sums(confidence, right):
    count, correct, total = [0] * 10, [0] * 10, [0.0] * 10
    for c, r in zip(confidence, right):
        m = calibration.equal_width_bin(c)
        count[m] += 1
        correct[m] += int(r)
        total[m] += c
    return count, correct, total


def test_ece_and_mce_equal_the_formula():
    rng = np.random.default_rng(5)
    confidence = rng.uniform(0.1, 1.0, 2000)
    right = rng.uniform(0, 1, 2000) < confidence**2  # over-confident model
    figures = calibration.errors(*_sums(confidence, right))
    bins = np.minimum((confidence * 10).astype(int), 9)
    gaps = {
        m: abs(right[bins == m].mean() - confidence[bins == m].mean())
        for m in range(10)
        if (bins == m).any()
    }
    ece = sum((bins == m).sum() / confidence.size * g for m, g in gaps.items())
    assert figures["ece"] == pytest.approx(ece) and figures["mce"] == pytest.approx(
        max(gaps.values())
    )
    assert figures["images"] == 2000 and figures["bins"][0]["images"] == 0
    assert figures["bins"][0]["accuracy"] is None


def test_a_calibrated_model_scores_near_zero_and_an_empty_run_none():
    confidence = [0.85] * 100
    right = [True] * 85 + [False] * 15
    assert calibration.errors(*_sums(confidence, right))["ece"] == pytest.approx(0.0)
    empty = calibration.errors([0] * 10, [0] * 10, [0.0] * 10)
    assert empty["ece"] is None and empty["mce"] is None
    assert "no labelled images" in calibration.described(empty)
    assert calibration.equal_width_bin(1.0) == 9 and calibration.equal_width_bin(0.1) == 1


def test_class_errors_from_sparse_bins():
    out = calibration.class_errors({"cat": {9: [4, 2, 3.8]}})
    assert out["cat"]["ece"] == pytest.approx(abs(0.5 - 0.95)) and out["cat"]["images"] == 4
