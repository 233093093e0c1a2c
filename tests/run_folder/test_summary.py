"""The documents that describe a run (run_folder.summary): summary.json from the accuracy
figures and the counts, per_class.csv and confusion_matrix.csv read back with the csv module,
manifest.json, the warnings about a labels source that looks wrong, and the shift of the
predicted classes since the previous run; then the summaries of two real unlabelled runs of
the demo model, checked against numpy over their written rows.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
from collections import Counter

import numpy as np
import pytest

from bucketscore.run_folder.accuracy import summarise_rows
from bucketscore.run_folder.summary import (
    build_manifest,
    build_summary,
    class_shares,
    confusion_csv,
    drift,
    label_warnings,
    per_class_csv,
)
from tests.support.helpers import parse_predictions_csv
from tests.support.report_rows import LABELS, prediction_row, summary_of_matrix, unlabelled_runs

MODEL = {"uri": "s3://m/", "name": "toy", "version": "v1", "labels": LABELS}


def test_build_summary_merges_the_counts_and_the_figures():
    rows = [prediction_row(f"/{i}.png", "cat", "cat" if i else "dog", 0.9) for i in range(4)]
    rows.append(prediction_row("/u.png", None, "fox", 0.5))
    scores = summarise_rows(rows, LABELS)
    doc = build_summary(
        "r1", scores, listed=8, failed=3, model=MODEL, top_k=2, missing=1, carried=2
    )
    assert doc["run_id"] == "r1" and doc["model"] == MODEL and doc["top_k"] == 2
    assert doc["counts"] == {
        "listed": 8,
        "scored": 5,
        "failed": 3,
        "csv_rows_without_image": 1,
        "carried_over": 2,
        "labelled": 4,
        "unlabelled": 1,
        "unknown_label": 0,
        "below_threshold": 0,
        "correct": 3,
    }
    assert doc["accuracy"] == 0.75 and doc["error_ratio"] == 3 / 8
    assert doc["confusion_matrix"] == scores["confusion_matrix"]
    assert doc["per_class"] == scores["per_class"]
    assert build_summary("r", scores, 0, 0, model=MODEL, top_k=1)["error_ratio"] == 0.0
    doc["model"]["name"] = "changed"
    assert MODEL["name"] == "toy"  # the document holds a copy


def test_per_class_and_confusion_csv_hold_the_summary_figures():
    summary = summary_of_matrix(abstained=2)
    per_class = list(csv.DictReader(io.StringIO(per_class_csv(summary))))
    assert [r["label"] for r in per_class] == LABELS
    cat = per_class[0]
    # cat: 5 right, 1 as dog, 2 abstained (support 8); predicted cat 5 + 1 fox = 6.
    assert (cat["support"], cat["predicted"], cat["abstained"]) == ("8", "6", "2")
    assert float(cat["precision"]) == pytest.approx(5 / 6)
    assert float(cat["recall"]) == pytest.approx(5 / 8)
    assert float(cat["f1"]) == pytest.approx(2 * (5 / 6) * (5 / 8) / (5 / 6 + 5 / 8))
    lines = list(csv.reader(io.StringIO(confusion_csv(summary))))
    assert lines == [
        ["true \\ predicted", "cat", "dog", "fox"],
        ["cat", "5", "1", "0"],
        ["dog", "0", "4", "2"],
        ["fox", "1", "0", "6"],
    ]


def test_labels_with_commas_and_quotes_stay_one_cell():
    labels = ["a,b", 'say "hi"', "c"]
    summary = summary_of_matrix(labels=labels, matrix=[[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    lines = list(csv.reader(io.StringIO(confusion_csv(summary))))
    assert lines[0][1:] == labels and [line[0] for line in lines[1:]] == labels
    assert [r["label"] for r in csv.DictReader(io.StringIO(per_class_csv(summary)))] == labels


def test_build_manifest_records_the_file_names_and_the_extra_sections():
    manifest = build_manifest(
        run_id="r1",
        arguments={"input": ["s3://b/"], "s3_secret_access_key": "***"},
        model={"uri": "s3://m/", "version": "v1"},
        code_version="0.1.0",
        started_at="2026-12-01T10:00:00+00:00",
        finished_at="2026-12-01T10:05:00+00:00",
        counts={"listed": 3},
        files=["s3://o/r1/predictions-1.csv", "s3://o/r1/errors.csv", "/l/predictions-0.csv"],
        base_run=None,
        extra={"inference": {"device": "cpu"}},
    )
    assert manifest["files"] == ["errors.csv", "predictions-0.csv", "predictions-1.csv"]
    assert manifest["inference"] == {"device": "cpu"} and manifest["base_run"] is None
    assert manifest["arguments"]["s3_secret_access_key"] == "***"
    assert (manifest["started_at"], manifest["finished_at"]) == (
        "2026-12-01T10:00:00+00:00",
        "2026-12-01T10:05:00+00:00",
    )
    assert "status" not in manifest  # the finishing step decides it


@pytest.mark.parametrize(
    "folders",
    [["2026-11-28", "2026-11-29"], ["20261130"], ["dt=2026-11-30"], ["part-00001"], ["2026"]],
)
def test_date_or_partition_folders_taken_as_labels_are_warned_about(folders):
    summary = {
        "counts": {"scored": 10, "labelled": 1, "unknown_label": 9},
        "unknown_labels": {name: 9 // len(folders) for name in folders},
    }
    (warning,) = label_warnings(summary, "folder")
    assert folders[0] in warning and "--labels none" in warning
    # Only --labels folder reads folders: from a CSV, such labels say "wrong model?".
    (warning,) = label_warnings(summary, "csv:labels.csv")
    assert warning.startswith("9 of 10 labelled images have labels this model does not know")
    assert "--labels none" not in warning and "parent folder" not in warning
    summary["counts"].update(labelled=6, unknown_label=4)  # most images have a model label
    assert label_warnings(summary, "folder") == []


def test_a_regex_that_matched_no_file_name_is_warned_about():
    summary = {
        "counts": {"scored": 5, "labelled": 0, "unknown_label": 0},
        "examples": {"unlabelled": "s3://b/imgs/digit_7_001.png"},
    }
    (warning,) = label_warnings(summary, r"regex:cat_(\d+)")
    assert "--labels regex:cat_(\\d+) matched no file name" in warning
    assert "'digit_7_001.png'" in warning
    summary["counts"]["labelled"] = 1  # it matched one: no warning
    assert label_warnings(summary, r"regex:cat_(\d+)") == []
    assert label_warnings(dict(summary, counts={"scored": 0}), "regex:x") == []


def test_ordinary_labels_get_no_partition_hint():
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
        "model": {"labels": [str(d) for d in range(10)]},
    }
    # Unknown classes, not dates: no partition hint, but the model may be the wrong one.
    (warning,) = label_warnings(summary, "folder")
    assert warning == (
        "10 of 10 labelled images have labels this model does not know (e.g. cat, dog); its "
        "labels are 0, 1, 2, 3, 4, 5, 6, 7 ...: no accuracy could be computed. Is this the "
        "right model for these images? (--labels takes the parent folder name)"
    )
    del summary["model"]  # an older summary without the model's labels
    (warning,) = label_warnings(summary, "folder")
    assert "(e.g. cat, dog): no accuracy" in warning


def test_class_shares_and_drift_by_hand():
    now = {"run_id": "r2", "predicted_counts": {"cat": 1, "dog": 3, "fox": 0}, "counts": {}}
    then = {"run_id": "r1", "predicted_counts": {"cat": 2, "dog": 2}, "counts": {"scored": 5}}
    assert class_shares(now) == {"cat": 0.25, "dog": 0.75, "fox": 0.0}
    shift = drift(now, then, "s3://o/r1/")
    assert shift["previous_run"] == "s3://o/r1/" and shift["previous_run_id"] == "r1"
    assert shift["previous_scored"] == 5
    assert shift["shares"] == {
        "cat": {"then": 0.5, "now": 0.25},
        "dog": {"then": 0.5, "now": 0.75},
        "fox": {"then": 0.0, "now": 0.0},
    }
    assert shift["total_variation"] == pytest.approx(0.25)
    # A class only the previous run predicted is in the shares too.
    then["predicted_counts"] = {"owl": 4}
    shift = drift(now, then, "x")
    assert shift["shares"]["owl"] == {"then": 1.0, "now": 0.0}
    assert shift["total_variation"] == pytest.approx(1.0)  # nothing in common
    assert drift(now, {"predicted_counts": {"cat": 0}}, "x") is None
    assert drift({"predicted_counts": {}}, then, "x") is None
    assert class_shares({}) == {}


@pytest.fixture(scope="module")
def two_runs(demo_bundle, tmp_path_factory):
    """Two unlabelled runs under one output: all classes, then mostly 1s and 7s."""
    return unlabelled_runs(demo_bundle, tmp_path_factory)


def _rows(run: str) -> list[dict]:
    texts = [
        open(p, encoding="utf-8").read()
        for p in sorted(glob.glob(os.path.join(run, "predictions*.csv")))
    ]
    return parse_predictions_csv(texts)


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
