"""report.html: one self-contained page a person looks at after a run.

`render_report(summary, mistakes, failures, parameters)` -> the HTML text: headline
figures, a confusion-matrix heatmap and per-class precision/recall bars
(run_folder/report_figures.py, PNG inline), the most confident mistakes and failed images as
thumbnails (run_folder/thumbnails.py), what acting on the run needs (coverage and accuracy
against the confidence threshold, a reliability diagram, suspect labels with thumbnails,
duplicate images), and the run's parameters. Every image is a data:
URI, so the file can be mailed, downloaded or opened from a bucket. Every string that
comes from data (file names, labels, errors) is HTML-escaped. `write_report` never raises.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import logging
from typing import Any, Iterable, Optional, Sequence

from bucketscore.run_folder.layout import REPORT
from bucketscore.run_folder.report_figures import (
    MAX_BAR_CLASSES,
    MAX_MATRIX_CLASSES,
    confidence_png,
    confusion_png,
    coverage_png,
    distribution_png,
    matrix_labels,
    per_class_png,
    reliability_png,
)
from bucketscore.run_folder.summary import selection_text
from bucketscore.storage import uris

log = logging.getLogger(__name__)


def _e(value: Any) -> str:
    """HTML-escape anything (quotes too: values go into attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _data_uri(data: bytes) -> str:
    mime = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100.0 * value:.2f}%"


