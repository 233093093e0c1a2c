"""The documents that describe a finished run: summary.json, per_class.csv,
confusion_matrix.csv and manifest.json, built from the pipeline's counts.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from bucketscore.run_folder.schemas import PER_CLASS_COLUMNS, csv_text


def build_summary(
    run_id: str,
    scores: dict,
    listed: int,
    failed: int,
    *,
    model: dict,
    top_k: int,
    missing: int = 0,
    carried: int = 0,
) -> dict:
    """The full summary.json document from the accuracy figures (`scores`, see
    run_folder.accuracy.summarise) and the run's counts.

    `missing` counts labels-CSV rows that name no listed image (errors rows of stage
    `label`); they are not listed images, so they are outside listed = scored + failed.
    `model`: {uri, name, version, labels}.
    """
    counts = {
        "listed": listed,
        "scored": scores["counts"]["scored"],
        "failed": failed,
        "csv_rows_without_image": missing,
        "carried_over": carried,
    }
    counts.update({k: v for k, v in scores["counts"].items() if k != "scored"})
    doc = {"run_id": run_id, "counts": counts}
    doc.update({k: v for k, v in scores.items() if k != "counts"})
    doc["error_ratio"] = failed / listed if listed else 0.0
    doc["model"] = dict(model)
    doc["top_k"] = top_k
    return doc


def per_class_csv(summary: dict) -> str:
    return csv_text(
        PER_CLASS_COLUMNS, ([c[k] for k in PER_CLASS_COLUMNS] for c in summary["per_class"])
    )


def confusion_csv(summary: dict) -> str:
    labels = summary["confusion_matrix"]["labels"]
    return csv_text(
        ["true \\ predicted"] + list(labels),
        ([label] + row for label, row in zip(labels, summary["confusion_matrix"]["matrix"])),
    )


def build_manifest(
    *,
    run_id: str,
    arguments: dict,
    model: dict,
    code_version: str,
    started_at: str,
    finished_at: str,
    counts: dict,
    files: list[str],
    base_run: Optional[str],
    extra: Optional[dict[str, Any]] = None,
) -> dict:
    """manifest.json: what ran (arguments with secrets already redacted), on what model and
    code, when, and what it counted; `status` is added by the step that decides it."""
    manifest = {
        "run_id": run_id,
        "arguments": arguments,
        "model": model,
        "code_version": code_version,
        "started_at": started_at,
        "finished_at": finished_at,
        "counts": counts,
        "files": sorted(f.rsplit("/", 1)[-1] for f in files),
        "base_run": base_run,
    }
    manifest.update(extra or {})
    return manifest


# --------------------------------------------------------------------------------------
# Warnings: settings that look wrong for this data
# --------------------------------------------------------------------------------------
# Folder names that are dates or partitions, not classes: 2026-11-30, 20261130, 2026/11,
# dt=2026-11-30, year=2026, part-00001.
_PARTITION = re.compile(
    r"^(\d{4}-\d{2}(-\d{2})?|\d{8}|\d{4}|[A-Za-z_][\w-]*=.+|"
    r"part-\d+|\d{4}-\d{2}-\d{2}T.*)$"
)


def _unknown_labels_warning(summary: dict, unknown: dict, kind: str) -> str:
    """Most labelled images carry labels the model does not know: a wrong model (or labels
    from the wrong place), said with a few of each."""
    counts = summary.get("counts") or {}
    model = list((summary.get("model") or {}).get("labels") or [])
    common = sorted(unknown, key=lambda name: (-unknown[name], name))[:5]
    known = counts.get("labelled") or 0
    text = (
        f"{counts.get('unknown_label')} of {known + (counts.get('unknown_label') or 0)} "
        f"labelled images have labels this model does not know (e.g. {', '.join(common)})"
    )
    if model:
        text += f"; its labels are {', '.join(model[:8])}{' ...' if len(model) > 8 else ''}"
    text += ": "
    if known:
        text += f"accuracy is over the {known} images whose labels it knows. "
    else:
        text += "no accuracy could be computed. "
    return text + (
        "Is this the right model for these images?"
        + (" (--labels takes the parent folder name)" if kind == "folder" else "")
    )


def selection_text(selection: Optional[dict]) -> str:
    """How --exclude/--sample/--limit chose a run's images ("20 of 450 listed (3/* excluded;
    a sample by URI hash)"), or "" for a run of everything listed."""
    if not selection:
        return ""
    how = []
    if selection.get("exclude"):
        how.append(f"{', '.join(selection['exclude'])} excluded")
    if selection.get("sample"):
        how.append("a sample by URI hash")
    if selection.get("limit"):
        how.append("the first in URI order")
    return f"{selection['selected']} of {selection['listed']} listed ({'; '.join(how)})"


