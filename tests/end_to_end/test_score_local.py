"""End to end through the CLI on local folders, checked against independent expectations."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest

from bucketscore.cli.main import main
from tests.support.helpers import (
    check_summary_against_sklearn,
    copy_demo_subset,
    direct_probabilities,
    image_bytes,
    read_local_run,
    read_parquet_rows,
    write_file,
)

RESULT_FILES = {
    "errors.csv",
    "summary.json",
    "per_class.csv",
    "confusion_matrix.csv",
    "manifest.json",
    "_SUCCESS",
    "report.html",
}


@pytest.fixture(scope="module")
def bucket(demo_bundle, tmp_path_factory):
    """A folder of demo digits (5 per class) plus a few files that cannot be decoded."""
    root = tmp_path_factory.mktemp("bucket")
    images = str(root / "images")
    copy_demo_subset(demo_bundle.data, images, per_class=5)
    write_file(os.path.join(images, "7", "empty.png"), b"")
    write_file(os.path.join(images, "7", "random.JPG"), os.urandom(3000))
    write_file(os.path.join(images, "3", "notes.txt"), b"not an image, not listed")
    good = image_bytes(np.zeros((4, 4), np.uint8), "JPEG")
    write_file(os.path.join(images, "3", "truncated.jpeg"), good[: len(good) // 2])
    return images


def _run(args, capsys=None) -> int:
    return main(["score", *args])


def test_demo_folder_end_to_end(demo_bundle, bucket, tmp_path, capsys):
    out = str(tmp_path / "results")
    status = main(
        [
            "score",
            "--input",
            bucket,
            "--model",
            demo_bundle.model,
            "--output",
            out,
            "--run_id",
            "r1",
            "--top_k",
            "3",
            "--max_error_ratio",
            "0.5",
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0
    run = read_local_run(os.path.join(out, "r1"))
    assert RESULT_FILES <= set(run["files"])
    assert any(f.endswith(".parquet") for f in run["files"])

    # Every listed image once: 50 digits scored, 3 broken files as errors, .txt not listed.
    rows, errors, summary = run["predictions"], run["errors"], run["summary"]
    assert len(rows) == 50 and len({r["uri"] for r in rows}) == 50
    assert sorted(os.path.basename(e["uri"]) for e in errors) == [
        "empty.png",
        "random.JPG",
        "truncated.jpeg",
    ]
    assert {e["stage"] for e in errors} == {"decode"}
    assert all(e["error"] for e in errors)
    truncated = next(e for e in errors if e["uri"].endswith("truncated.jpeg"))
    assert "truncated" in truncated["error"].lower()
    c = summary["counts"]
    assert (c["listed"], c["scored"], c["failed"]) == (53, 50, 3)
    assert c["listed"] == c["scored"] + c["failed"]

    # Predictions equal a direct call of the SavedModel on the same pixels.
    files = {}
    for r in rows:
        with open(r["uri"], "rb") as f:
            files[r["uri"]] = f.read()
    expected = direct_probabilities(demo_bundle.model, files)
    labels = list(demo_bundle.meta.labels)
    for r in rows:
        p = expected[r["uri"]]
        order = np.argsort(-p, kind="stable")[:3]
        assert r["top_k_labels"] == [labels[i] for i in order]
        np.testing.assert_allclose(r["top_k_scores"], p[order], rtol=1e-5, atol=1e-7)
        assert r["predicted_label"] == labels[order[0]]
        assert r["true_label"] == os.path.basename(os.path.dirname(r["uri"]))
        assert r["correct"] == (r["true_label"] == r["predicted_label"])
        assert (r["width"], r["height"]) == (32, 32)
        assert r["model_version"] == demo_bundle.meta.version and r["run_id"] == "r1"
        assert r["below_threshold"] is False

    # The summary equals scikit-learn over the written rows.
    check_summary_against_sklearn(summary, rows, labels)
    assert summary["accuracy"] >= 0.9
    assert summary["model"]["version"] == demo_bundle.meta.version

    # Parquet holds the same rows as the CSV, with list columns.
    pq_rows = read_parquet_rows(glob.glob(os.path.join(out, "r1", "predictions*.parquet")))
    assert sorted(r["uri"] for r in pq_rows) == sorted(r["uri"] for r in rows)
    by_uri = {r["uri"]: r for r in rows}
    for r in pq_rows:
        assert r["top_k_labels"] == by_uri[r["uri"]]["top_k_labels"]
        assert r["predicted_label"] == by_uri[r["uri"]]["predicted_label"]

    # The tables for spreadsheets match the summary; the manifest says what ran.
    with open(os.path.join(out, "r1", "confusion_matrix.csv")) as f:
        lines = f.read().strip().splitlines()
    assert len(lines) == 11
    assert [int(x) for x in lines[1].split(",")[1:]] == summary["confusion_matrix"]["matrix"][0]
    manifest = run["manifest"]
    assert manifest["model"]["version"] == demo_bundle.meta.version
    assert manifest["counts"] == summary["counts"]
    assert manifest["arguments"]["top_k"] == 3 and manifest["status"] == "complete"
    # the listing is fanned out by default, on one machine too (pipelines/workers.py)
    assert manifest["arguments"]["listing_rounds"] == 3
    assert "scored: 50" in printed and "failed: 3" in printed and "accuracy:" in printed
    # The demo bundle has model.onnx: ONNX Runtime, chosen automatically and said so; on
    # this machine the run goes in process, without Beam, each table one file
    # (pipelines/executor.py).
    assert "inference: ONNX Runtime (model.onnx) on CPU, batches of 4" in printed
    assert "in this process (no Beam)" in printed
    inference = manifest["inference"]
    assert (inference["backend"], inference["device"], inference["batch_size"]) == (
        "onnx",
        "cpu",
        4,
    )
    assert inference["executor"] == "inline" and inference["workers"] == 1
    for table in ("predictions", "objects"):
        assert len(glob.glob(os.path.join(out, "r1", f"{table}-*.parquet"))) == 1
    assert len(glob.glob(os.path.join(out, "r1", "predictions-*.csv"))) == 1


@pytest.mark.parametrize(
    "flags",
    [
        ["--backend", "tf", "--device", "cpu"],
        ["--backend", "onnx", "--batch_size", "7", "--direct_num_workers", "1"],
    ],
    ids=["tf", "onnx-1-worker"],
)
def test_each_backend_scores_like_the_saved_model(demo_bundle, tmp_path, capsys, flags):
    images = str(tmp_path / "imgs")
    copy_demo_subset(demo_bundle.data, images, per_class=3)
    out = str(tmp_path / "out")
    assert (
        _run(
            ["--input", images, "--model", demo_bundle.model, "--output", out, "--run_id", "be"]
            + flags
        )
        == 0
    )
    printed = capsys.readouterr().out
    run = read_local_run(os.path.join(out, "be"))
    rows = run["predictions"]
    assert len(rows) == 30
    files = {r["uri"]: open(r["uri"], "rb").read() for r in rows}
    expected = direct_probabilities(demo_bundle.model, files)
    labels = list(demo_bundle.meta.labels)
    for r in rows:
        assert r["predicted_label"] == labels[int(np.argmax(expected[r["uri"]]))]
        np.testing.assert_allclose(r["confidence"], expected[r["uri"]].max(), rtol=1e-5, atol=1e-6)
    backend = flags[1]
    assert run["manifest"]["inference"]["backend"] == backend
    engine = {"tf": "TensorFlow", "onnx": "ONNX Runtime"}[backend]
    assert f"inference: {engine}" in printed


def test_device_gpu_without_a_gpu_fails_at_once(demo_bundle, tmp_path, capsys):
    from bucketscore.bundle.devices import onnx_has_gpu

    if onnx_has_gpu():
        pytest.skip("this host has a GPU for ONNX Runtime")
    images = str(tmp_path / "imgs")
    copy_demo_subset(demo_bundle.data, images, per_class=1)
    out = str(tmp_path / "out")
    assert (
        _run(
            [
                "--input",
                images,
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                "g",
                "--device",
                "gpu",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--device gpu" in err and "onnxruntime-gpu" in err and "--device cpu" in err
    assert not os.path.exists(os.path.join(out, "g"))  # nothing started


def test_success_marker_is_written_last(demo_bundle, bucket, tmp_path):
    out = str(tmp_path / "results")
    assert (
        _run(
            [
                "--input",
                bucket,
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                "last",
                "--max_error_ratio",
                "0.5",
            ]
        )
        == 0
    )
    run_dir = os.path.join(out, "last")
    mtimes = {n: os.stat(os.path.join(run_dir, n)).st_mtime_ns for n in os.listdir(run_dir)}
    assert mtimes["_SUCCESS"] == max(mtimes.values())


def test_regex_labels(demo_bundle, tmp_path):
    # Flat folder: the label lives only in the file name, as in homer_simpson_pic_0132.jpg.
    images = tmp_path / "flat"
    for rel in copy_demo_subset(demo_bundle.data, str(tmp_path / "src"), per_class=2):
        label, name = rel.split("/")
        with open(tmp_path / "src" / label / name, "rb") as f:
            write_file(str(images / f"digit_{label}_pic_{name[6:10]}.png"), f.read())
    out = str(tmp_path / "out")
    assert (
        _run(
            [
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                "rx",
                "--labels",
                r"regex:digit_(\d)_pic_\d+",
            ]
        )
        == 0
    )
    run = read_local_run(os.path.join(out, "rx"))
    assert len(run["predictions"]) == 20
    for r in run["predictions"]:
        assert r["true_label"] == os.path.basename(r["uri"])[6]
    check_summary_against_sklearn(run["summary"], run["predictions"], list(demo_bundle.meta.labels))


def test_csv_labels_relative_and_full_paths(demo_bundle, tmp_path):
    images = tmp_path / "imgs"
    rels = copy_demo_subset(demo_bundle.data, str(tmp_path / "src"), per_class=1)
    lines = ["path,label"]
    for i, rel in enumerate(rels):
        label = rel.split("/")[0]
        with open(tmp_path / "src" / rel, "rb") as f:
            write_file(str(images / "sub" / f"img{i}.png"), f.read())
        # Half relative to the input prefix, half full URIs; one image left out of the CSV.
        if i == 9:
            continue
        path = f"sub/img{i}.png" if i % 2 else str(images / "sub" / f"img{i}.png")
        lines.append(f"{path},{label}")
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    out = str(tmp_path / "out")
    assert (
        _run(
            [
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                "rc",
                "--labels",
                f"csv:{csv_path}",
            ]
        )
        == 0
    )
    run = read_local_run(os.path.join(out, "rc"))
    by_name = {os.path.basename(r["uri"]): r for r in run["predictions"]}
    assert len(by_name) == 10
    for i, rel in enumerate(rels):
        expected = None if i == 9 else rel.split("/")[0]
        assert by_name[f"img{i}.png"]["true_label"] == expected
    assert run["summary"]["counts"]["labelled"] == 9
    assert run["summary"]["counts"]["unlabelled"] == 1
    check_summary_against_sklearn(run["summary"], run["predictions"], list(demo_bundle.meta.labels))


def test_no_labels_scores_without_accuracy(demo_bundle, tmp_path):
    images = str(tmp_path / "imgs")
    copy_demo_subset(demo_bundle.data, images, per_class=1)
    out = str(tmp_path / "out")
    assert (
        _run(
            [
                "--input",
                images,
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                "rn",
                "--labels",
                "none",
            ]
        )
        == 0
    )
    run = read_local_run(os.path.join(out, "rn"))
    assert len(run["predictions"]) == 10
    assert all(r["true_label"] is None and r["correct"] is None for r in run["predictions"])
    assert run["summary"]["accuracy"] is None and run["summary"]["counts"]["labelled"] == 0


def test_min_confidence_leaves_prediction_empty(demo_bundle, bucket, tmp_path):
    out = str(tmp_path / "out")
    # A threshold above every confidence: every row scored, none with a predicted label.
    assert (
        _run(
            [
                "--input",
                bucket,
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                "all",
                "--min_confidence",
                "1.0",
                "--max_error_ratio",
                "0.5",
            ]
        )
        == 0
    )
    rows = read_local_run(os.path.join(out, "all"))["predictions"]
    below = [r for r in rows if r["below_threshold"]]
    assert len(rows) == 50
    assert all(r["predicted_label"] is None and r["correct"] is False for r in below)
    assert all(r["confidence"] >= 1.0 for r in rows if not r["below_threshold"])
    # A threshold between confidences: exactly the rows below it are flagged.
    threshold = float(np.median([r["confidence"] for r in rows]))
    assert (
        _run(
            [
                "--input",
                bucket,
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                "mid",
                "--min_confidence",
                str(threshold),
                "--max_error_ratio",
                "0.5",
            ]
        )
        == 0
    )
    run = read_local_run(os.path.join(out, "mid"))
    for r in run["predictions"]:
        assert r["below_threshold"] == (r["confidence"] < threshold)
        assert (r["predicted_label"] is None) == r["below_threshold"]
    assert run["summary"]["counts"]["below_threshold"] == sum(
        r["below_threshold"] for r in run["predictions"]
    )
    check_summary_against_sklearn(run["summary"], run["predictions"], list(demo_bundle.meta.labels))


def test_empty_input_fails_unless_allowed(demo_bundle, tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("no images here")
    out = str(tmp_path / "out")
    assert (
        _run(
            ["--input", str(empty), "--model", demo_bundle.model, "--output", out, "--run_id", "e1"]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "no images found" in err and "--allow_empty" in err
    assert not os.path.exists(os.path.join(out, "e1", "_SUCCESS"))

    assert (
        _run(
            [
                "--input",
                str(empty),
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                "e2",
                "--allow_empty",
            ]
        )
        == 0
    )
    run = read_local_run(os.path.join(out, "e2"))
    assert run["summary"]["counts"]["listed"] == 0 and run["predictions"] == []
    assert "_SUCCESS" in run["files"] and run["errors"] == []


def test_rerun_with_same_run_id_replaces_results(demo_bundle, tmp_path):
    images = str(tmp_path / "imgs")
    copy_demo_subset(demo_bundle.data, images, per_class=2)
    out = str(tmp_path / "out")
    assert (
        _run(["--input", images, "--model", demo_bundle.model, "--output", out, "--run_id", "same"])
        == 0
    )
    first = read_local_run(os.path.join(out, "same"))["predictions"]
    stale = os.path.join(out, "same", "predictions-stale.csv")
    write_file(stale, b"uri\nleft-over\n")
    assert (
        _run(["--input", images, "--model", demo_bundle.model, "--output", out, "--run_id", "same"])
        == 0
    )
    assert not os.path.exists(stale)
    second = read_local_run(os.path.join(out, "same"))["predictions"]
    key = lambda r: r["uri"]  # noqa: E731
    assert [(r["uri"], r["top_k_labels"]) for r in sorted(first, key=key)] == [
        (r["uri"], r["top_k_labels"]) for r in sorted(second, key=key)
    ]


def test_globs_and_several_inputs_list_each_image_once(demo_bundle, tmp_path):
    images = tmp_path / "imgs"
    copy_demo_subset(demo_bundle.data, str(images), per_class=2)
    out = str(tmp_path / "out")
    # Overlapping inputs: the prefix and a glob inside it. Each image must appear once.
    assert (
        _run(
            [
                "--input",
                str(images),
                str(images / "1" / "*.png"),
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                "g",
            ]
        )
        == 0
    )
    run = read_local_run(os.path.join(out, "g"))
    assert len(run["predictions"]) == 20 and run["summary"]["counts"]["listed"] == 20
    assert (
        _run(
            [
                "--input",
                str(images / "[12]" / "*.png"),
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                "g2",
            ]
        )
        == 0
    )
    run = read_local_run(os.path.join(out, "g2"))
    assert sorted({r["true_label"] for r in run["predictions"]}) == ["1", "2"]
    assert len(run["predictions"]) == 4


def test_bad_command_lines_exit_2(demo_bundle, tmp_path, capsys):
    images = str(tmp_path / "imgs")
    copy_demo_subset(demo_bundle.data, images, per_class=1)
    base = ["--input", images, "--model", demo_bundle.model]
    assert _run(base + ["--output", str(tmp_path / "o"), "--no_such_flag", "1"]) == 2
    assert "--no_such_flag" in capsys.readouterr().err
    assert _run(base + ["--output", os.path.join(images, "results")]) == 2
    assert "inside the input" in capsys.readouterr().err
    assert (
        _run(
            [
                "--input",
                images,
                "--model",
                str(tmp_path / "nomodel"),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "no model bundle" in capsys.readouterr().err
    assert _run(base + ["--output", str(tmp_path / "o"), "--labels", "regex:nogroup"]) == 2
    assert "group" in capsys.readouterr().err
    assert _run(base + ["--output", str(tmp_path / "o"), "--labels", "sideways"]) == 2
    with pytest.raises(SystemExit) as e:
        _run(base + ["--output", str(tmp_path / "o"), "--top_k", "0"])
    assert e.value.code == 2


def test_beam_options_pass_through(demo_bundle, tmp_path):
    images = str(tmp_path / "imgs")
    copy_demo_subset(demo_bundle.data, images, per_class=1)
    out = str(tmp_path / "out")
    assert (
        _run(
            [
                "--input",
                images,
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                "b",
                "--runner",
                "DirectRunner",
                "--direct_num_workers",
                "2",
                "--direct_running_mode",
                "multi_threading",
            ]
        )
        == 0
    )
    manifest = json.load(open(os.path.join(out, "b", "manifest.json")))
    assert "--direct_num_workers" in manifest["arguments"]["beam_options"]
    assert len(read_local_run(os.path.join(out, "b"))["predictions"]) == 10
