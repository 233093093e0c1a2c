"""The runs under a results prefix, newest first (`bucketscore runs`).

Reads the files a run writes (README, "Results"): `_SUCCESS`, `manifest.json`,
`summary.json`, on any storage `storage.uris` reaches (local, s3://, gs://). Nothing here
runs a pipeline.

* `list_runs(output)`: one `RunRecord` per run folder below `output`, newest first.
* `format_runs(records)`: the table `bucketscore runs` prints.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Optional

from bucketscore.errors import described
from bucketscore.run_folder.layout import MANIFEST, SUCCESS, SUMMARY, looks_like_run
from bucketscore.run_folder.summary import scored_text
from bucketscore.storage import uris


class RunHistoryError(ValueError):
    """The results cannot be read as asked (no such folder, no predictions, ...)."""


# --------------------------------------------------------------------------------------
# Listing runs
# --------------------------------------------------------------------------------------
@dataclass
class RunRecord:
    """One run folder `<output>/<run_id>/` as its files describe it."""

    run_id: str
    uri: str
    completed: bool  # `_SUCCESS` is there
    status: str  # complete | failed (the run said so) | incomplete (running, or it died)
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    listed: Optional[int] = None
    scored: Optional[int] = None
    failed: Optional[int] = None
    carried_over: Optional[int] = None  # rows an --incremental run kept from its base run
    scored_now: Optional[int] = None  # scored - carried_over: this run's model outputs
    labelled: Optional[int] = None
    accuracy: Optional[float] = None
    top_k_accuracy: Optional[float] = None
    macro_f1: Optional[float] = None
    model_name: Optional[str] = None
    model_version: Optional[str] = None
    last_modified: float = 0.0  # newest file in the folder, seconds since the epoch
    files: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _epoch(iso: Optional[str]) -> Optional[float]:
    if not iso:
        return None
    try:
        t = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.timestamp()


def read_json(uri: str) -> Optional[dict]:
    try:
        return json.loads(uris.read_text(uri))
    except Exception:  # noqa: BLE001 - missing or half-written: the run says less, that's all
        return None


def list_folder(prefix: str) -> list:
    """Every object below `prefix`; RunHistoryError (one line) when it cannot be listed."""
    try:
        return uris.list_prefix(prefix)
    except Exception as e:  # noqa: BLE001 - storage unreachable, no access, ...: say so
        raise RunHistoryError(f"cannot list {prefix}: {described(e)}") from None


def check_prefix(uri: str) -> str:
    prefix = uris.as_prefix(uris.normalize(uri))
    if not uris.is_remote(prefix) and not os.path.isdir(prefix):
        raise RunHistoryError(f"{uri}: no such folder")
    return prefix


def list_runs(output: str, beam_args: Optional[list[str]] = None) -> list[RunRecord]:
    """The runs directly below the results prefix `output`, newest first.

    A folder is a run when it holds any file a run writes. Newest: by the manifest's
    started_at, else (a run that never finished) by its newest file.
    """
    uris.set_options(beam_args or [])
    prefix = check_prefix(output)
    folders: dict[str, list] = defaultdict(list)
    for meta in list_folder(prefix):
        rel = uris.relative_to(meta.path, prefix)
        if "/" in rel:
            folders[rel.split("/", 1)[0]].append((rel.split("/", 1)[1], meta))
    records = []
    for run_id, entries in folders.items():
        if run_id.startswith(("_", ".")):  # bookkeeping beside the runs (_state/, ...)
            continue
        top = {name for name, _m in entries if "/" not in name}
        if not looks_like_run(top | {name.split("/", 1)[0] for name, _m in entries}):
            continue
        records.append(
            _run_record(run_id, uris.as_prefix(prefix + run_id), top, [m for _n, m in entries])
        )
    records.sort(key=_newest_first_key, reverse=True)
    return records


def _newest_first_key(r: RunRecord) -> tuple:
    started = _epoch(r.started_at)
    return (started if started is not None else r.last_modified, r.last_modified, r.run_id)


def _run_record(run_id: str, run_uri: str, top: set[str], metas: list) -> RunRecord:
    record = RunRecord(
        run_id=run_id,
        uri=run_uri,
        completed=SUCCESS in top,
        status="complete" if SUCCESS in top else "incomplete",
        last_modified=max((m.last_updated_in_seconds or 0.0) for m in metas),
        files=len(metas),
    )
    manifest = read_json(run_uri + MANIFEST) if MANIFEST in top else None
    summary = read_json(run_uri + SUMMARY) if SUMMARY in top else None
    if manifest:
        record.started_at = manifest.get("started_at")
        record.finished_at = manifest.get("finished_at")
        model = manifest.get("model") or {}
        record.model_name, record.model_version = model.get("name"), model.get("version")
        if manifest.get("status") == "failed" and not record.completed:
            record.status = "failed"
        counts = manifest.get("counts") or {}
        record.listed, record.scored = counts.get("listed"), counts.get("scored")
        record.failed, record.labelled = counts.get("failed"), counts.get("labelled")
    if summary:
        counts = summary.get("counts") or {}
        record.listed, record.scored = counts.get("listed"), counts.get("scored")
        record.failed, record.labelled = counts.get("failed"), counts.get("labelled")
        record.carried_over = counts.get("carried_over") or 0
        if record.scored is not None:
            record.scored_now = record.scored - record.carried_over
        record.accuracy = summary.get("accuracy")
        record.top_k_accuracy = summary.get("top_k_accuracy")
        record.macro_f1 = (summary.get("macro") or {}).get("f1")
        model = summary.get("model") or {}
        record.model_name = record.model_name or model.get("name")
        record.model_version = record.model_version or model.get("version")
    return record


def not_a_run_message(run_uri: str, names: list[str], how_to_list: str) -> str:
    """Why `run_uri` (holding `names`, relative paths) is no run folder, pointing at the run
    folders below it when there are some (the usual mistake: the output prefix given for a
    run). `how_to_list`: how the caller lists runs (`bucketscore runs --output URI`, ...)."""
    below = sorted(
        {
            n.split("/", 1)[0]
            for n in names
            if n.count("/") == 1 and looks_like_run({n.split("/", 1)[1]})
        }
    )
    hint = ""
    if below:
        example = uris.join(run_uri, below[-1]) + "/"
        hint = (
            f" (it holds {len(below)} run folder(s), e.g. {example}: pass one of them, or "
            f"list them with {how_to_list})"
        )
    return (
        f"{run_uri}: not a bucketscore run folder (no {MANIFEST}, {SUMMARY}, {SUCCESS} or "
        f"predictions* files){hint}"
    )


def run_folder_given_message(uri: str, how_to_list: str) -> str:
    """What to say when a run folder is given where its output prefix is expected."""
    parent = uris.as_prefix(uri).rstrip("/").rsplit("/", 1)[0] + "/"
    return (
        f"{uri} is itself a run folder: its runs are listed from the folder above it "
        f"({how_to_list.format(parent)})"
    )


def looks_like_run_folder(uri: str, beam_args: Optional[list[str]] = None) -> bool:
    """True when `uri` itself is a run folder (a common mistake for `runs --output`)."""
    uris.set_options(beam_args or [])
    prefix = uris.as_prefix(uris.normalize(uri))
    return any(uris.exists(prefix + name) for name in (MANIFEST, SUCCESS))


def number_text(value, spec: str) -> str:
    """`value` formatted with `spec`, or '-' when there is none."""
    return "-" if value is None else format(value, spec)


def format_runs(records: list[RunRecord]) -> str:
    """A table, newest run first."""
    header = ("RUN", "STARTED", "STATUS", "LISTED", "SCORED", "FAILED", "ACCURACY", "MODEL")
    rows = [header]
    for r in records:
        started = (r.started_at or "").replace("+00:00", "Z")
        if not started and r.last_modified:
            started = (
                dt.datetime.fromtimestamp(r.last_modified, dt.timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
                + "?"
            )
        model = r.model_version or "-"
        if r.model_name:
            model = f"{r.model_name}@{model}"
        rows.append(
            (
                r.run_id,
                started or "-",
                r.status,
                number_text(r.listed, "d"),
                "-" if r.scored is None else scored_text(r.scored, r.carried_over),
                number_text(r.failed, "d"),
                number_text(r.accuracy, ".4f"),
                model,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)
