"""pipelines/inline_run.py: the in-process executor gives the run folder the Beam graph gives
(every file compared, times and the executor's own name masked), loads no Beam, and its
pieces (in-order thread map, Top, label checks) equal their references."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow.parquet as pq
import pytest

from bucketscore.cli.main import main
from bucketscore.pipelines import inline_run
from bucketscore.run_folder.duplicates import RepeatSketch, group_rows
from bucketscore.run_folder.duplicates import ordered as ordered_duplicates
from bucketscore.run_folder.report_selection import mistake_key
from bucketscore.run_folder.suspects import judge, ordered
from tests.support.helpers import REPO, copy_demo_subset, image_bytes, write_file
from tests.support.prediction_files import THRESHOLDS, prediction_rows, write_predictions

TIMES = {"started_at", "finished_at", "duration_seconds"}


@pytest.fixture(scope="module")
def bucket(demo_bundle, tmp_path_factory):
    """Demo digits (6 per class), two files that cannot be decoded, a copy of one image
    under another label (a duplicate with labels that differ) and a labels CSV naming one
    image that is not there."""
    images = str(tmp_path_factory.mktemp("inline") / "images")
    copy_demo_subset(demo_bundle.data, images, per_class=6)
    write_file(os.path.join(images, "7", "empty.png"), b"")
    write_file(os.path.join(images, "3", "random.jpg"), os.urandom(2000))
    first = sorted(os.listdir(os.path.join(images, "1")))[0]
    shutil.copy(os.path.join(images, "1", first), os.path.join(images, "8", "copy-of-1.png"))
    lines = ["path,label"]
    for label in sorted(os.listdir(images)):
        for name in sorted(os.listdir(os.path.join(images, label))):
            lines.append(f"{label}/{name},{label if name != 'copy-of-1.png' else '8'}")
    lines.append("4/not-there.png,4")
    csv = os.path.join(os.path.dirname(images), "labels.csv")
    with open(csv, "w") as f:
        f.write("\n".join(lines) + "\n")
    return images, csv


def _masked_json(path: str, output: str):
    def mask(d):
        if isinstance(d, dict):
            return {k: "T" if k in TIMES else mask(v) for k, v in d.items()}
        if isinstance(d, list):
            return [mask(x) for x in d]
        return d.replace(output, "O") if isinstance(d, str) else d

    doc = mask(json.load(open(path)))
    inference = doc.get("inference") or {}
    for k in ("executor", "running_mode"):
        inference.pop(k, None)  # what differs by design
    doc.get("arguments", {}).update(output="O", executor="E")
    return doc


def _contents(run: str) -> dict:
    """Every file of a run folder, as comparable values (tables as sorted rows)."""
    out = {}
    for name in sorted(os.listdir(run)):
        path = os.path.join(run, name)
        if name.endswith(".parquet"):
            rows = pq.read_table(path).to_pylist()
            out[name] = sorted(rows, key=lambda r: r["uri"])
        elif name.endswith(".csv"):
            lines = open(path).read().splitlines()
            out[name] = (lines[:1], sorted(lines[1:]))
        elif name.endswith(".json"):
            out[name] = _masked_json(path, os.path.dirname(run))
        elif name == "report.html":
            text = open(path).read()
            text = re.sub(r"\d{4}-\d\d-\d\d[T ][\d:]+(\+00:00| UTC)?", "T", text)
            text = re.sub(r">[\d.]+ s<", ">S<", text)  # the run's duration
            out[name] = text.replace(os.path.dirname(run), "O").replace(">beam<", ">E<")
            out[name] = out[name].replace(">inline<", ">E<").replace(">auto<", ">E<")
        else:
            out[name] = "present"
    return out


def _both(demo_bundle, images, tmp_path, *flags):
    runs = {}
    for executor in ("beam", "inline"):
        out = str(tmp_path / executor)
        args = ["score", "--input", images, "--model", demo_bundle.model, "--output", out]
        status = main(args + ["--run_id", "r", "--no_progress", "--executor", executor, *flags])
        assert status == 0, executor
        runs[executor] = os.path.join(out, "r")
    return runs


@pytest.mark.parametrize(
    "flags",
    [
        ["--embeddings", "--top_k", "3"],
        ["--labels", "CSV", "--exclude", "*/5/*", "--limit", "40", "--target_accuracy", "0.9"],
    ],
    ids=["embeddings", "csv-selection"],
)
def test_both_executors_write_the_same_run_folder(demo_bundle, bucket, tmp_path, flags):
    images, csv = bucket
    flags = [f"csv:{csv}" if f == "CSV" else f for f in flags]
    runs = _both(demo_bundle, images, tmp_path, *flags)
    beam, inline = _contents(runs["beam"]), _contents(runs["inline"])
    assert sorted(beam) == sorted(inline)
    for name in beam:
        assert inline[name] == beam[name], name
    summary = json.load(open(os.path.join(runs["inline"], "summary.json")))
    # The run had something of each kind to find (else the comparison proves little).
    if "--limit" in flags:  # the first 40 in URI order: 3/random.jpg, not 7/empty.png
        assert summary["selection"]["selected"] == 40 and summary["counts"]["failed"] == 1
        assert summary["counts"]["csv_rows_without_image"] == 1
    else:
        assert summary["counts"]["failed"] == 2 and summary["duplicates"]["groups"] == 1
        assert "embeddings-00000-of-00001.parquet" in inline
    counters = [
        json.load(open(os.path.join(runs[e], "summary.json")))["beam_counters"] for e in runs
    ]
    assert counters[0] == counters[1]
    manifest = json.load(open(os.path.join(runs["inline"], "manifest.json")))
    assert manifest["inference"]["executor"] == "inline"


def test_both_executors_carry_over_the_same_rows_of_an_incremental_run(
    demo_bundle, bucket, tmp_path
):
    images, _csv = bucket
    folder = str(tmp_path / "images")
    shutil.copytree(images, folder)
    runs = {}
    for executor in ("beam", "inline"):
        out = str(tmp_path / executor)
        args = ["score", "--input", folder, "--model", demo_bundle.model, "--output", out]
        args += ["--no_progress", "--incremental", "--executor", executor]
        assert main(args + ["--run_id", "base"]) == 0
        runs[executor] = (args, os.path.join(out, "next"))
    # Then: one image changed, one new, one gone.
    changed = os.path.join(folder, "2", sorted(os.listdir(os.path.join(folder, "2")))[0])
    with open(changed, "ab") as f:
        f.write(b"\0")
    write_file(os.path.join(folder, "9", "new.png"), image_bytes(np.full((8, 8), 99, np.uint8)))
    os.remove(os.path.join(folder, "6", sorted(os.listdir(os.path.join(folder, "6")))[0]))
    for args, _run in runs.values():
        assert main(args + ["--run_id", "next"]) == 0
    beam, inline = _contents(runs["beam"][1]), _contents(runs["inline"][1])
    assert sorted(beam) == sorted(inline)
    for name in beam:
        assert inline[name] == beam[name], name
    summary = json.load(open(os.path.join(runs["inline"][1], "summary.json")))
    assert summary["incremental"]["scored_now"] == 2  # the changed and the new image
    # all but those and the two that failed last time (and again now)
    assert summary["incremental"]["carried_over"] == summary["counts"]["listed"] - 4
    manifest = json.load(open(os.path.join(runs["inline"][1], "manifest.json")))
    assert manifest["inference"]["executor"] == "inline"


def test_a_local_run_loads_no_beam(demo_bundle, bucket, tmp_path):
    images, _csv = bucket
    code = (
        "import sys\n"
        "from bucketscore.cli.main import main\n"
        f"status = main(['score', '--input', {images!r}, '--model', {demo_bundle.model!r},"
        f" '--output', {str(tmp_path)!r}, '--run_id', 'r', '--no_progress'])\n"
        "print('STATUS', status, 'BEAM', 'apache_beam' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert "STATUS 0 BEAM False" in done.stdout, done.stdout + done.stderr
    assert "in this process (no Beam)" in done.stdout
    assert os.path.exists(tmp_path / "r" / "_SUCCESS")


def test_a_failed_run_leaves_no_half_written_tables(demo_bundle, bucket, tmp_path, monkeypatch):
    images, _csv = bucket

    def broken(*_args, **_kwargs):
        raise RuntimeError("the model broke")

    calls = []

    def fail_late(model, batch, embeddings):
        calls.append(len(batch))
        if len(calls) > 3:
            broken()
        return real(model, batch, embeddings)

    real = inline_run.predict_batch
    monkeypatch.setattr(inline_run, "predict_batch", fail_late)
    out = str(tmp_path / "o")
    status = main(
        ["score", "--input", images, "--model", demo_bundle.model, "--output", out]
        + ["--run_id", "r", "--no_progress", "--executor", "inline"]
    )
    assert status == 1 and len(calls) == 4
    left = os.listdir(os.path.join(out, "r")) if os.path.isdir(os.path.join(out, "r")) else []
    assert not [n for n in left if n.endswith((".csv", ".parquet"))], left


def test_ordered_map_keeps_input_order_with_work_in_flight():
    def slow(i):
        time.sleep(0.01 * ((7 * i) % 5))
        return i * i

    with ThreadPoolExecutor(4) as pool:
        assert list(inline_run.ordered_map(slow, range(40), pool, ahead=8)) == [
            i * i for i in range(40)
        ]

        def fails(i):
            if i == 5:
                raise ValueError("five")
            return i

        seen = []
        with pytest.raises(ValueError, match="five"):
            for x in inline_run.ordered_map(fails, range(10), pool, ahead=3):
                seen.append(x)
        assert seen == [0, 1, 2, 3, 4]


def test_top_keeps_what_sorting_everything_keeps():
    rng = np.random.default_rng(3)
    rows = [{"uri": f"u{i:03d}", "confidence": float(round(rng.random(), 2))} for i in range(300)]
    for n in (0, 1, 7, 300, 400):
        top = inline_run.Top(n, mistake_key)
        smallest = inline_run.Top(n, lambda r: r["uri"], smallest=True)
        for r in rows:
            top.add(r)
            smallest.add(r)
        assert top.items() == sorted(rows, key=mistake_key, reverse=True)[:n]
        assert smallest.items() == sorted(rows, key=lambda r: r["uri"])[:n]


def test_label_checks_equal_judging_and_grouping_every_row(tmp_path, monkeypatch):
    monkeypatch.setattr(inline_run, "ROWS_PER_BATCH", 100)  # several batches per group
    files = [str(tmp_path / "predictions-00000-of-00001.parquet"), str(tmp_path / "c.parquet")]
    written = write_predictions(files[0], prediction_rows(2500, 1), 1000) + write_predictions(
        files[1], prediction_rows(700, 2), 300
    )
    sketch = RepeatSketch()
    for r in written:
        if r["sha256"]:
            sketch.add(r["sha256"])
    judged = [judge(r, THRESHOLDS) for r in written]
    suspects = ordered(rec for rec, _u in judged if rec is not None)
    by_hash: dict = {}
    for r in written:
        if r["sha256"]:
            by_hash.setdefault(r["sha256"], []).append((r["uri"], r["true_label"]))
    duplicates = ordered_duplicates(row for h, m in by_hash.items() for row in group_rows(h, m))
    found = inline_run.check_written(files, {"true_label_score_means": THRESHOLDS}, sketch, 40)
    assert found["suspects"]["rows"] == suspects[:40] and len(suspects) > 40
    assert found["suspects"]["count"] == len(suspects)
    assert found["suspects"]["unchecked"] == sum(u for _r, u in judged)
    hashed = sum(1 for r in written if r["sha256"])
    repeated = sum(len(m) for m in by_hash.values() if len(m) > 1)
    assert found["duplicates"] == {
        "rows": duplicates,
        "hashed": hashed,
        "unhashed": len(written) - hashed,
        "sketched": hashed,
        "candidates": repeated,
        "grouped": repeated,
    }
    assert duplicates
