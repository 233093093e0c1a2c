"""Tables and plots written into a bundle by training: curves, per-class report, tuning trials.

Plots use matplotlib's Agg canvas directly (no display, no global backend switch), so they
work on servers and workers.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Iterable, Optional, Sequence

import numpy as np

from bucketscore.run_folder.accuracy import class_metrics

CURVE_FIELDS = [
    "epoch",
    "phase",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "learning_rate",
    "seconds",
]


def to_csv(rows: Iterable[dict], fields: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in fields})
    return buf.getvalue()


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def _figure(nrows: int, ncols: int, size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)[0]
    return fig, axes


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def curves_png(rows: list[dict], title: str) -> bytes:
    """Loss and accuracy per epoch, train and validation; a line where fine-tuning starts."""
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_acc) = _figure(1, 2, (10, 4))
    epochs = [r["epoch"] for r in rows]
    for ax, key, name in ((ax_loss, "loss", "loss"), (ax_acc, "accuracy", "accuracy")):
        ax.plot(epochs, [r.get(key) for r in rows], marker="o", ms=3, label=f"train {name}")
        ax.plot(
            epochs,
            [r.get(f"val_{key}") for r in rows],
            marker="o",
            ms=3,
            label=f"validation {name}",
        )
        starts = [
            r["epoch"]
            for i, r in enumerate(rows)
            if i and r.get("phase") != rows[i - 1].get("phase")
        ]
        for x in starts:
            ax.axvline(x - 0.5, color="grey", ls="--", lw=1)
            ax.text(x - 0.4, ax.get_ylim()[1], " fine-tune", va="top", fontsize=8, color="grey")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _png(fig)


def per_class_rows(labels: Sequence[str], y_true: np.ndarray, y_pred: np.ndarray) -> list[dict]:
    """precision, recall, f1, support per label (label indices in, the same formula as a
    run's summary: run_folder.accuracy)."""
    pairs = [(labels[int(t)], labels[int(p)]) for t, p in zip(y_true, y_pred)]
    figures = class_metrics(pairs, labels)
    return [
        {
            "label": lab,
            "precision": figures[lab]["precision"],
            "recall": figures[lab]["recall"],
            "f1": figures[lab]["f1"],
            "support": figures[lab]["support"],
        }
        for lab in labels
    ]


def confusion_matrix(n: int, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """[n, n] counts: rows true label index, columns predicted."""
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def confusion_csv(labels: Sequence[str], y_true: np.ndarray, y_pred: np.ndarray) -> str:
    cm = confusion_matrix(len(labels), y_true, y_pred)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["true \\ predicted", *labels])
    for lab, row in zip(labels, cm.tolist()):
        writer.writerow([lab, *row])
    return buf.getvalue()


def trials_png(rows: list[dict], objective: str, log_x: Optional[str] = None) -> bytes:
    """Objective per trial (bars, best highlighted) and against one hyperparameter."""
    from matplotlib.ticker import NullFormatter

    fig, (ax_bar, ax_sc) = _figure(1, 2, (11, 4))
    scores = [r.get(objective) for r in rows]
    valid = [s for s in scores if s is not None and not math.isnan(s)]
    best = max(valid) if valid else None
    xs = list(range(1, len(rows) + 1))
    colors = ["tab:orange" if s is not None and s == best else "tab:blue" for s in scores]
    ax_bar.bar(xs, [s if s is not None else 0 for s in scores], color=colors)
    ax_bar.set_xlabel("trial")
    ax_bar.set_ylabel(objective)
    ax_bar.set_xticks(xs)
    ax_bar.set_title(f"{objective} per trial (best in orange)")
    ax_bar.grid(alpha=0.3, axis="y")
    if log_x and any(r.get(log_x) is not None for r in rows):
        pts = [
            (r[log_x], r.get(objective))
            for r in rows
            if r.get(log_x) is not None and r.get(objective) is not None
        ]
        ax_sc.scatter([p[0] for p in pts], [p[1] for p in pts])
        ax_sc.set_xscale("log")
        ax_sc.xaxis.set_minor_formatter(NullFormatter())
        ax_sc.set_xlabel(log_x)
        ax_sc.set_ylabel(objective)
        ax_sc.set_title(f"{objective} against {log_x}")
        ax_sc.grid(alpha=0.3)
    else:
        ax_sc.axis("off")
    return _png(fig)
