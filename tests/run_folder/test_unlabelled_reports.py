"""Reports for unlabelled runs (and more for labelled ones): the predicted-class distribution,
the confidence histogram, the least confident images, the most confident ones per class,
the shift since the previous run with the same model, the run's duration; warnings when
the labels source looks wrong. Figures are checked against independent computations over
the written prediction rows, and the page in a real headless browser.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections import Counter

import numpy as np
import pytest

from bucketscore.cli.main import main
from bucketscore.run_folder.summary import label_warnings
from tests.support.browser import PROBE, _run_chromium, chromium
from tests.support.helpers import copy_demo_subset, parse_predictions_csv, write_file


def _rows(run: str) -> list[dict]:
    texts = [
        open(p, encoding="utf-8").read()
        for p in sorted(glob.glob(os.path.join(run, "predictions*.csv")))
    ]
    return parse_predictions_csv(texts)


@pytest.fixture(scope="module")
def two_runs(demo_bundle, tmp_path_factory):
    """Two unlabelled runs under one output: all classes, then mostly 1s and 7s."""
    root = tmp_path_factory.mktemp("unlabelled")
    first, second, out = root / "first", root / "second", root / "out"
    copy_demo_subset(demo_bundle.data, str(first), per_class=3)
    copy_demo_subset(demo_bundle.data, str(second), per_class=1)
    for digit in ("1", "7"):
        for name in sorted(os.listdir(os.path.join(demo_bundle.data, digit)))[1:9]:
            with open(os.path.join(demo_bundle.data, digit, name), "rb") as f:
                write_file(str(second / digit / name), f.read())
    for run_id, images in (("u1", first), ("u2", second)):
        assert (
            main(
                [
                    "score",
                    "--input",
                    str(images),
                    "--model",
                    demo_bundle.model,
                    "--output",
                    str(out),
                    "--run_id",
                    run_id,
                    "--labels",
                    "none",
                    "--no_progress",
                ]
            )
            == 0
        )
    return out


def test_unlabelled_summary_has_distribution_histogram_and_drift(two_runs, demo_bundle):
    labels = list(demo_bundle.meta.labels)
    summaries, shares = {}, {}
    for run_id in ("u1", "u2"):
        run = str(two_runs / run_id)
        summaries[run_id] = json.load(open(os.path.join(run, "summary.json")))
        rows = _rows(run)
        predicted = Counter(r["predicted_label"] for r in rows)
        assert summaries[run_id]["predicted_counts"] == {lab: predicted[lab] for lab in labels}
        expected, _edges = np.histogram([r["confidence"] for r in rows], bins=20, range=(0.0, 1.0))
        assert summaries[run_id]["confidence_histogram"]["counts"] == expected.tolist()
        shares[run_id] = {lab: predicted[lab] / len(rows) for lab in labels}
    assert "drift" not in summaries["u1"]
    drift = summaries["u2"]["drift"]
    assert drift["previous_run_id"] == "u1"
    tvd = 0.5 * sum(abs(shares["u2"][lab] - shares["u1"][lab]) for lab in labels)
    assert drift["total_variation"] == pytest.approx(tvd) and tvd > 0.2
    for lab in labels:
        assert drift["shares"][lab]["now"] == pytest.approx(shares["u2"][lab])
        assert drift["shares"][lab]["then"] == pytest.approx(shares["u1"][lab])
    assert summaries["u2"]["duration_seconds"] >= 0


def test_unlabelled_report_shows_predictions_in_chromium(two_runs, tmp_path):
    browser = chromium()
    page = open(two_runs / "u2" / "report.html", encoding="utf-8").read()
    for section in (
        "class-distribution",
        "confidence-histogram",
        'id="drift"',
        'id="least-confident"',
        'id="most-confident"',
    ):
        assert section in page, section
    assert 'id="mistakes"' not in page  # no labels: no mistakes section
    least = page.split('id="least-confident"', 1)[1].split("</section>", 1)[0]
    assert least.count('class="item least"') == 24
    best = page.split('id="most-confident"', 1)[1].split("</section>", 1)[0]
    assert best.count('<h3 class="class">') == 10
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = _run_chromium(
        browser, tmp_path, str(probe), "--enable-logging=stderr", "--v=0", "--dump-dom"
    )
    body = re.search(r"<body([^>]*)>", proc.stdout)
    attrs = dict(re.findall(r'data-(\w+)="(\d+)"', body.group(1)))
    # 2 figures + 24 least confident + up to 3 per class for 10 classes, all decoded
    assert int(attrs["images"]) >= 2 + 24 + 10 and attrs["decoded"] == attrs["images"], attrs
    assert attrs["errors"] == "0", attrs


def test_labelled_report_shows_the_duration(two_runs, demo_bundle, tmp_path):
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out"),
                "--run_id",
                "l",
                "--no_progress",
            ]
        )
        == 0
    )
    page = open(tmp_path / "out" / "l" / "report.html", encoding="utf-8").read()
    assert 'data-figure="duration"' in page and 'id="mistakes"' in page


def test_date_folders_taken_as_labels_are_warned_about(demo_bundle, tmp_path, capsys):
    images = tmp_path / "cams"
    rels = copy_demo_subset(demo_bundle.data, str(tmp_path / "src"), per_class=1)
    for i, rel in enumerate(rels):
        day = f"2026-11-{28 + i % 3}"
        write_file(
            str(images / day / rel.replace("/", "_")), open(tmp_path / "src" / rel, "rb").read()
        )
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out"),
                "--run_id",
                "d",
                "--no_progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    summary = json.load(open(tmp_path / "out" / "d" / "summary.json"))
    (warning,) = summary["warnings"]
    assert "2026-11-28" in warning and "--labels none" in warning
    assert f"warning: {warning}" in out
    assert "warning:" in open(tmp_path / "out" / "d" / "report.html").read()


def test_a_regex_that_matches_no_file_name_is_warned_about(demo_bundle, tmp_path, capsys):
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out"),
                "--run_id",
                "r",
                "--labels",
                r"regex:cat_(\d+)",
                "--no_progress",
            ]
        )
        == 0
    )
    summary = json.load(open(tmp_path / "out" / "r" / "summary.json"))
    (warning,) = summary["warnings"]
    assert "matched no file name" in warning and "'digit_" in warning
    assert "warning:" in capsys.readouterr().out


def test_no_warning_for_ordinary_labels():
    summary = {
        "counts": {"scored": 10, "labelled": 9, "unknown_label": 1},
        "unknown_labels": {"2026-11-30": 1},
        "examples": {"unlabelled": None},
    }
    assert label_warnings(summary, "folder") == []
    summary = {
        "counts": {"scored": 10, "labelled": 0, "unknown_label": 10},
        "unknown_labels": {"cat": 6, "dog": 4},
        "examples": {},
    }
    assert label_warnings(summary, "folder") == []  # unknown classes, not dates: no hint


def test_top_k_is_capped_at_the_number_of_labels(tmp_path, demo_bundle, capsys):
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out"),
                "--run_id",
                "k",
                "--top_k",
                "50",
                "--no_progress",
            ]
        )
        == 0
    )
    assert "top-10 accuracy" in capsys.readouterr().out
    summary = json.load(open(tmp_path / "out" / "k" / "summary.json"))
    assert summary["top_k"] == 10
    assert "top-10 accuracy" in open(tmp_path / "out" / "k" / "report.html").read()