def _basename(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


_CSS = """
body{font-family:"DejaVu Sans","Liberation Sans",Arial,sans-serif;margin:0;color:#1d2330;
background:#f4f6f9}
header{background:#1d3557;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px 0;font-size:22px}
header p{margin:0;opacity:.85;font-size:13px}
main{padding:12px 28px 40px 28px;max-width:1400px}
section{background:#fff;border-radius:8px;padding:14px 18px;margin:16px 0;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{font-size:17px;margin:0 0 10px 0}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #d9dee7;border-radius:8px;padding:10px 16px;min-width:120px;
background:#fbfcfe}
.card .v{font-size:24px;font-weight:bold}
.card .k{font-size:12px;color:#5a6478;text-transform:uppercase;letter-spacing:.04em}
.card.bad .v{color:#b00020}.card.good .v{color:#1b7f3b}
.figs{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.figs img{max-width:100%;height:auto;border:1px solid #eef0f4}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px}
.item{border:1px solid #e1e5ec;border-radius:6px;padding:8px;font-size:12px;
overflow-wrap:anywhere;background:#fdfdfe}
.item img.thumb,.item .nothumb{width:96px;height:96px;object-fit:contain;
image-rendering:pixelated;background:#eee;display:block;margin-bottom:6px}
.item .nothumb{display:flex;align-items:center;justify-content:center;color:#888;
font-size:11px;text-align:center}
.item .name{font-weight:bold;margin-bottom:3px}
.item .err{color:#b00020}
.lab{display:inline-block;padding:0 5px;border-radius:3px}
.lab.t{background:#e3f1e6}.lab.p{background:#fbe3e4}.lab.p.ok{background:#e3f1e6}
.item.wrong{border-color:#d62828;box-shadow:inset 0 0 0 1px #d62828}
.tag{font-size:11px;color:#fff;background:#d62828;border-radius:3px;padding:0 4px}
table{border-collapse:collapse;font-size:13px}
td,th{border-bottom:1px solid #e6e9ef;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f1f3f7}
td.code{font-family:"DejaVu Sans Mono",monospace;overflow-wrap:anywhere;max-width:900px}
.note{color:#5a6478;font-size:13px}
.warning{color:#8a4b00;background:#fff4e0;border-left:4px solid #f4a261;padding:6px 10px;
font-size:13px}
h3.class{font-size:14px;margin:12px 0 6px 0}
tr.bad td{background:#fdecea}
.target{font-weight:bold;font-size:14px;margin:8px 0}
footer{color:#8a93a6;font-size:12px;padding:0 28px 20px 28px}
"""


def _card(key: str, value: str, cls: str = "") -> str:
    return (
        f'<div class="card {cls}" data-figure="{_e(key)}"><div class="v">{_e(value)}</div>'
        f'<div class="k">{_e(key)}</div></div>'
    )


def _headline(summary: dict) -> str:
    c = summary.get("counts") or {}
    k = summary.get("top_k")
    acc = summary.get("accuracy")
    macro = (summary.get("macro") or {}).get("f1")
    cards = [
        _card("listed", _fmt(c.get("listed"))),
        _card("scored", _fmt(c.get("scored"))),
        *(
            [
                _card("scored now", _fmt(c["scored"] - c["carried_over"])),
                _card("carried over", _fmt(c["carried_over"])),
            ]
            if c.get("carried_over")
            else []
        ),
        _card("failed", _fmt(c.get("failed")), "bad" if c.get("failed") else "good"),
        _card("accuracy", _pct(acc)),
        _card(f"top-{k} accuracy" if k else "top-k accuracy", _pct(summary.get("top_k_accuracy"))),
        _card("macro F1", _fmt(macro)),
    ]
    ece = (summary.get("calibration") or {}).get("ece")
    if ece is not None:
        cards.append(_card("calibration error (ECE)", _fmt(ece)))
    if summary.get("suspect_labels"):
        cards.append(_card("suspect labels", _fmt(summary["suspect_labels"]["count"])))
    if summary.get("duplicates"):
        cards.append(_card("duplicate images", _fmt(summary["duplicates"]["images"])))
    if summary.get("duration_seconds") is not None:
        cards.append(_card("duration", _duration(summary["duration_seconds"])))
    extra = []
    chosen = selection_text(summary.get("selection"))
    if chosen:
        extra.append(f"images selected: {_e(chosen)}")
    if c.get("labelled") is not None:
        extra.append(f"{_e(c.get('labelled'))} labelled images count towards accuracy")
    if c.get("unlabelled"):
        extra.append(f"{_e(c['unlabelled'])} without a label")
    if c.get("unknown_label"):
        extra.append(f"{_e(c['unknown_label'])} with a label the model does not know")
    if c.get("below_threshold"):
        extra.append(f"{_e(c['below_threshold'])} below --min_confidence (no prediction)")
    if summary.get("error_ratio"):
        extra.append(f"error ratio {_pct(summary['error_ratio'])}")
    weighted = summary.get("weighted") or {}
    macro_all = summary.get("macro") or {}
    if macro_all.get("precision") is not None:
        extra.append(
            f"macro precision {_fmt(macro_all.get('precision'))}, "
            f"recall {_fmt(macro_all.get('recall'))}; weighted F1 "
            f"{_fmt(weighted.get('f1'))}"
        )
    unknown = summary.get("unknown_labels") or {}
    if unknown:
        shown = ", ".join(f"{_e(k)} ({_e(v)})" for k, v in list(unknown.items())[:20])
        extra.append(f"labels unknown to the model: {shown}")
    note = f'<p class="note">{"; ".join(extra)}.</p>' if extra else ""
    warnings = "".join(
        f'<p class="warning">warning: {_e(w)}</p>' for w in summary.get("warnings") or []
    )
    return (
        f'<section id="headline"><h2>Headline</h2><div class="cards">{"".join(cards)}'
        f"</div>{note}{warnings}</section>"
    )


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s"


def _images(*figures: tuple[str, str, Optional[bytes]]) -> list[str]:
    """<img> tags of the (id, alt text, PNG) figures that could be drawn."""
    return [
        f'<img id="{_e(name)}" alt="{_e(alt)}" src="{_data_uri(png)}">'
        for name, alt, png in figures
        if png is not None
    ]


def _figures(summary: dict) -> str:
    parts = _images(
        ("confusion-matrix", "confusion matrix heatmap", confusion_png(summary)),
        ("per-class", "precision and recall per class", per_class_png(summary)),
    )
    notes = []
    _labels, _matrix, cut = matrix_labels(summary)
    if cut:
        notes.append(
            f"The confusion matrix shows the {MAX_MATRIX_CLASSES} most frequent "
            f"classes; confusion_matrix.csv has all of them."
        )
    elif _labels and len(_labels) < len(
        (summary.get("confusion_matrix") or {}).get("labels") or []
    ):
        notes.append(
            "Classes of the model with no image and no prediction in this run are "
            "left out of the matrix."
        )
    if len(summary.get("per_class") or []) > MAX_BAR_CLASSES:
        notes.append(
            f"The bars show the {MAX_BAR_CLASSES} classes with the lowest F1; "
            f"per_class.csv has all of them."
        )
    if not parts:
        notes.append("No labelled images: there is no accuracy to draw.")
    note = f'<p class="note">{" ".join(notes)}</p>' if notes else ""
    return (
        f'<section id="figures"><h2>Accuracy by class</h2><div class="figs">'
        f"{''.join(parts)}</div>{note}</section>"
    )


THRESHOLDS_SHOWN = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999)
DUPLICATE_GROUPS_SHOWN = 20


