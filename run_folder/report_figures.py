"""The report's figures: confusion-matrix heatmap and per-class precision/recall bars.

matplotlib's Agg canvas, no pyplot (no global state, safe in worker threads), PNG bytes out.
Figures stay readable up to MAX_MATRIX_CLASSES / MAX_BAR_CLASSES classes; beyond that they
show the classes that matter most (the most frequent for the matrix, the worst F1 for the
bars) and report_page says so.
"""

from __future__ import annotations

import io
from typing import Optional

MAX_MATRIX_CLASSES = 40
MAX_BAR_CLASSES = 60


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def warm_up() -> None:
    """Import matplotlib and draw one tiny figure (fonts loaded): ~0.45 s on this project's
    machine that a run can spend while it scores (in a thread: the in-process executor,
    pipelines/inline_run.py) instead of after it."""
    fig = _figure(1.0, 1.0)
    fig.add_subplot().set_title("0")
    _png(fig)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _short(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def matrix_labels(summary: dict) -> tuple[list[str], list[list[int]], bool]:
    """The labels and matrix to draw: the classes present in the run (an image or a
    prediction), at most MAX_MATRIX_CLASSES of them (the most frequent); True when cut."""
    cm = summary.get("confusion_matrix") or {}
    labels, matrix = list(cm.get("labels") or []), cm.get("matrix") or []
    weight = [sum(matrix[i]) + sum(row[i] for row in matrix) for i in range(len(labels))]
    present = [i for i in range(len(labels)) if weight[i]]
    cut = len(present) > MAX_MATRIX_CLASSES
    if cut:
        present = sorted(sorted(present, key=lambda i: -weight[i])[:MAX_MATRIX_CLASSES])
    return ([labels[i] for i in present], [[matrix[i][j] for j in present] for i in present], cut)


def confusion_png(summary: dict) -> Optional[bytes]:
    """Heatmap of the confusion matrix (colour: share of the true class; text: counts)."""
    labels, matrix, _cut = matrix_labels(summary)
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
                        ax.text(
                            j,
                            i,
                            f"{int(counts[i, j])}",
                            ha="center",
                            va="center",
                            fontsize=8 if n > 12 else 10,
                            color="white" if share[i, j] > 0.5 else "black",
                        )
        fig.colorbar(im, ax=ax, shrink=0.8, label="share of true class")
        return _png(fig)


def score_axis(values) -> tuple[float, float]:
    """The x range of precision/recall bars: from 0, unless every value is high, then from a
    round number a little below the lowest (0.93 against 1.0 must be visible), always to 1."""
    low = min(values, default=0.0)
    if low < 0.5:
        return 0.0, 1.0
    start = max(0.0, int((low - 0.02) * 20) / 20)  # a multiple of 0.05 at least 0.02 below
    return start, 1.0


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
        ax.barh(y - h / 2, [c["precision"] for c in classes], h, label="precision", color="#1f77b4")
        ax.barh(y + h / 2, [c["recall"] for c in classes], h, label="recall", color="#ff7f0e")
        ax.set_yticks(
            y,
            [f"{_short(c['label'])} (n={c['support']})" for c in classes],
            fontsize=8 if n > 20 else 10,
        )
        ax.invert_yaxis()
        start, end = score_axis([c[m] for c in classes for m in ("precision", "recall")])
        ax.set_xlim(start, end)
        ax.set_xlabel(f"score (axis from {start:.2f})" if start else "score")
        ax.set_title("Precision and recall per class")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        return _png(fig)


def distribution_png(summary: dict) -> Optional[bytes]:
    """Horizontal bars: how many images the model put in each class (every scored image,
    labelled or not), the most frequent MAX_BAR_CLASSES when there are more; with the
    previous run's shares as markers when summary.json has a drift section."""
    counts = {k: v for k, v in (summary.get("predicted_counts") or {}).items() if v}
    if not counts:
        return None
    classes = sorted(counts, key=lambda k: (-counts[k], k))[:MAX_BAR_CLASSES]
    total = sum(counts.values())
    then = {k: v["then"] for k, v in ((summary.get("drift") or {}).get("shares") or {}).items()}
    with _mpl_rc():
        import numpy as np

        n = len(classes)
        fig = _figure(8.0, min(max(2.5, 0.3 * n + 1.4), 24.0))
        ax = fig.add_subplot()
        y = np.arange(n)
        ax.barh(y, [counts[c] / total for c in classes], 0.6, color="#2a9d8f", label="this run")
        if then:
            ax.scatter(
                [then.get(c, 0.0) for c in classes],
                y,
                marker="|",
                s=180,
                color="#e76f51",
                label="previous run",
                zorder=3,
            )
            ax.legend(loc="lower right", fontsize=8, frameon=False)
        ax.set_yticks(
            y, [f"{_short(c)} ({counts[c]})" for c in classes], fontsize=8 if n > 20 else 10
        )
        ax.invert_yaxis()
        ax.set_xlabel("share of the predictions")
        ax.set_title("Predicted classes")
        ax.grid(axis="x", alpha=0.3)
        return _png(fig)


def confidence_png(summary: dict) -> Optional[bytes]:
    """Histogram of the top-1 probability of every scored image."""
    hist = summary.get("confidence_histogram") or {}
    counts, edges = hist.get("counts") or [], hist.get("edges") or []
    if not counts or not sum(counts) or len(edges) != len(counts) + 1:
        return None
    with _mpl_rc():
        fig = _figure(8.0, 3.2)
        ax = fig.add_subplot()
        ax.bar(
            edges[:-1],
            counts,
            width=[b - a for a, b in zip(edges, edges[1:])],
            align="edge",
            color="#457b9d",
            edgecolor="white",
        )
        ax.set_xlim(0, 1.0)
        ax.set_xlabel("confidence (top-1 probability)")
        ax.set_ylabel("images")
        ax.set_title("How sure the model was")
        ax.grid(axis="y", alpha=0.3)
        return _png(fig)


def coverage_png(summary: dict) -> Optional[bytes]:
    """Coverage (share of labelled images kept) and accuracy of the kept ones, against the
    confidence threshold (summary.json threshold_evidence.curve)."""
    points = [
        p
        for p in (summary.get("threshold_evidence") or {}).get("curve") or []
        if p.get("accuracy") is not None
    ]
    if not points:
        return None
    target = (summary.get("target_accuracy") or {}).get("threshold")
    with _mpl_rc():
        fig = _figure(8.0, 3.4)
        ax = fig.add_subplot()
        x = [p["threshold"] for p in points]
        ax.step(x, [p["coverage"] for p in points], where="post", label="coverage (kept)")
        ax.step(x, [p["accuracy"] for p in points], where="post", label="accuracy of kept")
        if target is not None:
            ax.axvline(target, color="#e63946", linestyle="--", label=f"threshold {target:g}")
        ax.set_xlim(0, 1.0)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("confidence threshold (keep images with top-1 probability >= t)")
        ax.set_ylabel("share")
        ax.set_title("What each threshold keeps, and how accurate the kept images are")
        ax.legend(loc="lower left")
        ax.grid(alpha=0.3)
        return _png(fig)


def reliability_png(summary: dict) -> Optional[bytes]:
    """Reliability diagram: accuracy against mean confidence per equal-width bin
    (summary.json calibration.bins), with the diagonal of a calibrated model."""
    bins = [b for b in (summary.get("calibration") or {}).get("bins") or [] if b.get("images")]
    if not bins:
        return None
    with _mpl_rc():
        fig = _figure(4.6, 4.2)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color="#888888", linestyle=":", label="calibrated")
        ax.bar(
            [b["low"] for b in bins],
            [b["accuracy"] for b in bins],
            width=[b["high"] - b["low"] for b in bins],
            align="edge",
            color="#457b9d",
            edgecolor="white",
            label="accuracy",
        )
        ax.plot(
            [b["confidence"] for b in bins],
            [b["accuracy"] for b in bins],
            "o",
            color="#e63946",
            label="mean confidence",
        )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ece = (summary.get("calibration") or {}).get("ece")
        ax.set_title("Reliability" + (f" (ECE {ece:.3f})" if ece is not None else ""))
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
        return _png(fig)


class _mpl_rc:
    """matplotlib settings for every figure: no mathtext (labels may hold `$`)."""

    def __enter__(self):
        import matplotlib

        self._ctx = matplotlib.rc_context({"text.parse_math": False, "font.size": 10})
        return self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
