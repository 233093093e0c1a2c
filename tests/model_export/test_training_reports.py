"""model_export.training_reports: the CSV tables a training writes into its bundle (cells as
written, per-class figures and confusion matrix against scikit-learn) and the PNG plots."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from bucketscore.model_export.training_reports import (
    CURVE_FIELDS,
    confusion_csv,
    confusion_matrix,
    curves_png,
    per_class_rows,
    to_csv,
    trials_png,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LABELS = ["cat", "dog", "owl", "fox"]


def test_to_csv_writes_the_fields_asked_for():
    rows = [
        {"epoch": 1, "loss": 0.123456789, "accuracy": float("nan"), "other": "dropped"},
        {"epoch": 2, "loss": None, "accuracy": 1.0, "phase": "fine_tune"},
    ]
    text = to_csv(rows, ["epoch", "phase", "loss", "accuracy"])
    assert text == "epoch,phase,loss,accuracy\n1,,0.123457,\n2,fine_tune,,1\n"
    assert to_csv([], CURVE_FIELDS) == ",".join(CURVE_FIELDS) + "\n"


def _random_predictions(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 4, n)
    # mostly right, some confusions, and one class (owl, 2) never predicted
    y_pred = np.where(rng.uniform(size=n) < 0.7, y_true, rng.integers(0, 4, n))
    y_pred[y_pred == 2] = 3
    return y_true, y_pred


def test_per_class_rows_equal_scikit_learn():
    from sklearn.metrics import precision_recall_fscore_support

    y_true, y_pred = _random_predictions()
    rows = per_class_rows(LABELS, y_true, y_pred)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=range(4), zero_division=0)
    assert [row["label"] for row in rows] == LABELS
    for i, row in enumerate(rows):
        assert row["precision"] == pytest.approx(p[i], abs=1e-12)
        assert row["recall"] == pytest.approx(r[i], abs=1e-12)
        assert row["f1"] == pytest.approx(f[i], abs=1e-12)
        assert row["support"] == s[i]
    assert rows[2]["precision"] == 0.0 and rows[2]["support"] > 0  # owl: never predicted


def test_confusion_matrix_equals_scikit_learn():
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    y_true, y_pred = _random_predictions(seed=1)
    cm = confusion_matrix(4, y_true, y_pred)
    np.testing.assert_array_equal(cm, sk_confusion_matrix(y_true, y_pred, labels=range(4)))
    assert cm.sum() == len(y_true) and cm[:, 2].sum() == 0
    # A class absent from the data still has its row and column.
    np.testing.assert_array_equal(
        confusion_matrix(3, [0, 0, 2], [0, 2, 2]), [[1, 0, 1], [0, 0, 0], [0, 0, 1]]
    )


def test_confusion_csv_rows_true_columns_predicted():
    text = confusion_csv(["a", "b"], np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]))
    assert list(csv.reader(io.StringIO(text))) == [
        ["true \\ predicted", "a", "b"],
        ["a", "1", "1"],
        ["b", "1", "2"],
    ]


def test_the_plots_are_png_images():
    from PIL import Image

    rows = [
        {
            "epoch": e,
            "phase": "head" if e < 3 else "fine_tune",
            "loss": 1 / e,
            "accuracy": e / 4,
            "val_loss": 1.2 / e,
            "val_accuracy": e / 5,
        }
        for e in range(1, 5)
    ]
    png = curves_png(rows, "small_cnn")
    assert png[:8] == PNG_MAGIC and Image.open(io.BytesIO(png)).size == (1000, 400)
    trials = [
        {"trial": 1, "learning_rate": 1e-3, "val_accuracy": 0.5},
        {"trial": 2, "learning_rate": 1e-2, "val_accuracy": 0.75},
        {"trial": 3, "learning_rate": 3e-4, "val_accuracy": None},  # failed trial
    ]
    png = trials_png(trials, "val_accuracy", log_x="learning_rate")
    assert png[:8] == PNG_MAGIC and Image.open(io.BytesIO(png)).size == (1100, 400)