def _thresholds(summary: dict) -> str:
    """Coverage and accuracy against the threshold, the reliability diagram, a table."""
    from bucketscore.run_folder import calibration
    from bucketscore.run_folder.thresholds import EDGES, fine_bin

    curve = (summary.get("threshold_evidence") or {}).get("curve") or []
    if not curve or not curve[0].get("kept"):
        return ""
    parts = _images(
        ("coverage-accuracy", "coverage and accuracy against the threshold", coverage_png(summary)),
        ("reliability", "reliability diagram", reliability_png(summary)),
    )
    rows = []
    for t in THRESHOLDS_SHOWN:
        point = curve[fine_bin(t)] if EDGES[fine_bin(t)] == t else None
        if point is None:
            continue
        rows.append(
            f"<tr><td>{t:g}</td><td>{_pct(point['coverage'])}</td>"
            f"<td>{_e(point['kept'])}</td><td>{_pct(point['accuracy'])}</td></tr>"
        )
    target = (summary.get("target_accuracy") or {}).get("text")
    lines = [calibration.described(summary.get("calibration"))]
    if target:
        lines.insert(0, target)
    return (
        '<section id="thresholds"><h2>Choosing a threshold</h2>'
        f'<div class="figs">{"".join(parts)}</div>'
        + "".join(f'<p class="target">{_e(line)}</p>' for line in lines)
        + '<p class="note">Keeping only the labelled images whose top-1 probability is at '
        "least the threshold: the share kept (coverage) and how many of those the model gets "
        "right. The reliability diagram compares, per band of confidence, how often the model "
        "is right with how sure it said it was: on the diagonal a probability of 0.8 is right "
        "80% of the time. summary.json (threshold_evidence, calibration) has every point; "
        "per_class.csv the calibration error per predicted class.</p>"
        "<table><tr><th>threshold</th><th>coverage</th><th>kept</th><th>accuracy of kept"
        f"</th></tr>{''.join(rows)}</table></section>"
    )


def _suspects(summary: dict, shown: Sequence[dict]) -> str:
    section = summary.get("suspect_labels")
    if not section:
        return ""
    if not shown:
        body = '<p class="note">No image has a label the model contradicts.</p>'
    else:
        cells = "".join(
            f'<div class="item suspect" title="{_e(r["uri"])}">{_thumb(r)}'
            f'<div class="name">{_e(_basename(r["uri"]))}</div>'
            f'<div>labelled <span class="lab t">{_e(r["given_label"])}</span> '
            f"({float(r['given_score']):.3f})</div>"
            f'<div>looks like <span class="lab p">{_e(r["suggested_label"])}</span> '
            f"({float(r['suggested_score']):.3f})</div>"
            f'<div class="note">{_e(r["uri"])}</div></div>'
            for r in shown
        )
        body = f'<div class="grid">{cells}</div>'
    count = section["count"]
    more = f" ({len(shown)} shown of {count}; suspect_labels.csv)" if count > len(shown) else ""
    return (
        f'<section id="suspect-labels"><h2>Suspect labels{_e(more)}</h2>'
        '<p class="note">Images whose given label gets less probability than the model '
        "usually gives that class, while another class gets at least what it usually gets "
        "(confident learning): worth a second look, largest gap first.</p>"
        f"{body}</section>"
    )


