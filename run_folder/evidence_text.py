"""What `bucketscore threshold` prints of a finished run: the coverage-accuracy table at a
few thresholds, calibration, suspect labels and duplicates, in lines a person reads.

`evidence_lines(summary, target=None)` -> lines; `evidence_record(summary, target)` -> the
same as a dict (for --json). Both read summary.json only (run_folder/thresholds.py,
run_folder/calibration.py hold the formulas).
"""

from __future__ import annotations

from typing import Optional

from bucketscore.run_folder import calibration, thresholds

SHOWN = (0.0, 0.5, 0.8, 0.9, 0.95, 0.97, 0.99, 0.995, 0.999)


class NoEvidence(ValueError):
    """The run's summary.json has no threshold evidence (an older run, or no summary)."""


def _curve(summary: dict) -> list[dict]:
    curve = (summary.get("threshold_evidence") or {}).get("curve")
    if not curve:
        raise NoEvidence(
            "its summary.json has no threshold evidence (a run of a bucketscore older than "
            "--target_accuracy, or one that did not finish): score it again"
        )
    return curve


def point_at(curve: list[dict], threshold: float) -> dict:
    """The curve's point of the largest edge <= `threshold`."""
    return curve[thresholds.fine_bin(threshold)]


def evidence_record(summary: dict, target: Optional[float] = None) -> dict:
    """{run_id, points (at SHOWN), calibration, target, suspect_labels, duplicates}."""
    curve = _curve(summary)
    record = {
        "run_id": summary.get("run_id"),
        "labelled": curve[0]["kept"],
        "points": [point_at(curve, t) for t in SHOWN],
        "calibration": {k: (summary.get("calibration") or {}).get(k) for k in ("ece", "mce")},
        "suspect_labels": summary.get("suspect_labels"),
        "duplicates": summary.get("duplicates"),
    }
    if target is not None:
        point = thresholds.lowest_threshold(curve, target)
        record["target"] = {
            "target": target,
            "threshold": point and point["threshold"],
            "coverage": point and point["coverage"],
            "accuracy": point and point["accuracy"],
            "text": thresholds.target_text(curve, target),
        }
    return record


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def evidence_lines(summary: dict, target: Optional[float] = None) -> list[str]:
    """The text `bucketscore threshold` prints."""
    record = evidence_record(summary, target)
    lines = [
        f"run {record['run_id']}: {record['labelled']} labelled images",
        "",
        f"  {'threshold':>9}  {'keeps':>7}  {'images':>7}  {'accuracy of kept':>16}",
    ]
    for t, p in zip(SHOWN, record["points"]):
        lines.append(
            f"  {t:>9g}  {_pct(p['coverage']):>7}  {p['kept']:>7}  {_pct(p['accuracy']):>16}"
        )
    lines += ["", "calibration: " + calibration.described(summary.get("calibration"))]
    suspects = record["suspect_labels"]
    if suspects:
        lines.append(
            f"suspect labels: {suspects['count']} (suspect_labels.csv)"
            + (
                f"; {suspects['unchecked']} not judged (top-k too short)"
                if suspects["unchecked"]
                else ""
            )
        )
    duplicates = record["duplicates"]
    if duplicates:
        lines.append(
            f"duplicate images: {duplicates['images']} in {duplicates['groups']} groups, "
            f"{duplicates['groups_with_different_labels']} with different labels (duplicates.csv)"
        )
    if target is not None:
        lines += ["", record["target"]["text"]]
    return lines
