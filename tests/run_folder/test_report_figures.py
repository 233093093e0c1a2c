"""The report's figures (run_folder.report_figures): which classes the confusion matrix and
the bars show (all present ones, cut to the most frequent / the worst F1 beyond the limits),
figure sizes worked out from the module's sizing rules, the colours that show each figure was
drawn, and no figure where there is nothing to draw.
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np
from PIL import Image

from bucketscore.run_folder import report_figures
from bucketscore.run_folder.report_figures import (
    MAX_BAR_CLASSES,
    MAX_MATRIX_CLASSES,
    confidence_png,
    confusion_png,
    distribution_png,
    matrix_labels,
    per_class_png,
)
from bucketscore.run_folder.report_page import render_report
from bucketscore.run_folder.summary import drift
from tests.support.report_rows import LABELS, png_size, summary_of_matrix


def _img_srcs(page: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]*)"', page)


def _share_near(png: bytes, rgb, tolerance=12) -> float:
    """The share of the figure's pixels within `tolerance` of the colour `rgb`."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int).reshape(-1, 3)
    return float((np.abs(pixels - np.array(rgb)).max(axis=1) <= tolerance).mean())


def test_many_classes_are_cut_to_readable_figures():
    labels = [f"class_{i:03d}" for i in range(120)]
    matrix = [[0] * 120 for _ in range(120)]
    for i in range(120):
        matrix[i][i] = 1 + i % 7
        matrix[i][(i + 1) % 120] = i % 3
    summary = summary_of_matrix(labels=labels, matrix=matrix)
    page = render_report(summary, [], [], {})
    assert "shows the 40 most frequent classes" in page
    assert "the 60 classes with the lowest F1" in page
    assert "the 60 most predicted classes of 120" in page
    srcs = _img_srcs(page)
    # matrix, per-class bars, coverage/accuracy, reliability, class distribution, confidence
    assert len(srcs) == 6
    for src in srcs:
        w, h = png_size(base64.b64decode(src.split(",", 1)[1]))
        assert w <= 2000 and h <= 2500


def test_absent_classes_are_left_out_of_the_matrix():
    labels = [str(i) for i in range(10)]
    matrix = [[0] * 10 for _ in range(10)]
    matrix[3][3], matrix[8][8], matrix[8][1] = 5, 4, 1
    page = render_report(summary_of_matrix(labels=labels, matrix=matrix), [], [], {})
    assert "left out of the matrix" in page
    full = [[1 if i == j else 0 for j in range(10)] for i in range(10)]
    assert "left out of the matrix" not in render_report(
        summary_of_matrix(labels=labels, matrix=full), [], [], {}
    )


def test_matrix_labels_keep_the_classes_present_in_label_order():
    labels = ["a", "b", "c", "d"]
    matrix = [[2, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 3]]
    summary = {"confusion_matrix": {"labels": labels, "matrix": matrix}}
    # b and c: no image and no prediction; a and d keep their order and their cells.
    assert matrix_labels(summary) == (["a", "d"], [[2, 1], [0, 3]], False)
    matrix[1][2] = 1  # one b predicted as c: both are present now
    assert matrix_labels(summary) == (labels, matrix, False)
    assert matrix_labels({}) == ([], [], False)


def test_matrix_labels_cut_to_the_most_frequent_classes():
    n = MAX_MATRIX_CLASSES + 5
    labels = [f"c{i:02d}" for i in range(n)]
    matrix = [[0] * n for _ in range(n)]
    for i in range(n):
        matrix[i][i] = 100 + i  # the later the label, the more images
    matrix[0][1] = 1000  # c00 and c01: many images and predictions
    shown, cut_matrix, cut = matrix_labels(
        {"confusion_matrix": {"labels": labels, "matrix": matrix}}
    )
    assert cut is True
    assert shown == ["c00", "c01"] + labels[-(MAX_MATRIX_CLASSES - 2) :]
    assert cut_matrix[0][:2] == [100, 1000] and cut_matrix[-1][-1] == 100 + n - 1


