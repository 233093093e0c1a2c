"""The accuracy formulas (run_folder.accuracy), checked against scikit-learn and numpy: the
per-class precision/recall/F1, which rows count (unlabelled, labels the model does not know,
below --min_confidence), accumulators merged in any grouping, the confusion matrix, the
predicted-class counts and the confidence histogram.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from bucketscore.run_folder.accuracy import (
    CONFIDENCE_BINS,
    add_row,
    class_figures,
    class_metrics,
    confidence_bin,
    empty_summary,
    is_correct,
    merge,
    new_accumulator,
    summarise,
    summarise_rows,
)
from tests.support.helpers import check_summary_against_sklearn
from tests.support.report_rows import prediction_row

LABELS = ["cat", "dog", "fox", "owl"]


def _random_rows(n: int, seed: int) -> list[dict]:
    """Rows of every kind: right, wrong, below the threshold (no prediction), unlabelled,
    with a label the model does not know ("emu"); confidences over [0, 1] with both ends."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        true = rng.choice(LABELS + LABELS + [None, "emu"])
        below = rng.random() < 0.15
        pred = None if below else rng.choice(LABELS[:3])  # owl is never predicted
        conf = rng.choice([0.0, 1.0, 0.05, 0.5]) if i % 10 == 0 else rng.random()
        row = prediction_row(f"s3://b/{rng.randrange(10**6):06d}-{i}.png", true, pred, conf, below)
        row["top_k_labels"] = rng.sample(LABELS, 2)
        rows.append(row)
    return rows


def test_class_figures_by_hand():
    assert class_figures(3, 4, 6) == (0.75, 0.5, pytest.approx(2 * 0.75 * 0.5 / 1.25))
    assert class_figures(0, 0, 5) == (0.0, 0.0, 0.0)  # never predicted: precision 0
    assert class_figures(0, 2, 0) == (0.0, 0.0, 0.0)  # no support: recall 0
    assert class_figures(2, 2, 2) == (1.0, 1.0, 1.0)


def test_class_metrics_equal_scikit_learn_with_abstentions():
    rng = random.Random(7)
    pairs = [
        (rng.choice(LABELS), rng.choice(LABELS[:3] + [None])) for _ in range(300)
    ]  # None: no prediction (below --min_confidence)
    got = class_metrics(pairs, LABELS)
    y_true = [t for t, _p in pairs]
    y_pred = [p or "<none>" for _t, p in pairs]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=LABELS, zero_division=0)
    for i, label in enumerate(LABELS):
        assert got[label]["precision"] == pytest.approx(p[i])
        assert got[label]["recall"] == pytest.approx(r[i])
        assert got[label]["f1"] == pytest.approx(f[i])
        assert got[label]["support"] == s[i]
        assert got[label]["predicted"] == sum(pred == label for pred in y_pred)
    assert got["owl"]["predicted"] == 0 and got["owl"]["precision"] == 0.0
    assert class_metrics([], ["cat"]) == {
        "cat": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "predicted": 0}
    }


def test_is_correct():
    assert is_correct("cat", "cat") is True
    assert is_correct("dog", "cat") is False
    assert is_correct(None, "cat") is False  # below the threshold: never correct
    assert is_correct("cat", None) is None  # no true label: not judged


@pytest.mark.parametrize(
    "confidence,expected",
    [(0.0, 0), (0.0499, 0), (0.05, 1), (0.5, 10), (0.9999, 19), (1.0, 19), (-0.1, 0), (1.5, 19)],
)
def test_confidence_bins_are_twentieths_with_one_in_the_last(confidence, expected):
    assert CONFIDENCE_BINS == 20
    assert confidence_bin(confidence) == expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_summary_of_rows_equals_scikit_learn_over_the_labelled_rows(seed):
    rows = _random_rows(400, seed)
    summary = summarise_rows(rows, LABELS)
    check_summary_against_sklearn(summary, rows, LABELS)
    counts = summary["counts"]
    assert counts["scored"] == 400
    assert counts["unlabelled"] == sum(r["true_label"] is None for r in rows)
    assert counts["unknown_label"] == sum(r["true_label"] == "emu" for r in rows)
    assert counts["below_threshold"] == sum(r["below_threshold"] for r in rows)
    labelled = [r for r in rows if r["true_label"] in LABELS]
    assert counts["correct"] == sum(r["predicted_label"] == r["true_label"] for r in labelled)
    assert summary["unknown_labels"] == {"emu": counts["unknown_label"]}
    # Weighted by support, as scikit-learn's average="weighted" over the classes present.
    present = [c["label"] for c in summary["per_class"]]
    y_true = [r["true_label"] for r in labelled]
    y_pred = [r["predicted_label"] or "<none>" for r in labelled]
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=present, average="weighted", zero_division=0
    )
    assert summary["weighted"] == {
        "precision": pytest.approx(p),
        "recall": pytest.approx(r),
        "f1": pytest.approx(f),
    }
    # Abstentions per class: the labelled rows of that class below the threshold.
    for c in summary["per_class"]:
        assert c["abstained"] == sum(
            x["true_label"] == c["label"] and x["predicted_label"] is None for x in labelled
        )


