"""The accuracy figures of a run: one implementation, used everywhere they are computed.

The pipeline's CombineFn (transforms/summarising.py) accumulates prediction rows with
`new_accumulator` / `add_row` / `merge` and ends with `summarise`; `bucketscore compare`
and training reports compute per-class figures over (true, predicted) pairs with
`class_metrics`. Both go through `class_figures`, the single precision/recall/F1 formula.

Which rows count: a row is *labelled* when its true label is one of the model's labels.
Rows without a label, or with a label the model does not know, are scored but left out of
accuracy, precision and recall (they are counted apart: `unlabelled`, `unknown_label`).
A row below `--min_confidence` has no predicted label: it counts as a miss for recall and
accuracy, and as no prediction for precision (as scikit-learn does with labels=...).

The accumulator is a handful of counters and a sparse confusion table keyed by
(true label, predicted label), so it stays small whatever the number of images.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Optional, Sequence


def class_figures(true_positives: int, predicted: int, support: int) -> tuple[float, float, float]:
    """(precision, recall, F1) of one class; 0.0 where a denominator is 0 (as scikit-learn
    with zero_division=0)."""
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def class_metrics(pairs: Iterable[tuple[str, Optional[str]]], labels: Iterable[str]) -> dict:
    """{label: {precision, recall, f1, support, predicted}} over (true, predicted) pairs,
    for every label asked for (predicted None: no prediction)."""
    support, predicted, tp = Counter(), Counter(), Counter()
    for true, pred in pairs:
        support[true] += 1
        if pred is not None:
            predicted[pred] += 1
            if pred == true:
                tp[true] += 1
    out = {}
    for label in labels:
        precision, recall, f1 = class_figures(tp[label], predicted[label], support[label])
        out[label] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support[label],
            "predicted": predicted[label],
        }
    return out


def is_correct(predicted: Optional[str], true: Optional[str]) -> Optional[bool]:
    """A prediction row's `correct`: None for an image without a true label, else whether
    the predicted label (None below --min_confidence: never correct) is the true one."""
    return None if true is None else predicted == true


# --------------------------------------------------------------------------------------
# Accumulating prediction rows (the CombineFn's state)
# --------------------------------------------------------------------------------------
CONFIDENCE_BINS = 20  # the confidence histogram: 0-0.05, 0.05-0.1, ..., 0.95-1


def new_accumulator() -> dict:
    return {
        "scored": 0,
        "labelled": 0,
        "unlabelled": 0,
        "unknown_label": 0,
        "below_threshold": 0,
        "correct": 0,
        "top_k_correct": 0,
        "pairs": Counter(),
        "unknown_labels": Counter(),
        "predicted": Counter(),
        "confidence_bins": [0] * CONFIDENCE_BINS,
        "unlabelled_example": None,
    }


def confidence_bin(confidence: float) -> int:
    """The histogram bin of a top-1 probability (1.0 falls in the last bin)."""
    return min(CONFIDENCE_BINS - 1, max(0, int(float(confidence) * CONFIDENCE_BINS)))


def add_row(acc: dict, row: dict, known: Optional[set] = None) -> dict:
    """Count one prediction row; `known`: the model's labels."""
    acc["scored"] += 1
    if row["below_threshold"]:
        acc["below_threshold"] += 1
    else:
        # What the model predicts, labelled or not: the class distribution (and drift).
        acc["predicted"][row["predicted_label"]] += 1
    acc["confidence_bins"][confidence_bin(row["confidence"])] += 1
    true = row["true_label"]
    if true is None or true == "":
        acc["unlabelled"] += 1
        if acc["unlabelled_example"] is None or row["uri"] < acc["unlabelled_example"]:
            acc["unlabelled_example"] = row["uri"]
        return acc
    if known is not None and true not in known:
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


def merge(accumulators: Iterable[dict]) -> dict:
    out = new_accumulator()
    for acc in accumulators:
        for key, value in acc.items():
            if key == "confidence_bins":
                out[key] = [a + b for a, b in zip(out[key], value)]
            elif key == "unlabelled_example":
                out[key] = min((u for u in (out[key], value) if u is not None), default=None)
            else:
                out[key] += value  # ints add, Counters update
    return out


def _ratio(num: float, den: float) -> Optional[float]:
    return float(num) / den if den else None


def summarise(acc: dict, labels: Sequence[str]) -> dict:
    """Accumulated counts -> the summary's metric sections (counts, accuracy, top-k
    accuracy, macro/weighted averages, per-class table of the classes present, confusion
    matrix over every model label, labels the model does not know)."""
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
        precision, recall, f1 = class_figures(
            matrix[index[label]][index[label]], predicted[label], support[label]
        )
        per_class.append(
            {
                "label": label,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": support[label],
                "predicted": predicted[label],
                "abstained": abstained[label],
            }
        )

    def average(weighted: bool) -> dict[str, Optional[float]]:
        if not per_class:
            return {"precision": None, "recall": None, "f1": None}
        weights = [c["support"] if weighted else 1 for c in per_class]
        total = sum(weights)
        if not total:
            return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        return {
            m: sum(w * c[m] for w, c in zip(weights, per_class)) / total
            for m in ("precision", "recall", "f1")
        }

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
        # Every scored image, labelled or not: what the model predicted, how sure it was.
        "predicted_counts": {label: acc["predicted"][label] for label in labels},
        "confidence_histogram": {
            "edges": [round(i / CONFIDENCE_BINS, 4) for i in range(CONFIDENCE_BINS + 1)],
            "counts": list(acc["confidence_bins"]),
        },
        "examples": {"unlabelled": acc["unlabelled_example"]},
    }


def summarise_rows(rows: Iterable[dict], labels: Sequence[str]) -> dict[str, Any]:
    """`summarise` over prediction rows held in memory (what the CombineFn computes)."""
    acc = new_accumulator()
    known = set(labels)
    for row in rows:
        add_row(acc, row, known)
    return summarise(acc, labels)


def empty_summary(labels: Sequence[str]) -> dict[str, Any]:
    return summarise(new_accumulator(), labels)
