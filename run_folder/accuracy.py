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
(true label, predicted label), so it stays small whatever the number of images. It also
holds what threshold evidence (run_folder/thresholds.py: counts per fine confidence bin,
overall and per true label), calibration (run_folder/calibration.py: counts, correct counts
and confidence sums per equal-width bin, overall and per predicted label) and suspect labels
(run_folder/suspects.py: the sum of `true_label_score` per label) need: each grows with the
number of classes and bins, never with the number of images.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Optional, Sequence

from bucketscore.run_folder import calibration, thresholds


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
# Probabilities are summed as integers in units of 1e-9: sums in any order (runners merge
# accumulators as they like) give the same summary, to the last digit.
SCORE_UNITS = 10**9


def _units(probability: float) -> int:
    return round(float(probability) * SCORE_UNITS)


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
        # labelled rows only; "correct" here: the top-1 label is the true one
        "evidence_labelled": [0] * thresholds.N_BINS,
        "evidence_correct": [0] * thresholds.N_BINS,
        "class_evidence": {},  # true label -> {fine bin: [labelled, correct]}
        "calibration_count": [0] * calibration.BINS,
        "calibration_correct": [0] * calibration.BINS,
        "calibration_confidence": [0] * calibration.BINS,  # in SCORE_UNITS
        "class_calibration": {},  # top-1 label -> {bin: [count, correct, confidence units]}
        "true_score_sum": Counter(),  # true label -> sum of true_label_score (SCORE_UNITS)
        "true_score_count": Counter(),  # ... over this many rows (those that have it)
    }


_LIST_KEYS = (
    "confidence_bins",
    "evidence_labelled",
    "evidence_correct",
    "calibration_count",
    "calibration_correct",
    "calibration_confidence",
)
_NESTED_KEYS = ("class_evidence", "class_calibration")


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
    _add_evidence(acc, row, true)
    return acc


def _add_evidence(acc: dict, row: dict, true: str) -> None:
    """Threshold, calibration and suspect-label counts of one labelled row."""
    confidence = float(row["confidence"])
    top1 = row["top_k_labels"][0] if row["top_k_labels"] else None
    right = int(top1 == true)
    b = thresholds.fine_bin(confidence)
    acc["evidence_labelled"][b] += 1
    acc["evidence_correct"][b] += right
    cell = acc["class_evidence"].setdefault(true, {}).setdefault(b, [0, 0])
    cell[0] += 1
    cell[1] += right
    m = calibration.equal_width_bin(confidence)
    acc["calibration_count"][m] += 1
    acc["calibration_correct"][m] += right
    acc["calibration_confidence"][m] += _units(confidence)
    if top1 is not None:
        cell = acc["class_calibration"].setdefault(top1, {}).setdefault(m, [0, 0, 0])
        cell[0] += 1
        cell[1] += right
        cell[2] += _units(confidence)
    score = row.get("true_label_score")
    if score is not None:
        acc["true_score_sum"][true] += _units(score)
        acc["true_score_count"][true] += 1


def merge(accumulators: Iterable[dict]) -> dict:
    out = new_accumulator()
    for acc in accumulators:
        for key, value in acc.items():
            if key in _LIST_KEYS:
                out[key] = [a + b for a, b in zip(out[key], value)]
            elif key in _NESTED_KEYS:
                _merge_nested(out[key], value)
            elif key == "unlabelled_example":
                out[key] = min((u for u in (out[key], value) if u is not None), default=None)
            else:
                out[key] += value  # ints add, Counters update
    return out


def _merge_nested(into: dict, other: dict) -> None:
    """{label: {bin: [numbers]}} added cell by cell into `into` (copies, never aliases)."""
    for label, bins in other.items():
        mine = into.setdefault(label, {})
        for b, cell in bins.items():
            if b in mine:
                mine[b] = [x + y for x, y in zip(mine[b], cell)]
            else:
                mine[b] = list(cell)


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

    class_calibration = calibration.class_errors(
        {
            label: {m: [n, c, s / SCORE_UNITS] for m, (n, c, s) in bins.items()}
            for label, bins in acc["class_calibration"].items()
        }
    )
    for c in per_class:
        figures = class_calibration.get(c["label"]) or {}
        c["ece"], c["mce"] = figures.get("ece"), figures.get("mce")
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
        "threshold_evidence": {
            "curve": thresholds.curve(acc["evidence_labelled"], acc["evidence_correct"]),
            "per_class": thresholds.class_curves(
                {k: acc["class_evidence"][k] for k in labels if k in acc["class_evidence"]}
            ),
        },
        "calibration": calibration.errors(
            acc["calibration_count"],
            acc["calibration_correct"],
            [s / SCORE_UNITS for s in acc["calibration_confidence"]],
        ),
        # Mean probability the model gives each label over the images labelled with it:
        # the per-class thresholds of the suspect-label rule (run_folder/suspects.py).
        "true_label_score_means": {
            label: acc["true_score_sum"][label] / SCORE_UNITS / acc["true_score_count"][label]
            for label in labels
            if acc["true_score_count"][label]
        },
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
