"""Which images report.html shows: the most confident mistakes and some failures.

Pure functions; transforms/report_items.py keeps the n best of each with Beam's bounded
`Top` combiners (the data set is never gathered).
"""
from __future__ import annotations

from typing import Collection, Optional

DEFAULT_REPORT_ITEMS = 24


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


def assemble_items(mistakes: list[dict], failures: list[dict]) -> dict:
    return {"mistakes": list(mistakes), "failures": list(failures)}
