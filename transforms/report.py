"""report.html: one self-contained page a person looks at after a run.

Two halves:

* In the pipeline, `CollectReportItems(n)` turns (prediction rows, error rows) into ONE
  element `{"mistakes": [...], "failures": [...]}`: the n most confident wrong predictions
  and n failed images (deterministically: the first n by URI), each with a small PNG
  thumbnail. Only those 2n images are read again; the data set is never held in memory
  (two bounded `Top` combiners).
* `render_report(summary, mistakes, failures, parameters)` -> the HTML text: headline
  figures, a confusion-matrix heatmap and per-class precision/recall bars (matplotlib, Agg,
  PNG inline), the mistakes and failures as thumbnails, and the run's parameters. Every
  image is a data: URI, so the file can be mailed, downloaded or opened from a bucket.
  Every string that comes from data (file names, labels, errors) is HTML-escaped.

Wiring (in the step that writes summary.json):

    items = (rows, failures) | "CollectReportItems" >> CollectReportItems(24, meta.labels)
    ... beam.ParDo(FinishRun(...), report_items=beam.pvalue.AsSingleton(items))
    write_report(run_uri, summary, report_items, parameters)   # never raises
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import logging
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Collection, Iterable, Iterator, Optional, Sequence

import apache_beam as beam

from storage import uris
from transforms.records import ErrorRow

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
DEFAULT_REPORT_ITEMS = 24
THUMBNAIL_SIZE = 96
# A thumbnail is a nicety: never read more than this, never decode more pixels than this.
THUMBNAIL_MAX_BYTES = 64 * 1024 * 1024
THUMBNAIL_MAX_PIXELS = 100_000_000
# Figures stay readable up to this many classes; beyond it they show the classes that matter
# most (the most frequent for the matrix, the worst F1 for the bars) and say so.
MAX_MATRIX_CLASSES = 40
MAX_BAR_CLASSES = 60
_THUMBNAIL_THREADS = 8


# --------------------------------------------------------------------------------------
# Thumbnails
# --------------------------------------------------------------------------------------
def thumbnail(image_bytes: Optional[bytes], size: int = THUMBNAIL_SIZE) -> Optional[bytes]:
    """PNG bytes of the image scaled to fit size x size (upright, RGB), or None.

    Never raises: an empty, corrupt, truncated or oversized image gives None.
    """
    if not image_bytes:
        return None
    try:
        from PIL import Image, ImageOps

        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(image_bytes))
            w, h = img.size
            if w * h > THUMBNAIL_MAX_PIXELS:
                return None
            if img.format == "JPEG":
                img.draft("RGB", (size, size))  # decode at 1/2..1/8 scale: far less work
            img.load()
            img = ImageOps.exif_transpose(img)
            img = _to_rgb(img)
            img.thumbnail((size, size), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            img.save(out, format="PNG", optimize=True)
            return out.getvalue()
    except Exception:  # noqa: BLE001 - a missing thumbnail must never fail a run
        return None


def _to_rgb(img):
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale the actual range to 8 bits.
        lo, hi = img.getextrema()
        scale = 255.0 / (hi - lo) if hi > lo else 1.0
        img = img.point(lambda v: (v - lo) * scale).convert("L")
    if img.mode == "F":
        img = img.convert("L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def read_capped(uri: str, limit: int = THUMBNAIL_MAX_BYTES) -> Optional[bytes]:
    """The object's bytes, or None when it cannot be read or is larger than `limit`."""
    try:
        data = uris.read_bytes(uri, max_bytes=limit + 1)
    except Exception:  # noqa: BLE001 - the image may be gone or unreadable: no thumbnail
        return None
    return data if len(data) <= limit else None


def thumbnail_of(uri: str, size: int = THUMBNAIL_SIZE) -> Optional[bytes]:
    """Read `uri` (local, s3://, gs://) and make its thumbnail; None when it cannot."""
    return thumbnail(read_capped(uri), size)


