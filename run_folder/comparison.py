"""Compare two runs (`bucketscore compare`): did the new model get better or worse?

`compare_runs(a, b)`: accuracy, top-k accuracy, macro F1 and per-class precision/recall/F1
of both runs over the images they have in common (the fair comparison), their deltas
(b - a), and every image whose prediction changed, marked fixed / broken / changed. Reads
each run's `predictions*.csv`, `summary.json` and `manifest.json` on any storage.

The figures follow run_folder.accuracy (the same formula as the run's own summary): an
image is labelled when its true label is one of the model's labels (here: one of either
run's models); a prediction below --min_confidence (no predicted label) is a miss for
recall and accuracy and no prediction for precision.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

from bucketscore.run_folder.accuracy import class_metrics
from bucketscore.run_folder.history import (
    RunHistoryError,
    check_prefix,
    list_folder,
    not_a_run_message,
    number_text,
    read_json,
)
from bucketscore.run_folder.layout import MANIFEST, PREDICTIONS, SUCCESS, SUMMARY, looks_like_run
from bucketscore.run_folder.schemas import parse_predictions_csv
from bucketscore.storage import uris


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


def _prediction(row: dict) -> Prediction:
    return Prediction(
        true_label=row.get("true_label"),
        predicted_label=row.get("predicted_label"),
        confidence=float(row.get("confidence") or 0.0),
        top_k_labels=tuple(row.get("top_k_labels") or ()),
    )


def read_run(run_uri: str) -> RunResults:
    """A run's predictions (every predictions*.csv), summary, manifest and completeness."""
    prefix = check_prefix(run_uri)
    names = sorted(uris.relative_to(m.path, prefix) for m in list_folder(prefix))
    if not names:
        raise RunHistoryError(f"{run_uri}: nothing there (is it a run folder <output>/<run_id>/?)")
    top = {n for n in names if "/" not in n}
    if not looks_like_run(top):
        raise RunHistoryError(
            not_a_run_message(run_uri, names, f"bucketscore runs --output {run_uri}")
        )
    csvs = sorted(n for n in top if n.startswith(PREDICTIONS) and n.endswith(".csv"))
    if not csvs:
        raise RunHistoryError(
            f"{run_uri}: no predictions*.csv (not a run folder, or the run wrote no results)"
        )
    run = RunResults(
        uri=prefix,
        run_id=prefix.rstrip("/").rsplit("/", 1)[-1],
        completed=SUCCESS in top,
        summary=read_json(prefix + SUMMARY) if SUMMARY in top else None,
        manifest=read_json(prefix + MANIFEST) if MANIFEST in top else None,
    )
    for name in csvs:
        for row in parse_predictions_csv(uris.read_text(prefix + name)):
            run.predictions[row["uri"]] = _prediction(row)
    return run


def run_top_k(run: RunResults) -> Optional[int]:
    """How many labels the run kept per image: its summary's top_k, else the longest
    top_k_labels of its rows (runs written before top_k was recorded)."""
    k = (run.summary or {}).get("top_k")
    if k:
        return int(k)
    return max((len(p.top_k_labels) for p in run.predictions.values()), default=None) or None


# --------------------------------------------------------------------------------------
# Comparing two runs
# --------------------------------------------------------------------------------------
def _delta(a: Optional[float], b: Optional[float]) -> dict:
    return {"a": a, "b": b, "delta": None if a is None or b is None else b - a}


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
        warnings.append(
            f"the runs scored different images ({only_a} only in A, {only_b} only "
            f"in B): the figures below are over the {len(common)} in both"
        )
    if a.model_labels and b.model_labels and set(a.model_labels) != set(b.model_labels):
        only_a_labels = sorted(set(a.model_labels) - set(b.model_labels))
        only_b_labels = sorted(set(b.model_labels) - set(a.model_labels))
        warnings.append(
            "the two models have different labels ("
            + "; ".join(
                f"only {side}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
                for side, names in (("A's", only_a_labels), ("B's", only_b_labels))
                if names
            )
            + "): images labelled with a label one model lacks count as misses for it"
        )
    # Top-k accuracy on both sides at one k: the smaller of the two runs' k, each run's
    # rows cut to it (a row keeps its run's top k labels, best first).
    k_a, k_b = run_top_k(a), run_top_k(b)
    k = min(x for x in (k_a, k_b) if x) if (k_a or k_b) else None
    if k_a and k_b and k_a != k_b:
        warnings.append(
            f"A kept the top {k_a} labels per image, B the top {k_b}: top-k accuracy is "
            f"compared at k = {k} for both"
        )

    labelled, label_mismatch = [], 0
    for uri in common:
        pa, pb = a.predictions[uri], b.predictions[uri]
        true = pb.true_label or pa.true_label
        if pa.true_label and pb.true_label and pa.true_label != pb.true_label:
            label_mismatch += 1
        if true and (not known or true in known):
            labelled.append((uri, true, pa, pb))
    if label_mismatch:
        warnings.append(
            f"{label_mismatch} images have a different true label in each run (B's is used)"
        )

    def figures(side: str) -> tuple[dict, list]:
        pairs = [
            (true, (pa if side == "a" else pb).predicted_label) for _u, true, pa, pb in labelled
        ]
        top = [
            true in (pa if side == "a" else pb).top_k_labels[:k] for _u, true, pa, pb in labelled
        ]
        return (
            {
                "accuracy": (sum(t == p for t, p in pairs) / len(pairs)) if pairs else None,
                "top_k_accuracy": (sum(top) / len(top)) if top else None,
            },
            pairs,
        )

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
        changed.append(
            {
                "uri": uri,
                "true_label": true,
                "change": kind,
                "a": {"predicted_label": pa.predicted_label, "confidence": pa.confidence},
                "b": {"predicted_label": pb.predicted_label, "confidence": pb.confidence},
            }
        )
    rank = {"broken": 0, "fixed": 1, "changed": 2}
    changed.sort(key=lambda c: (rank[c["change"]], c["uri"]))
    kinds = Counter(c["change"] for c in changed)

    def side(run: RunResults) -> dict:
        s = run.summary or {}
        return {
            "uri": run.uri,
            "run_id": run.run_id,
            "completed": run.completed,
            "model_version": run.model_version,
            "model_name": ((run.manifest or s).get("model") or {}).get("name"),
            "images": len(run.predictions),
            "accuracy": s.get("accuracy"),
            "top_k": run_top_k(run),
            "top_k_accuracy": s.get("top_k_accuracy"),
            "macro_f1": (s.get("macro") or {}).get("f1"),
        }

    return {
        "a": side(a),
        "b": side(b),
        "images": {
            "common": len(common),
            "only_in_a": only_a,
            "only_in_b": only_b,
            "labelled_common": len(labelled),
        },
        "accuracy": _delta(fig_a["accuracy"], fig_b["accuracy"]),
        "top_k": k,
        "top_k_accuracy": _delta(fig_a["top_k_accuracy"], fig_b["top_k_accuracy"]),
        "macro_f1": _delta(macro(per_a), macro(per_b)),
        "per_class": per_class,
        # each run over all its own images (summary.json), not only the common ones
        "own": {
            "calibration_ece": _delta(_ece(a), _ece(b)),
            "suspect_labels": _delta(_suspects(a), _suspects(b)),
        },
        "changed": {
            "count": len(changed),
            "fixed": kinds["fixed"],
            "broken": kinds["broken"],
            "changed": kinds["changed"],
            "images": changed,
        },
        "warnings": warnings,
    }


