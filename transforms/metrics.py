"""The run's accuracy summary, computed in the pipeline by a CombineFn over prediction rows.

The accumulator is a handful of counters and a sparse confusion table keyed by
(true label, predicted label), so it stays small whatever the number of images.

Which rows count: a row is *labelled* when its true label is one of the model's labels.
Rows without a label, or with a label the model does not know, are scored but left out of
accuracy, precision and recall (they are counted apart: `unlabelled`, `unknown_label`).
A row below `--min_confidence` has no predicted label: it counts as a miss for recall and
accuracy, and as no prediction for precision (as scikit-learn does with labels=...).
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Optional, Sequence

import apache_beam as beam


def _new_accumulator() -> dict:
    return {"scored": 0, "labelled": 0, "unlabelled": 0, "unknown_label": 0,
            "below_threshold": 0, "correct": 0, "top_k_correct": 0, "pairs": Counter(),
            "unknown_labels": Counter()}


class SummaryFn(beam.CombineFn):
    """prediction rows -> summary dict (counts, accuracy, per-class table, confusion matrix)."""

    def __init__(self, labels: Sequence[str]):
        self._labels = list(labels)
        self._known = set(labels)

    def create_accumulator(self) -> dict:
        return _new_accumulator()

    def add_input(self, acc: dict, row: dict) -> dict:
        acc["scored"] += 1
        if row["below_threshold"]:
            acc["below_threshold"] += 1
        true = row["true_label"]
        if true is None or true == "":
            acc["unlabelled"] += 1
            return acc
        if true not in self._known:
            acc["unknown_label"] += 1
            acc["unknown_labels"][true] += 1
            return acc
        acc["labelled"] += 1
        pred = row["predicted_label"]
        if pred == true:
            acc["correct"] += 1
        if true in row["top_k_labels"]:
            acc["top_k_correct"] += 1
        acc["pairs"][(true, pred)] += 1
        return acc

    def merge_accumulators(self, accumulators) -> dict:
        out = _new_accumulator()
        for acc in accumulators:
            for key, value in acc.items():
                out[key] += value  # ints add, Counters update
        return out

    def extract_output(self, acc: dict) -> dict:
        return summarise(acc, self._labels)


def _ratio(num: float, den: float) -> Optional[float]:
    return float(num) / den if den else None


def summarise(acc: dict, labels: Sequence[str]) -> dict:
    """Accumulated counts -> the summary's metric sections."""
    index = {label: i for i, label in enumerate(labels)}
    n = len(labels)
    matrix = [[0] * n for _ in range(n)]
    support = Counter()
    predicted = Counter()
    abstained = Counter()
    for (true, pred), count in acc["pairs"].items():
        support[true] += count
        if pred is None:
            abstained[true] += count
            continue
        predicted[pred] += count
        matrix[index[true]][index[pred]] += count

    per_class = []
    for label in labels:
        if not support[label] and not predicted[label]:
            continue
        tp = matrix[index[label]][index[label]]
        precision = tp / predicted[label] if predicted[label] else 0.0
        recall = tp / support[label] if support[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append({"label": label, "precision": precision, "recall": recall, "f1": f1,
                          "support": support[label], "predicted": predicted[label],
                          "abstained": abstained[label]})

    def average(weighted: bool) -> dict[str, Optional[float]]:
        if not per_class:
            return {"precision": None, "recall": None, "f1": None}
        weights = [c["support"] if weighted else 1 for c in per_class]
        total = sum(weights)
        if not total:
            return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        return {m: sum(w * c[m] for w, c in zip(weights, per_class)) / total
                for m in ("precision", "recall", "f1")}

    labelled = acc["labelled"]
    return {
        "counts": {
            "scored": acc["scored"],
            "labelled": labelled,
            "unlabelled": acc["unlabelled"],
            "unknown_label": acc["unknown_label"],
            "below_threshold": acc["below_threshold"],
            "correct": acc["correct"],
        },
        "accuracy": _ratio(acc["correct"], labelled),
        "top_k_accuracy": _ratio(acc["top_k_correct"], labelled),
        "macro": average(weighted=False),
        "weighted": average(weighted=True),
        "per_class": per_class,
        "confusion_matrix": {"labels": list(labels), "matrix": matrix},
        "unknown_labels": dict(sorted(acc["unknown_labels"].items())),
    }


def empty_summary(labels: Sequence[str]) -> dict[str, Any]:
    return summarise(_new_accumulator(), labels)