# --------------------------------------------------------------------------------------
# Beam: keep the few rows the report shows
# --------------------------------------------------------------------------------------
def is_mistake(row: dict, labels: Optional[Collection[str]] = None) -> bool:
    """A wrong prediction: labelled, a label was predicted (not abstained) and it differs.

    Rows below --min_confidence have no predicted label: they are abstentions, not
    confident mistakes, and are left out here (summary.json counts them). With `labels`
    (the model's), a true label the model does not know is not a mistake either: as in
    summary.json, such rows are counted apart (`unknown_label`).
    """
    true, predicted = row.get("true_label"), row.get("predicted_label")
    if not true or not predicted or true == predicted:
        return False
    return labels is None or true in labels


def mistake_key(row: dict) -> tuple:
    """Most confident first; ties: the smaller URI wins (so the choice is deterministic)."""
    return (float(row["confidence"]), _Reversed(row["uri"]))


def failure_key(failure: dict) -> str:
    return failure["uri"]


class _Reversed:
    """Orders strings backwards, so that `Top.Of` (largest first) prefers the smaller one."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __lt__(self, other: "_Reversed") -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value

    def __reduce__(self):
        return (_Reversed, (self.value,))


def failure_dict(error: ErrorRow) -> dict:
    """{uri, stage, error}: by attribute, since Beam may hand over a schema'd copy (a
    NamedTuple with the same fields) instead of the ErrorRow dataclass itself."""
    if isinstance(error, dict):
        return {k: error.get(k) for k in ("uri", "stage", "error")}
    return {"uri": error.uri, "stage": error.stage, "error": error.error}


def assemble_items(mistakes: list[dict], failures: list[dict]) -> dict:
    return {"mistakes": list(mistakes), "failures": list(failures)}


class AddThumbnails(beam.DoFn):
    """{"mistakes", "failures"} -> the same with a `thumbnail` (PNG bytes or None) per item.

    Runs on the single element CollectReportItems produces, so at most 2n images are read,
    a few at a time in threads (object stores answer slowly, not heavily).
    """

    def __init__(self, size: int = THUMBNAIL_SIZE):
        self._size = size
        self._made = beam.metrics.Metrics.counter("bucketscore", "report_thumbnails")

    def process(self, items: dict) -> Iterator[dict]:
        entries = list(items.get("mistakes", [])) + list(items.get("failures", []))
        with ThreadPoolExecutor(max_workers=_THUMBNAIL_THREADS) as pool:
            thumbs = list(pool.map(lambda e: thumbnail_of(e["uri"], self._size), entries))
        self._made.inc(sum(t is not None for t in thumbs))
        n = len(items.get("mistakes", []))
        yield {
            "mistakes": [dict(m, thumbnail=t) for m, t in zip(entries[:n], thumbs[:n])],
            "failures": [dict(f, thumbnail=t) for f, t in zip(entries[n:], thumbs[n:])],
        }


class CollectReportItems(beam.PTransform):
    """(prediction rows, ErrorRow) -> ONE element {"mistakes": [...], "failures": [...]}.

    mistakes: up to n prediction rows (see `is_mistake`), most confident first, each with
    `thumbnail`. failures: up to n `{uri, stage, error, thumbnail}`, the first n by URI.
    Memory: two `Top` combiners of size n; the data set is never gathered. `labels`: the
    model's labels (rows whose true label is not one of them are not mistakes).

        items = (rows, errors) | "CollectReportItems" >> CollectReportItems(24, meta.labels)
    """

    def __init__(self, n: int = DEFAULT_REPORT_ITEMS, labels: Optional[Sequence[str]] = None,
                 thumbnail_size: int = THUMBNAIL_SIZE):
        super().__init__()
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        self._n = n
        self._labels = None if labels is None else frozenset(labels)
        self._size = thumbnail_size

    def expand(self, pcolls):
        rows, errors = pcolls
        mistakes = (rows
                    | "KeepMistakes" >> beam.Filter(is_mistake, self._labels)
                    | "MostConfidentMistakes" >> beam.combiners.Top.Of(self._n, key=mistake_key))
        failures = (errors
                    | "FailureDicts" >> beam.Map(failure_dict)
                    | "FirstFailures" >> beam.combiners.Top.Of(self._n, key=failure_key,
                                                               reverse=True))
        return (mistakes
                | "Assemble" >> beam.Map(assemble_items,
                                         failures=beam.pvalue.AsSingleton(failures))
                | "AddThumbnails" >> beam.ParDo(AddThumbnails(self._size)))


# --------------------------------------------------------------------------------------
# Figures (matplotlib, Agg, no pyplot: no global state, safe in worker threads)
# --------------------------------------------------------------------------------------
def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _short(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _matrix_labels(summary: dict) -> tuple[list[str], list[list[int]], bool]:
    """The labels and matrix to draw: the classes present in the run (an image or a
    prediction), at most MAX_MATRIX_CLASSES of them (the most frequent); True when cut."""
    cm = summary.get("confusion_matrix") or {}
    labels, matrix = list(cm.get("labels") or []), cm.get("matrix") or []
    weight = [sum(matrix[i]) + sum(row[i] for row in matrix) for i in range(len(labels))]
    present = [i for i in range(len(labels)) if weight[i]]
    cut = len(present) > MAX_MATRIX_CLASSES
    if cut:
        present = sorted(sorted(present, key=lambda i: -weight[i])[:MAX_MATRIX_CLASSES])
    return ([labels[i] for i in present], [[matrix[i][j] for j in present] for i in present],
            cut)


def confusion_png(summary: dict) -> Optional[bytes]:
    """Heatmap of the confusion matrix (colour: share of the true class; text: counts)."""
    labels, matrix, _cut = _matrix_labels(summary)
    if not labels or not any(any(row) for row in matrix):
        return None
    with _mpl_rc():
        import numpy as np

        counts = np.asarray(matrix, dtype=float)
        totals = counts.sum(axis=1, keepdims=True)
        share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        n = len(labels)
        side = min(max(4.0, 0.45 * n + 2.0), 16.0)
        fig = _figure(side + 1.2, side)
        ax = fig.add_subplot()
        im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
        ticks = [_short(label) for label in labels]
        ax.set_xticks(range(n), ticks, rotation=90 if n > 8 else 0, fontsize=8 if n > 15 else 10)
        ax.set_yticks(range(n), ticks, fontsize=8 if n > 15 else 10)
        ax.set_xlabel("predicted label")
        ax.set_ylabel("true label")
        ax.set_title("Confusion matrix (colour: share of the true class)")
        if n <= 25:
            for i in range(n):
                for j in range(n):
                    if counts[i, j]:
                        ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                                fontsize=8 if n > 12 else 10,
                                color="white" if share[i, j] > 0.5 else "black")
        fig.colorbar(im, ax=ax, shrink=0.8, label="share of true class")
        return _png(fig)


def per_class_png(summary: dict) -> Optional[bytes]:
    """Horizontal bars: precision and recall per class (worst F1 first when cut)."""
    classes = list(summary.get("per_class") or [])
    if not classes:
        return None
    if len(classes) > MAX_BAR_CLASSES:
        classes = sorted(classes, key=lambda c: (c["f1"], c["label"]))[:MAX_BAR_CLASSES]
    with _mpl_rc():
        import numpy as np

        n = len(classes)
        fig = _figure(8.0, min(max(2.5, 0.32 * n + 1.4), 24.0))
        ax = fig.add_subplot()
        y = np.arange(n)
        h = 0.4
        ax.barh(y - h / 2, [c["precision"] for c in classes], h, label="precision",
                color="#1f77b4")
        ax.barh(y + h / 2, [c["recall"] for c in classes], h, label="recall", color="#ff7f0e")
        ax.set_yticks(y, [f"{_short(c['label'])} (n={c['support']})" for c in classes],
                      fontsize=8 if n > 20 else 10)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.0)
        ax.set_xlabel("score")
        ax.set_title("Precision and recall per class")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        return _png(fig)


class _mpl_rc:
    """matplotlib settings for every figure: no mathtext (labels may hold `$`)."""

    def __enter__(self):
        import matplotlib

        self._ctx = matplotlib.rc_context({"text.parse_math": False, "font.size": 10})
        return self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------
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
.lab.t{background:#e3f1e6}.lab.p{background:#fbe3e4}
table{border-collapse:collapse;font-size:13px}
td,th{border-bottom:1px solid #e6e9ef;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f1f3f7}
td.code{font-family:"DejaVu Sans Mono",monospace;overflow-wrap:anywhere;max-width:900px}
.note{color:#5a6478;font-size:13px}
footer{color:#8a93a6;font-size:12px;padding:0 28px 20px 28px}
"""


