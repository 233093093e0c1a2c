"""Read back what runs wrote: list the runs under a results prefix, compare two runs.

Everything here reads the files a run writes (see DESIGN.md "Results"): `_SUCCESS`,
`manifest.json`, `summary.json` and `predictions*.csv`, on any storage `storage.uris`
reaches (local, s3://, gs://). Nothing here runs a pipeline.

* `list_runs(output)`: one `RunRecord` per run folder below `output`, newest first.
* `compare_runs(a, b)`: accuracy, top-k accuracy, macro F1 and per-class precision/recall/F1
  of both runs over the images they have in common (the fair comparison), their deltas
  (b - a), and every image whose prediction changed, marked fixed / broken / changed.

The per-class figures follow transforms/metrics.py: an image is labelled when its true
label is one of the model's labels (here: one of either run's models); a prediction below
--min_confidence (no predicted label) is a miss for recall and accuracy and no prediction
for precision.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Iterable, Optional

from storage import uris

SUCCESS = "_SUCCESS"  # transforms.sinks.SUCCESS (not imported: keeps this module Beam-light)
RUN_MARKERS = {"manifest.json", "summary.json", "errors.csv", SUCCESS}


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


def _read_json(uri: str) -> Optional[dict]:
    try:
        return json.loads(uris.read_text(uri))
    except Exception:  # noqa: BLE001 - missing or half-written: the run says less, that's all
        return None


def _looks_like_run(names: set[str]) -> bool:
    return bool(names & RUN_MARKERS) or any(n.startswith(("predictions", "beam-temp"))
                                            for n in names)


def _list(prefix: str) -> list:
    try:
        return uris.list_prefix(prefix)
    except Exception as e:  # noqa: BLE001 - storage unreachable, no access, ...: say so
        raise RunHistoryError(f"cannot list {prefix}: {type(e).__name__}: "
                              f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                              ) from None


def _check_prefix(uri: str) -> str:
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
    prefix = _check_prefix(output)
    folders: dict[str, list] = defaultdict(list)
    for meta in _list(prefix):
        rel = uris.relative_to(meta.path, prefix)
        if "/" in rel:
            folders[rel.split("/", 1)[0]].append((rel.split("/", 1)[1], meta))
    records = []
    for run_id, entries in folders.items():
        if run_id.startswith(("_", ".")):  # bookkeeping beside the runs (_state/, ...)
            continue
        top = {name for name, _m in entries if "/" not in name}
        if not _looks_like_run(top | {name.split("/", 1)[0] for name, _m in entries}):
            continue
        records.append(_run_record(run_id, uris.as_prefix(prefix + run_id), top,
                                   [m for _n, m in entries]))
    records.sort(key=_newest_first_key, reverse=True)
    return records


def _newest_first_key(r: RunRecord) -> tuple:
    started = _epoch(r.started_at)
    return (started if started is not None else r.last_modified, r.last_modified, r.run_id)


def _run_record(run_id: str, run_uri: str, top: set[str], metas: list) -> RunRecord:
    record = RunRecord(run_id=run_id, uri=run_uri, completed=SUCCESS in top,
                       status="complete" if SUCCESS in top else "incomplete",
                       last_modified=max((m.last_updated_in_seconds or 0.0) for m in metas),
                       files=len(metas))
    manifest = _read_json(run_uri + "manifest.json") if "manifest.json" in top else None
    summary = _read_json(run_uri + "summary.json") if "summary.json" in top else None
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
        record.accuracy = summary.get("accuracy")
        record.top_k_accuracy = summary.get("top_k_accuracy")
        record.macro_f1 = (summary.get("macro") or {}).get("f1")
        model = summary.get("model") or {}
        record.model_name = record.model_name or model.get("name")
        record.model_version = record.model_version or model.get("version")
    return record


def looks_like_run_folder(uri: str, beam_args: Optional[list[str]] = None) -> bool:
    """True when `uri` itself is a run folder (a common mistake for `runs --output`)."""
    uris.set_options(beam_args or [])
    prefix = uris.as_prefix(uris.normalize(uri))
    return any(uris.exists(prefix + name) for name in ("manifest.json", SUCCESS))


def _num(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_runs(records: list[RunRecord]) -> str:
    """A table, newest run first."""
    header = ("RUN", "STARTED", "STATUS", "LISTED", "SCORED", "FAILED", "ACCURACY", "MODEL")
    rows = [header]
    for r in records:
        started = (r.started_at or "").replace("+00:00", "Z")
        if not started and r.last_modified:
            started = dt.datetime.fromtimestamp(r.last_modified, dt.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ") + "?"
        model = r.model_version or "-"
        if r.model_name:
            model = f"{r.model_name}@{model}"
        rows.append((r.run_id, started or "-", r.status, _num(r.listed, "d"),
                     _num(r.scored, "d"), _num(r.failed, "d"), _num(r.accuracy, ".4f"), model))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Reading one run's predictions
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    true_label: Optional[str]
    predicted_label: Optional[str]
    confidence: float
    top_k_labels: tuple[str, ...]


@dataclass
class RunResults:
    uri: str
    run_id: str
    completed: bool
    summary: Optional[dict]
    manifest: Optional[dict]
    predictions: dict[str, Prediction] = field(default_factory=dict)

    @property
    def model_version(self) -> Optional[str]:
        for doc in (self.manifest, self.summary):
            if doc and (doc.get("model") or {}).get("version"):
                return doc["model"]["version"]
        return None

    @property
    def model_labels(self) -> Optional[list[str]]:
        return ((self.summary or {}).get("model") or {}).get("labels")


def parse_predictions_csv(text: str) -> Iterable[tuple[str, Prediction]]:
    for row in csv.DictReader(io.StringIO(text)):
        yield row["uri"], Prediction(
            true_label=row.get("true_label") or None,
            predicted_label=row.get("predicted_label") or None,
            confidence=float(row.get("confidence") or 0.0),
            top_k_labels=tuple(x for x in (row.get("top_k_labels") or "").split(";") if x))


def read_run(run_uri: str) -> RunResults:
    """A run's predictions (every predictions*.csv), summary, manifest and completeness."""
    prefix = _check_prefix(run_uri)
    names = sorted(uris.relative_to(m.path, prefix) for m in _list(prefix))
    if not names:
        raise RunHistoryError(f"{run_uri}: nothing there (is it a run folder "
                              f"<output>/<run_id>/?)")
    top = {n for n in names if "/" not in n}
    csvs = sorted(n for n in top if n.startswith("predictions") and n.endswith(".csv"))
    if not csvs:
        raise RunHistoryError(f"{run_uri}: no predictions*.csv (not a run folder, or the run "
                              f"wrote no results)")
    run = RunResults(uri=prefix, run_id=prefix.rstrip("/").rsplit("/", 1)[-1],
                     completed=SUCCESS in top,
                     summary=_read_json(prefix + "summary.json") if "summary.json" in top
                     else None,
                     manifest=_read_json(prefix + "manifest.json") if "manifest.json" in top
                     else None)
    for name in csvs:
        for uri, prediction in parse_predictions_csv(uris.read_text(prefix + name)):
            run.predictions[uri] = prediction
    return run


