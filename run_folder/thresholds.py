"""Threshold evidence: what each confidence threshold would keep, and how accurate the kept
part is, from counts per confidence bin (no second pass over the rows).

A threshold t keeps the labelled images whose top-1 probability (`confidence`) is >= t.
For each candidate t (the lower edge of a bin, EDGES) the run knows
coverage(t) = kept / labelled and accuracy(t) = correct among kept / kept, where *correct*
means the model's top-1 label is the true label (whatever --min_confidence the run used:
the curve is what that setting is chosen from). Bins are 0.01 wide up to 0.9 and 0.001 wide
from 0.9 to 1.0, where thresholds are usually chosen.

`fine_bin(confidence)` -> bin index (bisect on EDGES, so "kept by t = EDGES[i]" is exactly
`confidence >= EDGES[i]`); `curve(labelled, correct)` -> [{threshold, kept, coverage,
accuracy}]; `lowest_threshold(curve, target)` -> the point reached first, or None;
`target_text(...)` -> the one line the command prints.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Optional, Sequence

COARSE_STEP, FINE_FROM, FINE_STEP = 0.01, 0.9, 0.001
EDGES: tuple[float, ...] = tuple(round(i * COARSE_STEP, 2) for i in range(90)) + tuple(
    round(FINE_FROM + i * FINE_STEP, 3) for i in range(100)
)  # lower edges; the last bin is [0.999, 1.0]
N_BINS = len(EDGES)


def fine_bin(confidence: float) -> int:
    """The bin of a top-1 probability: the last edge <= confidence (0 below 0)."""
    return max(0, bisect_right(EDGES, float(confidence)) - 1)


def curve(labelled: Sequence[int], correct: Sequence[int]) -> list[dict]:
    """Counts per bin -> one point per edge: threshold, kept (labelled images with
    confidence >= threshold), coverage (kept / labelled; None without labelled images),
    accuracy (correct / kept; None when nothing is kept)."""
    total = sum(labelled)
    points = []
    kept = right = 0
    for i in range(N_BINS - 1, -1, -1):  # from the top: kept grows as the threshold falls
        kept += labelled[i]
        right += correct[i]
        points.append(
            {
                "threshold": EDGES[i],
                "kept": kept,
                "correct": right,
                "coverage": kept / total if total else None,
                "accuracy": right / kept if kept else None,
            }
        )
    return points[::-1]


def lowest_threshold(points: Sequence[dict], target: float) -> Optional[dict]:
    """The point of the lowest threshold whose kept images reach accuracy >= `target`
    (so the one that keeps the most), or None when no threshold does."""
    for point in points:  # thresholds ascending
        if point["accuracy"] is not None and point["accuracy"] >= target:
            return point
    return None


def target_text(points: Sequence[dict], target: float) -> str:
    """One line: the threshold that reaches `target` accuracy on this run and what it
    keeps, or why none does."""
    labelled = points[0]["kept"] if points else 0
    if not labelled:
        return f"target accuracy {target:.1%}: no labelled images in this run to choose from"
    point = lowest_threshold(points, target)
    if point is None:
        best = max((p for p in points if p["accuracy"] is not None), key=lambda p: p["accuracy"])
        return (
            f"no threshold reaches {target:.1%} accuracy on this run: the best is "
            f"{best['accuracy']:.1%} at threshold {best['threshold']:g} "
            f"(keeps {best['coverage']:.1%} of {labelled} labelled images)"
        )
    return (
        f"threshold {point['threshold']:g} keeps {point['coverage']:.1%} of images at "
        f"{point['accuracy']:.1%} accuracy ({point['kept']} of {labelled} labelled images, "
        f"target {target:.1%})"
    )


def class_curves(per_class: dict[str, dict[int, list[int]]]) -> dict[str, list[dict]]:
    """{label: {bin: [labelled, correct]}} (sparse) -> {label: points}, each class's
    curve given only at the thresholds where its kept count changes (the lower edges of
    its non-empty bins), highest first removed: [{threshold, kept, coverage, accuracy}]."""
    out = {}
    for label, bins in per_class.items():
        total = sum(v[0] for v in bins.values())
        points, kept, right = [], 0, 0
        for i in sorted(bins, reverse=True):
            kept += bins[i][0]
            right += bins[i][1]
            points.append(
                {
                    "threshold": EDGES[i],
                    "kept": kept,
                    "coverage": kept / total if total else None,
                    "accuracy": right / kept if kept else None,
                }
            )
        out[label] = points[::-1]
    return out


def kept_at(points: Sequence[dict], threshold: float) -> Optional[dict]:
    """The point of a sparse (per-class) curve that applies at `threshold`: the first one
    whose threshold is >= it (nothing below changes what is kept), or None (nothing kept)."""
    for point in points:
        if point["threshold"] >= threshold:
            return point
    return None