def _card(key: str, value: str, cls: str = "") -> str:
    return (f'<div class="card {cls}" data-figure="{_e(key)}"><div class="v">{_e(value)}</div>'
            f'<div class="k">{_e(key)}</div></div>')


def _headline(summary: dict) -> str:
    c = summary.get("counts") or {}
    k = summary.get("top_k")
    acc = summary.get("accuracy")
    macro = (summary.get("macro") or {}).get("f1")
    cards = [
        _card("listed", _fmt(c.get("listed"))),
        _card("scored", _fmt(c.get("scored"))),
        _card("failed", _fmt(c.get("failed")), "bad" if c.get("failed") else "good"),
        _card("accuracy", _pct(acc)),
        _card(f"top-{k} accuracy" if k else "top-k accuracy", _pct(summary.get("top_k_accuracy"))),
        _card("macro F1", _fmt(macro)),
    ]
    extra = []
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
        extra.append(f"macro precision {_fmt(macro_all.get('precision'))}, "
                     f"recall {_fmt(macro_all.get('recall'))}; weighted F1 "
                     f"{_fmt(weighted.get('f1'))}")
    unknown = summary.get("unknown_labels") or {}
    if unknown:
        shown = ", ".join(f"{_e(k)} ({_e(v)})" for k, v in list(unknown.items())[:20])
        extra.append(f"labels unknown to the model: {shown}")
    note = f'<p class="note">{"; ".join(extra)}.</p>' if extra else ""
    return (f'<section id="headline"><h2>Headline</h2><div class="cards">{"".join(cards)}'
            f"</div>{note}</section>")


