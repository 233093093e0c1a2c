"""Which images report.html shows: the most confident mistakes, some failures, the least
confident predictions and the most confident ones of each predicted class.

Pure functions; transforms/report_items.py keeps the n best of each with Beam's bounded
`Top` combiners (the data set is never gathered).
"""

from __future__ import annotations

from typing import Collection, Optional

DEFAULT_REPORT_ITEMS = 24
PER_CLASS_ITEMS = 3  # most confident images shown per predicted class
MAX_CLASSES_SHOWN = 30  # ... for at most this many classes (model label order)


def is_mistake(row: dict, labels: Optional[Collection[str]] = None) -> bool:
    """A wrong prediction: labelled, a label was predicted (not abstained) and it differs.

    Rows below --min_confidence have no predicted label: they are abstentions, not
    confident mistakes, and are left out here (summary.json counts them). With `labels`
    (the model's), a true label the model does not know is not a mistake either: as in
    summary.json, such rows are counted apart (`unknown_label`).
    """
    true, predicted = row.get("true_label"), row.get("predicted_label")
    if not true or not predicted or true == predicted:
        return False
    return labels is None or true in labels


def mistake_key(row: dict) -> tuple:
    """Most confident first; ties: the smaller URI wins (so the choice is deterministic)."""
    return (float(row["confidence"]), _Reversed(row["uri"]))


def least_confident_key(row: dict) -> tuple:
    """Least confident first (for Top.Of, which keeps the largest); ties: smaller URI."""
    return (-float(row["confidence"]), _Reversed(row["uri"]))


def has_prediction(row: dict) -> bool:
    return bool(row.get("predicted_label"))


def by_predicted_label(row: dict) -> tuple:
    return row["predicted_label"], row


def per_class_items(groups, labels=None, n_classes: int = MAX_CLASSES_SHOWN) -> list[dict]:
    """[(label, rows most confident first)] -> [{label, rows}] in model label order (labels
    the model does not list last, sorted), at most `n_classes` classes."""
    groups = dict(groups)
    order = [label for label in (labels or []) if label in groups]
    order += sorted(label for label in groups if label not in set(order))
    return [{"label": label, "rows": list(groups[label])} for label in order[:n_classes]]


def failure_key(failure: dict) -> str:
    return failure["uri"]


class _Reversed:
    """Orders strings backwards, so that `Top.Of` (largest first) prefers the smaller one."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __lt__(self, other: "_Reversed") -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value

    def __reduce__(self):
        return (_Reversed, (self.value,))


def failure_dict(error) -> dict:
    """{uri, stage, error}: by attribute, since Beam may hand over a schema'd copy (a
    NamedTuple with the same fields) instead of the ErrorRow dataclass itself."""
    if isinstance(error, dict):
        return {k: error.get(k) for k in ("uri", "stage", "error")}
    return {"uri": error.uri, "stage": error.stage, "error": error.error}


def assemble_items(
    mistakes: list[dict], failures: list[dict], least_confident=(), most_confident=()
) -> dict:
    """The one element report.html is drawn from."""
    return {
        "mistakes": list(mistakes),
        "failures": list(failures),
        "least_confident": list(least_confident),
        "most_confident": list(most_confident),
    }