def scored_text(scored, carried=0) -> str:
    """The scored count as every place shows it: prediction rows, and for an --incremental
    run how many were scored now and how many carried over from its base run
    ("210 (10 now, 200 carried over)")."""
    scored, carried = int(scored or 0), int(carried or 0)
    if not carried:
        return str(scored)
    return f"{scored} ({scored - carried} now, {carried} carried over)"


def label_warnings(summary: dict, labels_argument: str) -> list[str]:
    """What the summary says about the labels source (the `--labels` value as recorded in
    manifest.json): folder names that look like dates or partitions, a regex that matched
    no file name."""
    counts = summary.get("counts") or {}
    scored = counts.get("scored") or 0
    out = []
    kind = (labels_argument or "folder").split(":", 1)[0]
    unknown = summary.get("unknown_labels") or {}
    named = (counts.get("labelled") or 0) + (counts.get("unknown_label") or 0)
    if unknown and counts.get("unknown_label", 0) * 2 > max(named, 1):
        partitions = [name for name in unknown if _PARTITION.match(name)]
        if kind != "folder" or sum(unknown[n] for n in partitions) * 2 <= sum(unknown.values()):
            out.append(_unknown_labels_warning(summary, unknown, kind))
        else:
            shown = ", ".join(sorted(partitions)[:3])
            out.append(
                f"most images are in folders whose names are no model label and look "
                f"like dates or partitions ({shown}): --labels folder took them as "
                f"true labels, so no accuracy was computed for them; for images "
                f"without labels use --labels none (or regex:/csv: for labels kept "
                f"elsewhere)"
            )
    example = (summary.get("examples") or {}).get("unlabelled")
    if kind == "regex" and scored and not named and example:
        name = example.rstrip("/").rsplit("/", 1)[-1]
        out.append(
            f"--labels {labels_argument} matched no file name (for example "
            f"{name!r}): every image is unlabelled and there is no accuracy; the "
            f"pattern is searched in the file name and its first group is the label"
        )
    return out


# --------------------------------------------------------------------------------------
# Drift: how the predicted classes moved since the previous run
# --------------------------------------------------------------------------------------
def class_shares(summary: dict) -> dict[str, float]:
    """{label: share of the run's predictions} (images below --min_confidence left out)."""
    counts = summary.get("predicted_counts") or {}
    total = sum(counts.values())
    return {label: (n / total if total else 0.0) for label, n in counts.items()}


def drift(summary: dict, previous: dict, previous_run: str) -> Optional[dict]:
    """The shift of the predicted-class distribution from `previous` (an earlier run's
    summary.json with the same model) to `summary`: shares then and now per class and the
    total variation distance (half the sum of absolute share differences: 0 = the same
    distribution, 1 = no class in common). None when either run predicted nothing."""
    now, then = class_shares(summary), class_shares(previous)
    if not sum((summary.get("predicted_counts") or {}).values()) or not sum(
        (previous.get("predicted_counts") or {}).values()
    ):
        return None
    labels = list(now) + [label for label in then if label not in now]
    shares = {label: {"then": then.get(label, 0.0), "now": now.get(label, 0.0)} for label in labels}
    tvd = 0.5 * sum(abs(v["now"] - v["then"]) for v in shares.values())
    return {
        "previous_run": previous_run,
        "previous_run_id": previous.get("run_id"),
        "previous_scored": (previous.get("counts") or {}).get("scored"),
        "total_variation": tvd,
        "shares": shares,
    }