def test_figure_sizes_follow_the_number_of_classes():
    small = summary_of_matrix()  # 3 classes
    assert png_size(confusion_png(small)) == (520, 400)  # side 4 in + 1.2 in, 100 dpi
    assert png_size(per_class_png(small)) == (800, 250)
    assert png_size(distribution_png(small)) == (800, 250)
    assert png_size(confidence_png(small)) == (800, 320)
    labels = [f"class_{i:03d}" for i in range(20)]
    matrix = [[1 if i == j else 0 for j in range(20)] for i in range(20)]
    mid = summary_of_matrix(labels=labels, matrix=matrix)
    assert png_size(confusion_png(mid)) == (1220, 1100)  # side 0.45 * 20 + 2 = 11 in
    assert png_size(per_class_png(mid)) == (800, 780)  # 0.32 * 20 + 1.4 = 7.8 in


def test_each_figure_is_drawn_in_its_colours():
    summary = summary_of_matrix(matrix=[[9, 0, 0], [0, 9, 0], [0, 0, 9]])
    assert _share_near(confusion_png(summary), (8, 48, 107)) > 0.02  # dark blue diagonal
    bars = per_class_png(summary)
    assert _share_near(bars, (31, 119, 180)) > 0.02  # precision, blue
    assert _share_near(bars, (255, 127, 14)) > 0.02  # recall, orange
    assert _share_near(distribution_png(summary), (0x2A, 0x9D, 0x8F)) > 0.02
    assert _share_near(distribution_png(summary), (0xE7, 0x6F, 0x51)) == 0  # no previous run
    summary["drift"] = drift(summary, summary_of_matrix(), "s3://out/before/")
    assert _share_near(distribution_png(summary), (0xE7, 0x6F, 0x51)) > 0.0005  # its markers
    assert _share_near(confidence_png(summary), (0x45, 0x7B, 0x9D)) > 0.005


def test_nothing_to_draw_is_no_figure():
    empty = {"confusion_matrix": {"labels": LABELS, "matrix": [[0] * 3 for _ in range(3)]}}
    assert confusion_png(empty) is None and confusion_png({}) is None
    assert per_class_png({"per_class": []}) is None
    assert distribution_png({"predicted_counts": {"cat": 0, "dog": 0}}) is None
    assert (
        confidence_png({"confidence_histogram": {"counts": [0, 0], "edges": [0, 0.5, 1]}}) is None
    )
    # Edges that do not bound the counts are not drawn either.
    assert confidence_png({"confidence_histogram": {"counts": [1, 2], "edges": [0, 1]}}) is None


def test_the_bars_show_the_classes_with_the_lowest_f1_when_cut():
    n = MAX_BAR_CLASSES + 1
    per_class = [
        {"label": f"c{i}", "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
        for i in range(n)
    ]
    per_class[7]["f1"], per_class[7]["precision"] = 0.1, 0.05
    # Only the number of bars shows in the figure: its height is that of MAX_BAR_CLASSES.
    height = int(100 * min(max(2.5, 0.32 * MAX_BAR_CLASSES + 1.4), 24.0))
    drawn = per_class_png({"per_class": per_class})
    assert png_size(drawn) == (800, height)
    # The worst F1 first (c7), then ties by label; the last label in that order (c9) is cut.
    by_label = {c["label"]: c for c in per_class}
    rest = sorted(label for label in by_label if label not in ("c7", "c9"))
    expected = [by_label["c7"]] + [by_label[label] for label in rest]
    assert drawn == per_class_png({"per_class": expected})
    assert drawn != per_class_png({"per_class": expected[:-1] + [by_label["c9"]]})


def test_figures_use_no_mathtext():
    """A label with `$...$` would be parsed as TeX by matplotlib (and may fail to draw)."""
    labels = ["$x$_{y}", "$\\frac{1}{0}$", "ok"]
    summary = summary_of_matrix(labels=labels)
    for figure in (confusion_png, per_class_png, distribution_png):
        assert png_size(figure(summary))[0] > 0
    assert report_figures._short("x" * 30) == "x" * 23 + "\u2026"  # noqa: SLF001 - the cut rule


def test_warm_up_loads_the_plotting_library_and_draws():
    import sys

    from bucketscore.run_folder.report_figures import warm_up

    warm_up()  # what the in-process executor runs in a thread while it scores
    assert "matplotlib.backends.backend_agg" in sys.modules