def _duplicates(summary: dict, rows: Sequence[dict]) -> str:
    section = summary.get("duplicates")
    if not section:
        return ""
    if not rows:
        return (
            '<section id="duplicates"><h2>Duplicate images</h2>'
            '<p class="note">No two scored images have the same bytes.</p></section>'
        )
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["sha256"], []).append(r)
    body = []
    for digest, members in list(groups.items())[:DUPLICATE_GROUPS_SHOWN]:
        differ = members[0]["labels_differ"]
        names = "<br>".join(
            f'{_e(m["uri"])} <span class="lab t">{_e(m["true_label"] or "no label")}</span>'
            for m in members
        )
        row_class = ' class="bad"' if differ else ""
        body.append(
            f'<tr{row_class}><td class="code">{_e(digest[:12])}</td>'
            f"<td>{len(members)}</td><td>{names}</td><td>{'yes' if differ else 'no'}</td></tr>"
        )
    note = (
        f"{section['groups']} groups, {section['images']} images; "
        f"{section['groups_with_different_labels']} groups carry different labels"
    )
    if section["groups"] > DUPLICATE_GROUPS_SHOWN:
        note += f"; the first {DUPLICATE_GROUPS_SHOWN} shown, duplicates.csv has all"
    return (
        f'<section id="duplicates"><h2>Duplicate images</h2><p class="note">{_e(note)}.</p>'
        "<table><tr><th>sha256</th><th>copies</th><th>images and labels</th>"
        f"<th>labels differ</th></tr>{''.join(body)}</table></section>"
    )


def _predictions(summary: dict) -> str:
    """What the model predicted over every scored image (labelled or not): the class
    distribution and the confidence histogram."""
    parts = _images(
        ("class-distribution", "predicted class distribution", distribution_png(summary)),
        ("confidence-histogram", "confidence histogram", confidence_png(summary)),
    )
    if not parts:
        return ""
    counts = {k: v for k, v in (summary.get("predicted_counts") or {}).items() if v}
    note = ""
    if len(counts) > MAX_BAR_CLASSES:
        note = (
            f'<p class="note">The bars show the {MAX_BAR_CLASSES} most predicted classes '
            f"of {len(counts)}; summary.json (predicted_counts) has all of them.</p>"
        )
    return (
        f'<section id="predictions"><h2>Predictions (every scored image)</h2>'
        f'<div class="figs">{"".join(parts)}</div>{note}</section>'
    )


def _drift(summary: dict) -> str:
    shift = summary.get("drift")
    if not shift:
        return ""
    rows = sorted(shift["shares"].items(), key=lambda kv: -abs(kv[1]["now"] - kv[1]["then"]))[
        :MAX_BAR_CLASSES
    ]
    body = "".join(
        f"<tr><td>{_e(label)}</td><td>{_pct(v['then'])}</td><td>{_pct(v['now'])}"
        f"</td><td>{100.0 * (v['now'] - v['then']):+.2f} points</td></tr>"
        for label, v in rows
    )
    previous = shift.get("previous_run_id") or shift.get("previous_run")
    return (
        f'<section id="drift"><h2>Shift since the previous run</h2>'
        f'<div class="cards">{_card("total variation", _fmt(shift["total_variation"]))}'
        f'</div><p class="note">Class shares of the predictions now and in run '
        f"{_e(previous)} ({_e(shift.get('previous_scored'))} images), the same model; "
        f"total variation distance: 0 = the same distribution, 1 = nothing in common. "
        f"Largest changes first.</p><table><tr><th>class</th><th>then</th><th>now</th>"
        f"<th>change</th></tr>{body}</table></section>"
    )