def _figures(summary: dict) -> str:
    parts = []
    cm = confusion_png(summary)
    bars = per_class_png(summary)
    if cm is not None:
        parts.append(f'<img id="confusion-matrix" alt="confusion matrix heatmap" '
                     f'src="{_data_uri(cm)}">')
    if bars is not None:
        parts.append(f'<img id="per-class" alt="precision and recall per class" '
                     f'src="{_data_uri(bars)}">')
    notes = []
    _labels, _matrix, cut = _matrix_labels(summary)
    if cut:
        notes.append(f"The confusion matrix shows the {MAX_MATRIX_CLASSES} most frequent "
                     f"classes; confusion_matrix.csv has all of them.")
    elif _labels and len(_labels) < len((summary.get("confusion_matrix") or {}).get("labels")
                                        or []):
        notes.append("Classes of the model with no image and no prediction in this run are "
                     "left out of the matrix.")
    if len(summary.get("per_class") or []) > MAX_BAR_CLASSES:
        notes.append(f"The bars show the {MAX_BAR_CLASSES} classes with the lowest F1; "
                     f"per_class.csv has all of them.")
    if not parts:
        notes.append("No labelled images: there is no accuracy to draw.")
    note = f'<p class="note">{" ".join(notes)}</p>' if notes else ""
    return (f'<section id="figures"><h2>Accuracy by class</h2><div class="figs">'
            f'{"".join(parts)}</div>{note}</section>')


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
            topk = ", ".join(f"{_e(lab)} {float(s):.3f}" for lab, s in
                             zip(m.get("top_k_labels") or [], m.get("top_k_scores") or []))
            cells.append(
                f'<div class="item mistake" title="{_e(m["uri"])}">{_thumb(m)}'
                f'<div class="name">{_e(_basename(m["uri"]))}</div>'
                f'<div>true <span class="lab t">{_e(m.get("true_label"))}</span> '
                f'predicted <span class="lab p">{_e(m.get("predicted_label"))}</span></div>'
                f'<div>confidence {float(m.get("confidence") or 0.0):.4f}</div>'
                f'<div class="note">top-k: {topk}</div>'
                f'<div class="note">{_e(m["uri"])}</div></div>')
        body = f'<div class="grid">{"".join(cells)}</div>'
    count = (f" ({len(mistakes)} shown of {total})"
             if total is not None and total > len(mistakes) else "")
    return (f'<section id="mistakes"><h2>Most confident mistakes{_e(count)}</h2>{body}'
            f"</section>")


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
                f'<div>stage <b>{_e(f.get("stage"))}</b></div>'
                f'<div class="err">{_e(f.get("error"))}</div>'
                f'<div class="note">{_e(f["uri"])}</div></div>')
        body = f'<div class="grid">{"".join(cells)}</div>'
    count = (f" ({len(failures)} shown of {total}; all in errors.csv)"
             if isinstance(total, int) and total > len(failures) else "")
    return f'<section id="failures"><h2>Failed images{_e(count)}</h2>{body}</section>'


