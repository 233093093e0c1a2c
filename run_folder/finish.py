"""Finish a run: check the accounting, write the summaries and the report, `_SUCCESS` last.

`finish_run` is what the pipeline's last step does (transforms/finishing.py calls it once,
after every sink has written its files). It raises RunFailed, so that the run fails and no
`_SUCCESS` is written, when nothing was listed (unless allow_empty), when listed != scored
+ failed, when the final files do not hold those counts (run_folder/file_counts.py: rows
counted in the files the sinks wrote; summary.json's `verified_files` records them), or
when the share of failed images is over max_error_ratio.

`_SUCCESS` is written last. A local run that the command waits for is completed by the
command, with `complete_run`, once the pipeline ended: the run's final Beam counters (known
only then) go into summary.json, then `_SUCCESS` is written, once. Any other run is
completed by the pipeline's last step (a remote job must outlive a launcher that stops
waiting); a launcher that waited for it adds the counters with `add_counters`, which
writes `_SUCCESS` again after summary.json so that it stays the last file written. The
incremental state pointer follows `_SUCCESS`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Optional

from bucketscore.run_folder import duplicates, layout, state, suspects, thresholds
from bucketscore.run_folder.file_counts import Expected, verify_files
from bucketscore.run_folder.report_page import write_report
from bucketscore.run_folder.summary import (
    build_manifest,
    build_summary,
    confusion_csv,
    drift,
    label_warnings,
    per_class_csv,
)
from bucketscore.storage import uris
from bucketscore.storage.listing import EXTENSIONS_TEXT

FAILURE_MARK = "bucketscore run failed:"
log = logging.getLogger(__name__)


class RunFailed(RuntimeError):
    """The run cannot be called complete (nothing listed, too many errors, lost images)."""

    def __init__(self, message: str):
        super().__init__(f"{FAILURE_MARK} {message}")
        self.reason = message


@dataclass
class RunInfo:
    """What the finishing step needs to know about the run (all picklable). In a classic
    template `run_uri`, `run_id`, `output_uri` and the `input`/`output`/`run_id` arguments
    are launch values: the pipeline resolves them before calling `finish_run`."""

    run_uri: Any
    run_id: Any
    model_uri: str
    model_version: str
    model_name: str
    labels: list[str]
    top_k: int
    arguments: dict[str, Any]
    code_version: str
    started_at: str
    allow_empty: bool = False
    max_error_ratio: Optional[float] = None
    output_uri: Any = ""
    base_run: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> dict:
        return {"uri": self.model_uri, "name": self.model_name, "version": self.model_version}


def _seconds_between(start: str, end: str) -> Optional[float]:
    try:
        return round(
            (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds(), 1
        )
    except (TypeError, ValueError):
        return None


def _drift_since_previous(info: RunInfo, summary: dict) -> Optional[dict]:
    """Drift from the previous completed run under the same output with the same model
    version (run_folder.state), or None (no such run, or it cannot be read)."""
    if not info.output_uri:
        return None
    try:
        previous = state.last_completed_run(info.output_uri, info.model_version)
        if not previous or previous.rstrip("/") == str(info.run_uri).rstrip("/"):
            return None
        doc = json.loads(uris.read_text(layout.file_uri(previous, layout.SUMMARY)))
    except Exception as e:  # noqa: BLE001 - drift is a nicety: never fail a run for it
        log.warning("no drift figure: cannot read the previous run: %s", e)
        return None
    return drift(summary, doc, previous)


def _write_json(uri: str, doc: dict) -> None:
    uris.write_text(uri, json.dumps(doc, indent=2) + "\n", "application/json")


def finish_run(
    info: RunInfo,
    scores: dict,
    listed: int,
    failed: int,
    missing: int,
    carried: int,
    written: list[str],
    report_items: Optional[dict] = None,
    complete: bool = True,
    selection: Optional[dict] = None,
    checks: Optional[dict] = None,
) -> dict:
    """Write summary.json, per_class.csv, confusion_matrix.csv, report.html,
    manifest.json and, with `complete`, `_SUCCESS` (then the incremental state pointer)
    under `info.run_uri`; returns the summary. `scores`: run_folder.accuracy.summarise's
    output; `written`: the files the sinks wrote; `report_items`: {"mistakes", "failures"}
    with thumbnails (run_folder.report_selection). Without `complete` the run is completed
    by `complete_run` later. `selection`: how --exclude/--sample/--limit chose the images
    (`listed` is then the number selected). `checks`: {"suspects", "duplicates"}
    (pipelines/features/label_checks.py; None: not looked for): suspect_labels.csv and
    duplicates.csv are written, summary.json counts them."""
    summary = build_summary(
        info.run_id,
        scores,
        listed,
        failed,
        model=dict(info.model, labels=info.labels),
        top_k=info.top_k,
        missing=missing,
        carried=carried,
    )
    if selection:
        summary["selection"] = selection
    if info.base_run:
        summary["incremental"] = {
            "base_run": info.base_run,
            "carried_over": carried,
            "scored_now": summary["counts"]["scored"] - carried,
        }
    warnings = [w for w in [(info.extra.get("inference") or {}).get("warning")] if w]
    warnings += list(info.extra.get("warnings") or [])  # what the plan changed or doubts
    warnings += label_warnings(summary, str(info.arguments.get("labels") or "folder"))
    warnings += add_label_checks(summary, checks, info.top_k)
    target = info.arguments.get("target_accuracy")
    if target:
        point = thresholds.lowest_threshold(summary["threshold_evidence"]["curve"], target)
        summary["target_accuracy"] = {
            "target": target,
            "threshold": point and point["threshold"],
            "coverage": point and point["coverage"],
            "accuracy": point and point["accuracy"],
            "text": thresholds.target_text(summary["threshold_evidence"]["curve"], target),
        }
    if warnings:
        summary["warnings"] = warnings
    shift = _drift_since_previous(info, summary)
    if shift is not None:
        summary["drift"] = shift
    counts = summary["counts"]
    if counts["listed"] != counts["scored"] + counts["failed"]:
        raise RunFailed(
            f"accounting mismatch: {counts['listed']} listed but "
            f"{counts['scored']} scored + {counts['failed']} failed"
        )
    if listed == 0 and not info.allow_empty:
        raise RunFailed(
            f"no images found under {', '.join(info.arguments['input'])} "
            f"(extensions: {EXTENSIONS_TEXT}); pass --allow_empty to accept an "
            f"empty input"
        )
    # The counts above come from combiners; the files are what users download. Their rows
    # are counted too (footers for Parquet), so a sink that lost rows fails the run.
    verified = verify_files(
        written,
        Expected(
            listed=counts["listed"],
            scored=counts["scored"],
            failed=counts["failed"],
            missing=missing,
            carried=carried,
        ),
    )
    if verified.problems:
        raise RunFailed(
            "the files do not hold what the run counted: " + "; ".join(verified.problems)
        )
    summary["verified_files"] = verified.summary()
    run = info.run_uri
    finished_at = layout.now_iso()
    summary["started_at"], summary["finished_at"] = info.started_at, finished_at
    summary["duration_seconds"] = _seconds_between(info.started_at, finished_at)
    manifest = build_manifest(
        run_id=info.run_id,
        arguments=info.arguments,
        model=info.model,
        code_version=info.code_version,
        started_at=info.started_at,
        finished_at=finished_at,
        counts=counts,
        files=written,
        base_run=info.base_run,
        extra=info.extra,
    )
    _write_json(layout.file_uri(run, layout.SUMMARY), summary)
    uris.write_text(layout.file_uri(run, layout.PER_CLASS), per_class_csv(summary), "text/csv")
    uris.write_text(layout.file_uri(run, layout.CONFUSION), confusion_csv(summary), "text/csv")
    if checks is not None:
        uris.write_text(
            layout.file_uri(run, layout.SUSPECTS),
            suspects.suspects_csv(checks["suspects"]["rows"]),
            "text/csv",
        )
        uris.write_text(
            layout.file_uri(run, layout.DUPLICATES),
            duplicates.duplicates_csv(checks["duplicates"]["rows"]),
            "text/csv",
        )
        report_items = dict(
            report_items or {},
            suspects=checks["suspects"].get("shown") or [],
            duplicates=checks["duplicates"]["rows"],
        )
    # Before the error-ratio check: a failed run's report shows what failed.
    write_report(
        run,
        summary,
        report_items,
        dict(info.arguments, code_version=info.code_version, started_at=info.started_at),
    )
    if info.max_error_ratio is not None and listed and failed / listed > info.max_error_ratio:
        manifest["status"] = "failed"
        _write_json(layout.file_uri(run, layout.MANIFEST), manifest)
        raise RunFailed(
            f"{failed} of {listed} images failed "
            f"({failed / listed:.1%} > --max_error_ratio {info.max_error_ratio}); "
            f"see {layout.file_uri(run, layout.ERRORS_CSV)}"
        )
    manifest["status"] = "complete"
    _write_json(layout.file_uri(run, layout.MANIFEST), manifest)
    if complete:
        _write_success(run, info.run_id, info.output_uri, info.model_version, finished_at)
    return summary


def add_label_checks(summary: dict, checks: Optional[dict], top_k: int) -> list[str]:
    """summary.json's `suspect_labels` and `duplicates` sections; returns the warnings."""
    if checks is None:
        return []
    found = checks["duplicates"]
    summary["suspect_labels"] = suspects.summary_section(checks["suspects"], top_k)
    summary["duplicates"] = duplicates.summary_section(found)
    warnings = [
        w
        for w in (
            suspects.warning(summary["suspect_labels"]),
            duplicates.warning(summary["duplicates"]),
        )
        if w
    ]
    if found.get("sketched") != found.get("hashed") or found.get("candidates") != found.get(
        "grouped"
    ):
        warnings.append(
            f"duplicates: {found.get('sketched')} hashes sketched of {found.get('hashed')} "
            f"written, the grouping saw {found.get('grouped')} of {found.get('candidates')} "
            f"candidates; duplicates.csv may be incomplete"
        )
    return warnings


