"""The commands people type: `bucketscore --help`, `make score`, `make download`."""

import json
import os
import subprocess
import sys

import pytest

from tests.support.helpers import REPO, copy_demo_subset

BIN = os.path.dirname(sys.executable)


def _run(cmd, **kw):
    return subprocess.run(cmd, cwd=REPO, text=True, capture_output=True, timeout=600, **kw)


def test_help_has_examples():
    top = _run([os.path.join(BIN, "bucketscore"), "--help"])
    assert top.returncode == 0 and "examples:" in top.stdout and "score" in top.stdout
    score = _run([os.path.join(BIN, "bucketscore"), "score", "--help"])
    assert score.returncode == 0
    for flag in (
        "--input",
        "--output",
        "--model",
        "--labels",
        "--top_k",
        "--min_confidence",
        "--run_id",
        "--embeddings",
        "--allow_empty",
        "--max_error_ratio",
        "examples:",
        "--s3_endpoint_url",
    ):
        assert flag in score.stdout
    assert _run([os.path.join(BIN, "bucketscore")]).returncode == 2


def test_every_subcommand_help_has_examples():
    from bucketscore.cli.main import _commands

    for name in _commands():
        done = _run([os.path.join(BIN, "bucketscore"), name, "--help"])
        assert done.returncode == 0 and "examples:" in done.stdout, name


def test_make_help_lists_every_target_with_one_line():
    import re

    with open(os.path.join(REPO, "Makefile")) as f:
        phony = re.search(r"^\.PHONY:(.*)$", f.read(), re.M).group(1).split()
    listed = _run(["make", "--no-print-directory", "help"]).stdout.splitlines()
    for target in phony:
        lines = [line for line in listed if line.split()[:2] == ["make", target]]
        assert len(lines) == 1 and len(lines[0].split()) > 2, target  # name and what it does


@pytest.mark.skipif(
    not os.path.exists(os.path.join(REPO, ".venv", "bin", "bucketscore")),
    reason="make targets need the repo's .venv (make setup)",
)
def test_make_score_demo_and_download(demo_bundle, tmp_path):
    out = tmp_path / "results"
    done = _run(
        [
            "make",
            "--no-print-directory",
            "score",
            f"DEMO_MODEL={demo_bundle.model}",
            f"DEMO_DATA={demo_bundle.data}",
            f"OUTPUT={out}",
            "ARGS=--run_id demo",
        ]
    )
    assert done.returncode == 0, done.stderr
    assert "scored: 450" in done.stdout and "failed: 0" in done.stdout
    assert f"results: {out}/demo/" in done.stdout
    summary = json.loads((out / "demo" / "summary.json").read_text())
    # The demo bucket is the test split: scoring it reproduces the accuracy in model.json.
    assert summary["accuracy"] == pytest.approx(demo_bundle.meta.metrics["test_accuracy"])
    assert (out / "demo" / "_SUCCESS").exists()

    dl = tmp_path / "dl"
    done = _run(
        ["make", "--no-print-directory", "download", f"RUN={out}/demo/", f"DOWNLOAD_DIR={dl}"]
    )
    assert done.returncode == 0, done.stderr
    assert {"summary.json", "errors.csv", "manifest.json"} <= set(os.listdir(dl / "demo"))


@pytest.mark.skipif(
    not os.path.exists(os.path.join(REPO, ".venv", "bin", "bucketscore")),
    reason="make targets need the repo's .venv (make setup)",
)
def test_make_score_bucket(demo_bundle, tmp_path):
    images = tmp_path / "bucket" / "2026-11"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    out = tmp_path / "out"
    done = _run(
        [
            "make",
            "--no-print-directory",
            "score",
            f"BUCKET={images}/",
            f"MODEL={demo_bundle.model}",
            f"OUTPUT={out}",
            "ARGS=--run_id b1 --top_k 2",
        ]
    )
    assert done.returncode == 0, done.stderr
    assert "scored: 10" in done.stdout
    assert json.loads((out / "b1" / "manifest.json").read_text())["arguments"]["top_k"] == 2


@pytest.mark.skipif(
    not os.path.exists(os.path.join(REPO, ".venv", "bin", "bucketscore")),
    reason="make targets need the repo's .venv (make setup)",
)
def test_make_template_says_what_it_needs_and_builds_with_score(tmp_path):
    """`make template` runs the command tests/end_to_end/test_template.py builds offline."""
    done = _run(["make", "--no-print-directory", "template"])
    assert done.returncode != 0 and "usage: make template TEMPLATE=gs://" in done.stderr
    dry = _run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "template",
            "TEMPLATE=gs://b/templates/t.json",
            "MODEL=gs://b/models/m",
            "ARGS=--project p --region r --temp_location gs://b/tmp",
        ]
    )
    assert dry.returncode == 0, dry.stderr
    command = dry.stdout.strip().splitlines()[-1]
    for part in (
        "bucketscore score --model gs://b/models/m",
        "--template_location gs://b/templates/t.json",
        "--runner DataflowRunner",
        "--setup_file ./setup.py",
        "--project p --region r --temp_location gs://b/tmp",
    ):
        assert part in command
    assert "template" in _run(["make", "--no-print-directory", "help"]).stdout