def _ece(run: RunResults) -> Optional[float]:
    return ((run.summary or {}).get("calibration") or {}).get("ece")


def _suspects(run: RunResults) -> Optional[int]:
    return ((run.summary or {}).get("suspect_labels") or {}).get("count")


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
    lines.append(
        f"images in both runs: {im['common']} (only in A: {im['only_in_a']}, only in B: "
        f"{im['only_in_b']}); labelled: {im['labelled_common']}"
    )
    for w in c["warnings"]:
        lines.append(f"warning: {w}")
    lines.append("")
    k = c.get("top_k")
    rows = [("over the images in both", "A", "B", "B - A")]
    for name, key in (
        ("accuracy", "accuracy"),
        (f"top-{k or 'k'} accuracy", "top_k_accuracy"),
        ("macro F1", "macro_f1"),
    ):
        d = c[key]
        rows.append(
            (name, number_text(d["a"], ".4f"), number_text(d["b"], ".4f"), _signed(d["delta"]))
        )
    lines += _table(rows)
    own = c.get("own") or {}
    ece, suspects = own.get("calibration_ece"), own.get("suspect_labels")
    if ece and (ece["a"] is not None or ece["b"] is not None):
        lines.append(
            f"each run over its own images: calibration error (ECE) A "
            f"{number_text(ece['a'], '.4f')}, B {number_text(ece['b'], '.4f')} "
            f"({_signed(ece['delta'])})"
            + (
                f"; suspect labels A {suspects['a']}, B {suspects['b']}"
                if suspects and suspects["a"] is not None and suspects["b"] is not None
                else ""
            )
        )
    per = c["per_class"]
    if per:
        shown = per
        note = ""
        if len(per) > max_classes:
            shown = sorted(
                (p for p in per if p["f1"]["delta"]), key=lambda p: (p["f1"]["delta"], p["label"])
            )[:max_classes]
            note = (
                f"({len(shown)} of {len(per)} classes shown: the largest F1 drops first; "
                f"--json has all)"
            )
        lines += [
            "",
            "per class (over the labelled images in both runs):" + (f" {note}" if note else ""),
        ]
        rows = [
            (
                "label",
                "support",
                "precision A",
                "B",
                "delta",
                "recall A",
                "B",
                "delta",
                "F1 A",
                "B",
                "delta",
            )
        ]
        for p in shown:
            row = [p["label"], str(p["support"])]
            for metric in ("precision", "recall", "f1"):
                d = p[metric]
                row += [number_text(d["a"], ".3f"), number_text(d["b"], ".3f"), _signed(d["delta"])]
            rows.append(tuple(row))
        lines += _table(rows)
    ch = c["changed"]
    lines += [
        "",
        f"predictions changed: {ch['count']} (fixed {ch['fixed']}, broken "
        f"{ch['broken']}, other {ch['changed']})",
    ]
    for item in ch["images"][:show]:
        a, b = item["a"], item["b"]
        lines.append(
            f"  {item['change']:<7} {item['uri']}  true {item['true_label'] or '-'}: "
            f"A {a['predicted_label'] or '(none)'} ({a['confidence']:.4f}) -> "
            f"B {b['predicted_label'] or '(none)'} ({b['confidence']:.4f})"
        )
    if ch["count"] > show:
        lines.append(f"  ... {ch['count'] - show} more (--show N, or --json for all)")
    return "\n".join(lines)


def _table(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            str(v).ljust(w) if i == 0 else str(v).rjust(w)
            for i, (v, w) in enumerate(zip(row, widths))
        ]
        out.append("  ".join(cells).rstrip())
    return out
