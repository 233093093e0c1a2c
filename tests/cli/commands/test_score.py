"""cli.commands.score: the headline printed after a run (its figures and where the rest is),
the command's own flags (--plan, --no_progress), and a failing run: one cause line, no
_SUCCESS, the log's path."""

from __future__ import annotations

import argparse
import os

import pytest

from bucketscore.cli.commands import score
from bucketscore.cli.main import main
from tests.support.helpers import copy_demo_subset, write_file

RUN = "s3://r/out/20261201T000000Z-abc123/"


def summary(**changes) -> dict:
    doc = {
        "counts": {"listed": 120, "scored": 117, "failed": 3, "labelled": 100},
        "accuracy": 0.91234,
        "top_k": 3,
        "top_k_accuracy": 0.98,
    }
    doc.update(changes)
    return doc


def test_headline_of_a_labelled_run_with_failures():
    assert score.headline(summary(), RUN) == (
        "images listed: 120  scored: 117  failed: 3\n"
        "accuracy: 0.9123  (over 100 labelled images; top-3 accuracy: 0.9800)\n"
        f"results: {RUN}\n"
        f"report:  {RUN}report.html\n"
        f"errors:  {RUN}errors.csv"
    )


def test_headline_of_an_unlabelled_run_without_failures():
    text = score.headline(
        summary(
            counts={"listed": 5, "scored": 5, "failed": 0},
            accuracy=None,
            top_k_accuracy=None,
            top_k=5,
        ),
        "results/r1",
    )
    assert text == (
        "images listed: 5  scored: 5  failed: 0\n"
        "accuracy: n/a (no labelled images)  (over 0 labelled images; top-5 accuracy: n/a)\n"
        "results: results/r1\n"
        "report:  results/r1/report.html"
    )


def test_headline_adds_drift_and_warnings():
    text = score.headline(
        summary(
            drift={"total_variation": 0.123456, "previous_run": "s3://r/out/a/"},
            warnings=["3 true labels are not model labels", "no images of class 7"],
        ),
        RUN,
    )
    lines = text.splitlines()
    assert (
        lines[-3]
        == "drift:   total variation 0.1235 of the predicted classes since run s3://r/out/a/"
    )
    assert lines[-2:] == [
        "warning: 3 true labels are not model labels",
        "warning: no images of class 7",
    ]
    with_id = score.headline(
        summary(drift={"total_variation": 0.5, "previous_run": "x", "previous_run_id": "day1"}),
        RUN,
    )
    assert with_id.splitlines()[-1].endswith("since run day1")


def test_plan_and_no_progress_are_flags_of_score():
    parser = argparse.ArgumentParser()
    score.add_arguments(parser)
    base = ["--input", "i", "--model", "m", "--output", "o"]
    args = parser.parse_args(base)
    assert args.plan is False and args.no_progress is False
    args = parser.parse_args(base + ["--plan", "--no_progress"])
    assert args.plan is True and args.no_progress is True
    text = " ".join(parser.format_help().split())
    assert "--plan print what the run would do" in text
    assert "--no_progress do not print progress" in text


@pytest.mark.parametrize("executor", ["inline", "beam"])
def test_a_failing_run_prints_the_cause_and_no_success(
    demo_bundle, tmp_path, capsys, monkeypatch, executor
):
    monkeypatch.setenv("BUCKETSCORE_CACHE_DIR", str(tmp_path / "cache"))
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)  # 10 good images
    for i in range(5):
        write_file(str(images / "3" / f"bad{i}.png"), b"not a png")  # 5 of 15 cannot be read
    out = tmp_path / "out"
    status = main(
        [
            "score",
            "--input",
            str(images),
            "--model",
            demo_bundle.model,
            "--output",
            str(out),
            "--run_id",
            "r",
            "--max_error_ratio",
            "0.1",
            "--executor",
            executor,
        ]
    )
    assert status == 1
    err = capsys.readouterr().err.splitlines()
    log = tmp_path / "cache" / "logs" / "r.log"
    step = " [while running 'FinishRun']" if executor == "beam" else ""  # Beam names its step
    assert err == [
        "bucketscore score: the run failed: 5 of 15 images failed (33.3% > --max_error_ratio "
        f"0.1); see {out}/r/errors.csv{step}",
        f"bucketscore score: no _SUCCESS was written under {out}/r/",
        f"bucketscore score: details: {log}",
    ]
    assert "_SUCCESS" not in os.listdir(out / "r")
    assert log.exists()  # what Beam and the workers said (in a terminal: the traceback)