# --------------------------------------------------------------------------------------
# Comparing two runs
# --------------------------------------------------------------------------------------
def _delta(a: Optional[float], b: Optional[float]) -> dict:
    return {"a": a, "b": b, "delta": None if a is None or b is None else b - a}


def class_metrics(pairs: list[tuple[str, Optional[str]]], labels: Iterable[str]) -> dict:
    """{label: {precision, recall, f1, support, predicted}} over (true, predicted) pairs."""
    support, predicted, tp = Counter(), Counter(), Counter()
    for true, pred in pairs:
        support[true] += 1
        if pred is not None:
            predicted[pred] += 1
            if pred == true:
                tp[true] += 1
    out = {}
    for label in labels:
        precision = tp[label] / predicted[label] if predicted[label] else 0.0
        recall = tp[label] / support[label] if support[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": precision, "recall": recall, "f1": f1,
                      "support": support[label], "predicted": predicted[label]}
    return out


def compare_runs(run_a: str, run_b: str, beam_args: Optional[list[str]] = None) -> dict:
    """Everything `bucketscore compare` shows, as a JSON-ready dict (deltas are b - a)."""
    uris.set_options(beam_args or [])
    a, b = read_run(run_a), read_run(run_b)
    common = sorted(set(a.predictions) & set(b.predictions))
    known = set(a.model_labels or []) | set(b.model_labels or [])
    warnings = []
    for run, name in ((a, "A"), (b, "B")):
        if not run.completed:
            warnings.append(f"run {name} ({run.uri}) has no _SUCCESS: it is not complete")
    only_a, only_b = len(a.predictions) - len(common), len(b.predictions) - len(common)
    if only_a or only_b:
        warnings.append(f"the runs scored different images ({only_a} only in A, {only_b} only "
                        f"in B): the figures below are over the {len(common)} in both")
    if a.model_labels and b.model_labels and a.model_labels != b.model_labels:
        warnings.append("the two models have different labels")

    labelled, label_mismatch = [], 0
    for uri in common:
        pa, pb = a.predictions[uri], b.predictions[uri]
        true = pb.true_label or pa.true_label
        if pa.true_label and pb.true_label and pa.true_label != pb.true_label:
            label_mismatch += 1
        if true and (not known or true in known):
            labelled.append((uri, true, pa, pb))
    if label_mismatch:
        warnings.append(f"{label_mismatch} images have a different true label in each run "
                        f"(B's is used)")

    def figures(side: str) -> tuple[dict, list]:
        pairs = [(true, (pa if side == "a" else pb).predicted_label)
                 for _u, true, pa, pb in labelled]
        top = [true in (pa if side == "a" else pb).top_k_labels for _u, true, pa, pb in labelled]
        return ({"accuracy": (sum(t == p for t, p in pairs) / len(pairs)) if pairs else None,
                 "top_k_accuracy": (sum(top) / len(top)) if top else None}, pairs)

    fig_a, pairs_a = figures("a")
    fig_b, pairs_b = figures("b")
    present = {t for t, _p in pairs_a} | {p for _t, p in pairs_a + pairs_b if p is not None}
    order = [x for x in (b.model_labels or []) + (a.model_labels or []) if x in present]
    classes = list(dict.fromkeys(order + sorted(present - set(order))))
    per_a, per_b = class_metrics(pairs_a, classes), class_metrics(pairs_b, classes)

    def macro(per: dict) -> Optional[float]:
        return sum(c["f1"] for c in per.values()) / len(per) if per else None

    per_class = []
    for label in classes:
        entry = {"label": label, "support": per_a[label]["support"]}
        for metric in ("precision", "recall", "f1"):
            entry[metric] = _delta(per_a[label][metric], per_b[label][metric])
        per_class.append(entry)

    changed = []
    for uri in common:
        pa, pb = a.predictions[uri], b.predictions[uri]
        if pa.predicted_label == pb.predicted_label:
            continue
        true = pb.true_label or pa.true_label
        ok_a = bool(true) and pa.predicted_label == true
        ok_b = bool(true) and pb.predicted_label == true
        kind = "fixed" if ok_b and not ok_a else "broken" if ok_a and not ok_b else "changed"
        changed.append({"uri": uri, "true_label": true, "change": kind,
                        "a": {"predicted_label": pa.predicted_label,
                              "confidence": pa.confidence},
                        "b": {"predicted_label": pb.predicted_label,
                              "confidence": pb.confidence}})
    rank = {"broken": 0, "fixed": 1, "changed": 2}
    changed.sort(key=lambda c: (rank[c["change"]], c["uri"]))
    kinds = Counter(c["change"] for c in changed)

    def side(run: RunResults) -> dict:
        s = run.summary or {}
        return {"uri": run.uri, "run_id": run.run_id, "completed": run.completed,
                "model_version": run.model_version,
                "model_name": ((run.manifest or s).get("model") or {}).get("name"),
                "images": len(run.predictions), "accuracy": s.get("accuracy"),
                "top_k": s.get("top_k"), "top_k_accuracy": s.get("top_k_accuracy"),
                "macro_f1": (s.get("macro") or {}).get("f1")}

    return {
        "a": side(a), "b": side(b),
        "images": {"common": len(common), "only_in_a": only_a, "only_in_b": only_b,
                   "labelled_common": len(labelled)},
        "accuracy": _delta(fig_a["accuracy"], fig_b["accuracy"]),
        "top_k_accuracy": _delta(fig_a["top_k_accuracy"], fig_b["top_k_accuracy"]),
        "macro_f1": _delta(macro(per_a), macro(per_b)),
        "per_class": per_class,
        "changed": {"count": len(changed), "fixed": kinds["fixed"], "broken": kinds["broken"],
                    "changed": kinds["changed"], "images": changed},
        "warnings": warnings,
    }