def _value_text(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def _parameters(summary: dict, parameters: dict) -> str:
    rows = [f"<tr><th>{_e(k)}</th><td class=\"code\">{_e(_value_text(v))}</td></tr>"
            for k, v in (parameters or {}).items()]
    model = summary.get("model") or {}
    for key in ("uri", "name", "version"):
        if model.get(key):
            rows.append(f"<tr><th>model {_e(key)}</th>"
                        f"<td class=\"code\">{_e(model[key])}</td></tr>")
    if model.get("labels"):
        rows.append(f"<tr><th>model labels</th><td class=\"code\">"
                    f"{_e(', '.join(map(str, model['labels'])))}</td></tr>")
    return (f'<section id="parameters"><h2>Parameters</h2><table>{"".join(rows)}</table>'
            f"</section>")


def render_report(summary: dict, mistakes: Iterable[dict], failures: Iterable[dict],
                  parameters: dict) -> str:
    """The whole report.html (UTF-8 text, self-contained, no script, no external links).

    summary: the summary.json document (transforms.sinks.build_summary). mistakes:
    prediction rows plus `thumbnail` (PNG/JPEG bytes or None). failures: `{uri, stage,
    error, thumbnail}`. parameters: the run's arguments (manifest.json "arguments", secrets
    already redacted) and anything else worth showing (code version, times).
    """
    mistakes, failures = list(mistakes or []), list(failures or [])
    run_id = summary.get("run_id") or (parameters or {}).get("run_id") or ""
    model = summary.get("model") or {}
    subtitle = " \u00b7 ".join(x for x in (
        f"model {model.get('name') or model.get('uri') or '?'} "
        f"(version {model.get('version') or '?'})",
        "generated " + dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")) if x)
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>bucketscore report {_e(run_id)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>bucketscore run {_e(run_id)}</h1><p>{_e(subtitle)}</p></header><main>",
        _headline(summary),
        _figures(summary),
        _mistakes(summary, mistakes),
        _failures(summary, failures),
        _parameters(summary, parameters or {}),
        "</main><footer>Written by bucketscore. Full results: predictions*.csv, errors.csv, "
        "summary.json, per_class.csv, confusion_matrix.csv beside this file.</footer>",
        "</body></html>\n",
    ])


def write_report(run_uri: str, summary: dict, items: Optional[dict], parameters: dict
                 ) -> Optional[str]:
    """Render and write `<run_uri>/report.html`; returns its URI, or None if that failed.

    Never raises: a report that cannot be drawn or written must not fail a run whose
    results are all there (the reason is logged as a warning).
    """
    from storage import uris

    items = items or {}
    target = uris.join(run_uri, REPORT_NAME)
    try:
        page = render_report(summary, items.get("mistakes") or [], items.get("failures") or [],
                             parameters)
        uris.write_text(target, page, "text/html")
    except Exception as e:  # noqa: BLE001 - the report is a view of results already written
        log.warning("could not write %s: %s: %s", target, type(e).__name__, e)
        return None
    return target