def complete_run(info: RunInfo, counters: Optional[dict[str, int]] = None) -> None:
    """Complete a run whose pipeline finished it without `_SUCCESS` (finish_run with
    complete=False): add `counters` (the run's final Beam counters) to summary.json, then
    write `_SUCCESS` and the incremental state pointer. `info` holds plain values here."""
    run = info.run_uri
    summary_uri = layout.file_uri(run, layout.SUMMARY)
    summary = json.loads(uris.read_text(summary_uri))
    if counters:
        summary["beam_counters"] = dict(sorted(counters.items()))
        _write_json(summary_uri, summary)
    _write_success(run, info.run_id, info.output_uri, info.model_version, summary["finished_at"])


def add_counters(info: RunInfo, counters: Optional[dict[str, int]]) -> None:
    """A completed run's final Beam counters added to its summary.json; `_SUCCESS` written
    again after it, so that it stays the last file written. Nothing without counters (a
    runner that cannot be queried) or without `_SUCCESS` (the run did not complete)."""
    run = info.run_uri
    success_uri = layout.file_uri(run, layout.SUCCESS)
    if not counters or not uris.exists(success_uri):
        return
    success = uris.read_bytes(success_uri)
    summary_uri = layout.file_uri(run, layout.SUMMARY)
    summary = json.loads(uris.read_text(summary_uri))
    summary["beam_counters"] = dict(sorted(counters.items()))
    _write_json(summary_uri, summary)
    uris.write_bytes(success_uri, success)


def _write_success(
    run: str, run_id: str, output_uri: str, model_version: str, finished_at: str
) -> None:
    # Not empty: Beam's S3 writer cannot complete a zero-byte multipart upload.
    uris.write_text(
        layout.file_uri(run, layout.SUCCESS),
        json.dumps({"run_id": run_id, "finished_at": finished_at}) + "\n",
    )
    if output_uri:
        # The next --incremental run with this model builds on this completed run.
        state.write_pointer(output_uri, model_version, run_id, finished_at)