def _scored_item(row: dict, cls: str) -> str:
    """A thumbnail with its prediction: the predicted label green when it is the true one,
    pink when not; a labelled image predicted wrong is framed red and tagged "wrong"."""
    true = row.get("true_label")
    predicted = row.get("predicted_label")
    wrong = bool(true) and predicted != true
    right = bool(true) and predicted == true
    return (
        f'<div class="item {cls}{" wrong" if wrong else ""}" title="{_e(row["uri"])}">'
        f"{_thumb(row)}"
        f'<div class="name">{_e(_basename(row["uri"]))}'
        + (' <span class="tag">wrong</span>' if wrong else "")
        + "</div>"
        f'<div>predicted <span class="lab p{" ok" if right else ""}">'
        f"{_e(predicted or 'none')}</span>"
        + (f' true <span class="lab t">{_e(true)}</span>' if true else "")
        + f"</div><div>confidence {float(row.get('confidence') or 0.0):.4f}</div></div>"
    )


def _least_confident(rows: Sequence[dict]) -> str:
    if not rows:
        return ""
    cells = "".join(_scored_item(r, "least") for r in rows)
    return (
        f'<section id="least-confident"><h2>Least confident predictions ({len(rows)})</h2>'
        f'<div class="grid">{cells}</div></section>'
    )


def _most_confident(groups: Sequence[dict]) -> str:
    if not groups:
        return ""
    parts = []
    for group in groups:
        cells = "".join(_scored_item(r, "best") for r in group["rows"])
        parts.append(f'<h3 class="class">{_e(group["label"])}</h3><div class="grid">{cells}</div>')
    return (
        f'<section id="most-confident"><h2>Most confident images per predicted class</h2>'
        f"{''.join(parts)}</section>"
    )


def _thumb(item: dict) -> str:
    data = item.get("thumbnail")
    if data:
        return f'<img class="thumb" alt="{_e(_basename(item["uri"]))}" src="{_data_uri(data)}">'
    return '<div class="nothumb">no preview</div>'


def _mistakes(summary: dict, mistakes: Sequence[dict]) -> str:
    c = summary.get("counts") or {}
    total = None
    if c.get("labelled") is not None and c.get("correct") is not None:
        abstained = sum(int(p.get("abstained") or 0) for p in summary.get("per_class") or [])
        total = c["labelled"] - c["correct"] - abstained
    if not mistakes:
        body = '<p class="note">No wrong predictions among the labelled images.</p>'
    else:
        cells = []
        for m in mistakes:
            topk = ", ".join(
                f"{_e(lab)} {float(s):.3f}"
                for lab, s in zip(m.get("top_k_labels") or [], m.get("top_k_scores") or [])
            )
            cells.append(
                f'<div class="item mistake" title="{_e(m["uri"])}">{_thumb(m)}'
                f'<div class="name">{_e(_basename(m["uri"]))}</div>'
                f'<div>true <span class="lab t">{_e(m.get("true_label"))}</span> '
                f'predicted <span class="lab p">{_e(m.get("predicted_label"))}</span></div>'
                f"<div>confidence {float(m.get('confidence') or 0.0):.4f}</div>"
                f'<div class="note">top-k: {topk}</div>'
                f'<div class="note">{_e(m["uri"])}</div></div>'
            )
        body = f'<div class="grid">{"".join(cells)}</div>'
    count = (
        f" ({len(mistakes)} shown of {total})"
        if total is not None and total > len(mistakes)
        else ""
    )
    return f'<section id="mistakes"><h2>Most confident mistakes{_e(count)}</h2>{body}</section>'


def _failures(summary: dict, failures: Sequence[dict]) -> str:
    total = (summary.get("counts") or {}).get("failed")
    if not failures:
        body = '<p class="note">No image failed.</p>'
    else:
        cells = []
        for f in failures:
            cells.append(
                f'<div class="item failure" title="{_e(f["uri"])}">{_thumb(f)}'
                f'<div class="name">{_e(_basename(f["uri"]))}</div>'
                f"<div>stage <b>{_e(f.get('stage'))}</b></div>"
                f'<div class="err">{_e(f.get("error"))}</div>'
                f'<div class="note">{_e(f["uri"])}</div></div>'
            )
        body = f'<div class="grid">{"".join(cells)}</div>'
    count = (
        f" ({len(failures)} shown of {total}; all in errors.csv)"
        if isinstance(total, int) and total > len(failures)
        else ""
    )
    return f'<section id="failures"><h2>Failed images{_e(count)}</h2>{body}</section>'