def _signed(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:+.4f}"


def format_comparison(c: dict, show: int = 20, max_classes: int = 30) -> str:
    """The comparison as text: headline deltas, per-class table, changed images."""
    lines = []
    for key in ("a", "b"):
        s = c[key]
        state = "complete" if s["completed"] else "NOT complete (no _SUCCESS)"
        model = s["model_version"] or "?"
        if s["model_name"]:
            model = f"{s['model_name']}@{model}"
        lines.append(f"{key.upper()}: {s['uri']}  model {model}, {s['images']} images, {state}")
    im = c["images"]
    lines.append(f"images in both runs: {im['common']} (only in A: {im['only_in_a']}, only in B: "
                 f"{im['only_in_b']}); labelled: {im['labelled_common']}")
    for w in c["warnings"]:
        lines.append(f"warning: {w}")
    lines.append("")
    k = c["a"].get("top_k") or c["b"].get("top_k")
    rows = [("over the images in both", "A", "B", "B - A")]
    for name, key in (("accuracy", "accuracy"), (f"top-{k or 'k'} accuracy", "top_k_accuracy"),
                      ("macro F1", "macro_f1")):
        d = c[key]
        rows.append((name, _num(d["a"], ".4f"), _num(d["b"], ".4f"), _signed(d["delta"])))
    lines += _table(rows)
    per = c["per_class"]
    if per:
        shown = per
        note = ""
        if len(per) > max_classes:
            shown = sorted((p for p in per if p["f1"]["delta"]),
                           key=lambda p: (p["f1"]["delta"], p["label"]))[:max_classes]
            note = (f"({len(shown)} of {len(per)} classes shown: the largest F1 drops first; "
                    f"--json has all)")
        lines += ["", "per class (over the labelled images in both runs):" + (
            f" {note}" if note else "")]
        rows = [("label", "support", "precision A", "B", "delta", "recall A", "B", "delta",
                 "F1 A", "B", "delta")]
        for p in shown:
            row = [p["label"], str(p["support"])]
            for metric in ("precision", "recall", "f1"):
                d = p[metric]
                row += [_num(d["a"], ".3f"), _num(d["b"], ".3f"), _signed(d["delta"])]
            rows.append(tuple(row))
        lines += _table(rows)
    ch = c["changed"]
    lines += ["", f"predictions changed: {ch['count']} (fixed {ch['fixed']}, broken "
                  f"{ch['broken']}, other {ch['changed']})"]
    for item in ch["images"][:show]:
        a, b = item["a"], item["b"]
        lines.append(f"  {item['change']:<7} {item['uri']}  true {item['true_label'] or '-'}: "
                     f"A {a['predicted_label'] or '(none)'} ({a['confidence']:.4f}) -> "
                     f"B {b['predicted_label'] or '(none)'} ({b['confidence']:.4f})")
    if ch["count"] > show:
        lines.append(f"  ... {ch['count'] - show} more (--show N, or --json for all)")
    return "\n".join(lines)


def _table(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [str(v).ljust(w) if i == 0 else str(v).rjust(w)
                 for i, (v, w) in enumerate(zip(row, widths))]
        out.append("  ".join(cells).rstrip())
    return out
