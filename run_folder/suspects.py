"""Suspect labels: images whose given label the model's probabilities contradict, by
confident learning's rule (Northcutt et al., "Confident Learning", JAIR 2021; cleanlab).

Per class j the threshold t_j is the mean probability the model gives j over the images
labelled j (`true_label_score_means` in summary.json: run_folder/accuracy.py sums it in
the pipeline's accumulator). An image labelled i is a suspect when its own label's score
p_i is below t_i and some other class j has p_j >= t_j; the suggested label is the most
probable such j, and the margin p_j - p_i orders the suspects (largest first).

The rows keep the top-k probabilities and the given label's own (`true_label_score`). A
class outside an image's top k has a probability at most the k-th score: an image whose
k-th score is below every other class's threshold is judged exactly; otherwise a class the
top k leaves out might reach its threshold, and the image is counted as `unchecked`
(summary.json; a larger --top_k checks it). With the default --top_k 5 and ten classes
almost every image is judged exactly.
"""

from __future__ import annotations

from typing import Mapping, Optional

from bucketscore.run_folder.report_selection import _Reversed
from bucketscore.run_folder.schemas import csv_text

SUSPECT_COLUMNS = (
    "uri",
    "given_label",
    "suggested_label",
    "given_score",
    "suggested_score",
    "margin",
)
# Rows kept in suspect_labels.csv (the count covers all): a relabelling queue, largest margin
# first. Each worker keeps up to this many until they are merged: docs/performance.md.
DEFAULT_MAX_SUSPECTS = 1_000


def judge(row: dict, thresholds: Mapping[str, float]) -> tuple[Optional[dict], bool]:
    """(the suspect record of `row`, or None; whether the row could not be judged exactly:
    a class outside its top k might reach its threshold). Rows without a given label the
    thresholds know, or without `true_label_score`, are neither."""
    given = row.get("true_label")
    own = row.get("true_label_score")
    if not given or given not in thresholds or own is None:
        return None, False
    if own >= thresholds[given]:
        return None, False
    labels = row.get("top_k_labels") or []
    scores = row.get("top_k_scores") or []
    best = None
    for label, score in zip(labels, scores):
        if label != given and label in thresholds and score >= thresholds[label]:
            if best is None or score > best[1]:
                best = (label, float(score))
    if best is not None:
        return (
            {
                "uri": row["uri"],
                "given_label": given,
                "suggested_label": best[0],
                "given_score": float(own),
                "suggested_score": best[1],
                "margin": best[1] - float(own),
            },
            False,
        )
    return None, _top_k_may_hide(labels, scores, given, thresholds)


def _top_k_may_hide(labels, scores, given: str, thresholds: Mapping[str, float]) -> bool:
    if not scores or len(labels) >= len(thresholds):
        return False  # every class is in the top k
    outside = [t for label, t in thresholds.items() if label != given and label not in labels]
    return bool(outside) and min(outside) <= scores[-1]


def as_tuple(record: dict) -> tuple:
    """A suspect record as a tuple in SUSPECT_COLUMNS order: what the pipeline carries
    (a tuple is about half a dict's size where Beam's local runner holds many)."""
    return tuple(record[c] for c in SUSPECT_COLUMNS)


def from_tuple(values: tuple) -> dict:
    """`as_tuple`'s inverse."""
    return dict(zip(SUSPECT_COLUMNS, values))


_URI, _MARGIN = SUSPECT_COLUMNS.index("uri"), SUSPECT_COLUMNS.index("margin")


def suspect_key(record) -> tuple:
    """Largest margin first; ties: the smaller URI first (for Top.Of, which keeps the
    largest keys). `record`: a dict or `as_tuple`'s tuple."""
    if isinstance(record, tuple):
        return (record[_MARGIN], _Reversed(record[_URI]))
    return (record["margin"], _Reversed(record["uri"]))


def ordered(records) -> list[dict]:
    """Suspect records, largest margin first, then by URI."""
    return sorted(records, key=lambda r: (-r["margin"], r["uri"]))


def suspects_csv(records) -> str:
    """suspect_labels.csv: SUSPECT_COLUMNS, largest margin first."""
    return csv_text(SUSPECT_COLUMNS, ([r[c] for c in SUSPECT_COLUMNS] for r in ordered(records)))


def summary_section(found: Optional[dict], top_k: int) -> Optional[dict]:
    """summary.json's `suspect_labels`: {count, written, unchecked, top_k}, or None when
    the run did not look (--no_label_checks)."""
    if found is None:
        return None
    return {
        "count": int(found["count"]),
        "written": len(found["rows"]),
        "unchecked": int(found["unchecked"]),
        "top_k": top_k,
    }


def warning(section: Optional[dict]) -> Optional[str]:
    """A line for summary.json's warnings when the top k left images unjudged."""
    if not section or not section["unchecked"]:
        return None
    return (
        f"suspect labels: {section['unchecked']} images could not be judged exactly with "
        f"top-{section['top_k']} probabilities (a class outside the top k might reach its "
        f"threshold); score with a larger --top_k to check them"
    )
