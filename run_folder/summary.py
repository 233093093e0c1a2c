"""The documents that describe a finished run: summary.json, per_class.csv,
confusion_matrix.csv and manifest.json, built from the pipeline's counts.
"""
from __future__ import annotations

from typing import Any, Optional

from bucketscore.run_folder.schemas import PER_CLASS_COLUMNS, csv_text


def build_summary(run_id: str, scores: dict, listed: int, failed: int, *, model: dict,
                  top_k: int, missing: int = 0, carried: int = 0) -> dict:
    """The full summary.json document from the accuracy figures (`scores`, see
    run_folder.accuracy.summarise) and the run's counts.

    `missing` counts labels-CSV rows that name no listed image (errors rows of stage
    `label`); they are not listed images, so they are outside listed = scored + failed.
    `model`: {uri, name, version, labels}.
    """
    counts = {"listed": listed, "scored": scores["counts"]["scored"], "failed": failed,
              "csv_rows_without_image": missing, "carried_over": carried}
    counts.update({k: v for k, v in scores["counts"].items() if k != "scored"})
    doc = {"run_id": run_id, "counts": counts}
    doc.update({k: v for k, v in scores.items() if k != "counts"})
    doc["error_ratio"] = failed / listed if listed else 0.0
    doc["model"] = dict(model)
    doc["top_k"] = top_k
    return doc


def per_class_csv(summary: dict) -> str:
    return csv_text(PER_CLASS_COLUMNS,
                    ([c[k] for k in PER_CLASS_COLUMNS] for c in summary["per_class"]))


def confusion_csv(summary: dict) -> str:
    labels = summary["confusion_matrix"]["labels"]
    return csv_text(["true \\ predicted"] + list(labels),
                    ([label] + row for label, row in
                     zip(labels, summary["confusion_matrix"]["matrix"])))


def build_manifest(*, run_id: str, arguments: dict, model: dict, code_version: str,
                   started_at: str, finished_at: str, counts: dict, files: list[str],
                   base_run: Optional[str], extra: Optional[dict[str, Any]] = None) -> dict:
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