def _value_text(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def _parameters(summary: dict, parameters: dict) -> str:
    parameters = dict(parameters or {})
    kept = summary.get("top_k")
    if kept and parameters.get("top_k") not in (None, kept):  # clamped to the model's labels
        parameters["top_k"] = f"{kept} (asked {parameters['top_k']}; the model has {kept} labels)"
    rows = [
        f'<tr><th>{_e(k)}</th><td class="code">{_e(_value_text(v))}</td></tr>'
        for k, v in parameters.items()
    ]
    model = summary.get("model") or {}
    for key in ("uri", "name", "version"):
        if model.get(key):
            rows.append(f'<tr><th>model {_e(key)}</th><td class="code">{_e(model[key])}</td></tr>')
    if model.get("labels"):
        rows.append(
            f'<tr><th>model labels</th><td class="code">'
            f"{_e(', '.join(map(str, model['labels'])))}</td></tr>"
        )
    return f'<section id="parameters"><h2>Parameters</h2><table>{"".join(rows)}</table></section>'


def render_report(
    summary: dict,
    mistakes: Iterable[dict],
    failures: Iterable[dict],
    parameters: dict,
    least_confident: Iterable[dict] = (),
    most_confident: Iterable[dict] = (),
    suspects: Iterable[dict] = (),
    duplicates: Iterable[dict] = (),
) -> str:
    """The whole report.html (UTF-8 text, self-contained, no script, no external links).

    summary: the summary.json document (run_folder.summary.build_summary). mistakes,
    least_confident: prediction rows plus `thumbnail` (PNG/JPEG bytes or None). failures:
    `{uri, stage, error, thumbnail}`. most_confident: `[{label, rows}]`. suspects: the
    first rows of suspect_labels.csv plus `thumbnail`; duplicates: duplicates.csv's rows.
    parameters: the run's arguments (manifest.json "arguments", secrets already redacted)
    and anything else worth showing (code version, times).
    """
    mistakes, failures = list(mistakes or []), list(failures or [])
    run_id = summary.get("run_id") or (parameters or {}).get("run_id") or ""
    model = summary.get("model") or {}
    subtitle = " \u00b7 ".join(
        x
        for x in (
            f"model {model.get('name') or model.get('uri') or '?'} "
            f"(version {model.get('version') or '?'})",
            "generated " + dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        )
        if x
    )
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>bucketscore report {_e(run_id)}</title><style>{_CSS}</style></head><body>",
            f"<header><h1>bucketscore run {_e(run_id)}</h1><p>{_e(subtitle)}</p></header><main>",
            _headline(summary),
            _figures(summary),
            _thresholds(summary),
            _predictions(summary),
            _drift(summary),
            _mistakes(summary, mistakes) if (summary.get("counts") or {}).get("labelled") else "",
            _least_confident(list(least_confident or [])),
            _most_confident(list(most_confident or [])),
            _suspects(summary, list(suspects or [])),
            _duplicates(summary, list(duplicates or [])),
            _failures(summary, failures),
            _parameters(summary, parameters or {}),
            "</main><footer>Written by bucketscore. Full results: predictions*.csv, errors.csv, "
            "summary.json, per_class.csv, confusion_matrix.csv beside this file.</footer>",
            "</body></html>\n",
        ]
    )


def write_report(
    run_uri: str, summary: dict, items: Optional[dict], parameters: dict
) -> Optional[str]:
    """Render and write `<run_uri>/report.html`; returns its URI, or None if that failed.

    Never raises: a report that cannot be drawn or written must not fail a run whose
    results are all there (the reason is logged as a warning).
    """
    items = items or {}
    target = uris.join(run_uri, REPORT)
    try:
        page = render_report(
            summary,
            items.get("mistakes") or [],
            items.get("failures") or [],
            parameters,
            items.get("least_confident") or [],
            items.get("most_confident") or [],
            items.get("suspects") or [],
            items.get("duplicates") or [],
        )
        uris.write_text(target, page, "text/html")
    except Exception as e:  # noqa: BLE001 - the report is a view of results already written
        log.warning("could not write %s: %s: %s", target, type(e).__name__, e)
        return None
    return target