def test_every_scored_row_counts_in_the_distribution_and_the_histogram():
    rows = _random_rows(300, 11)
    summary = summarise_rows(rows, LABELS)
    predicted = [r["predicted_label"] for r in rows if not r["below_threshold"]]
    assert summary["predicted_counts"] == {label: predicted.count(label) for label in LABELS}
    expected, edges = np.histogram([r["confidence"] for r in rows], bins=20, range=(0.0, 1.0))
    assert summary["confidence_histogram"]["counts"] == expected.tolist()
    assert summary["confidence_histogram"]["edges"] == pytest.approx(edges.tolist())
    unlabelled = sorted(r["uri"] for r in rows if r["true_label"] is None)
    assert summary["examples"] == {"unlabelled": unlabelled[0]}


def test_accumulators_merge_to_the_same_summary_in_any_grouping():
    rows = _random_rows(250, 5)
    known = set(LABELS)
    rng = random.Random(5)
    parts = [new_accumulator() for _ in range(7)]
    for row in rows:
        add_row(parts[rng.randrange(7)], row, known)
    merged = merge([merge(parts[:3]), new_accumulator(), merge(parts[3:])])
    summary = summarise(merged, LABELS)
    check_summary_against_sklearn(summary, rows, LABELS)
    unlabelled = sorted(r["uri"] for r in rows if r["true_label"] is None)
    assert summary["examples"]["unlabelled"] == unlabelled[0]
    expected, _ = np.histogram([r["confidence"] for r in rows], bins=20, range=(0.0, 1.0))
    assert summary["confidence_histogram"]["counts"] == expected.tolist()


def test_without_the_model_labels_every_label_counts():
    rows = [prediction_row("/a.png", "emu", "cat", 0.9), prediction_row("/b.png", "", "cat", 0.9)]
    acc = new_accumulator()
    for row in rows:
        add_row(acc, row)  # no `known`: emu is labelled; "" is no label
    assert (acc["labelled"], acc["unlabelled"], acc["unknown_label"]) == (1, 1, 0)


def test_the_confusion_matrix_counts_pairs_over_every_model_label():
    rows = [
        prediction_row("/1.png", "cat", "cat", 0.9),
        prediction_row("/2.png", "cat", "dog", 0.9),
        prediction_row("/3.png", "dog", "cat", 0.9),
        prediction_row("/4.png", "cat", None, 0.1, below=True),  # in no cell
    ]
    summary = summarise_rows(rows, LABELS)
    assert summary["confusion_matrix"] == {
        "labels": LABELS,
        "matrix": [[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    }
    # fox and owl: no image, no prediction: not in the per-class table.
    assert [c["label"] for c in summary["per_class"]] == ["cat", "dog"]
    assert summary["accuracy"] == 0.25 and summary["top_k_accuracy"] == 0.75  # top-2: cat, dog


def test_an_empty_summary_has_no_figures():
    summary = empty_summary(LABELS)
    assert summary["accuracy"] is None and summary["top_k_accuracy"] is None
    assert summary["macro"] == {"precision": None, "recall": None, "f1": None}
    assert summary["per_class"] == [] and summary["unknown_labels"] == {}
    assert summary["confusion_matrix"]["matrix"] == [[0] * 4 for _ in range(4)]
    assert summary["confidence_histogram"]["counts"] == [0] * 20
    assert summary["examples"] == {"unlabelled": None}
    assert summary["counts"] == {
        "scored": 0,
        "labelled": 0,
        "unlabelled": 0,
        "unknown_label": 0,
        "below_threshold": 0,
        "correct": 0,
    }
