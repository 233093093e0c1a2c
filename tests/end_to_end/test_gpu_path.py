"""The GPU path on a machine without a GPU (CI never has one):

* a machine whose GPU no backend can use says so: at start, in manifest.json
  (`inference.device`, `inference.warning`) and in summary.json `warnings`. The hardware
  probe is the one thing given here (`devices.probe`): the choice, the messages and what a
  run records are the real ones;
* one model shared by all worker processes (`--model_copies 1`, what a GPU worker uses):
  a real two-process run loads the model once, and scores exactly what per-process copies
  score.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

from bucketscore.bundle import devices
from bucketscore.cli.main import main
from tests.support.helpers import REPO, copy_demo_subset, read_local_run

BUCKETSCORE = os.path.join(os.path.dirname(sys.executable), "bucketscore")


def test_a_gpu_no_backend_can_use_is_never_silent(demo_bundle, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        devices, "probe", lambda: devices.Hardware(gpu=True, ort_cuda=False, tf_cuda=False)
    )
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
                "g",
                "--no_progress",
                "--direct_num_workers",
                "1",
                "--direct_running_mode",
                "in_memory",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "WARNING: a GPU is present but inference runs on the CPU" in out
    run = read_local_run(str(tmp_path / "out" / "g"))
    inference = run["manifest"]["inference"]
    assert inference["device"] == "cpu" and "onnxruntime-gpu" in inference["warning"]
    assert inference["warning"] in run["summary"]["warnings"]
    # --device gpu on such a machine: refused at once, saying what to install.
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
                "--device",
                "gpu",
            ]
        )
        == 2
    )
    assert "install onnxruntime-gpu" in capsys.readouterr().err


def _model_loads(folder) -> int:
    total = 0
    for path in glob.glob(os.path.join(folder, "*.json")):
        with open(path) as f:
            total += json.load(f).get("model_loads", 0)
    return total


def test_one_model_shared_by_the_worker_processes(demo_bundle, tmp_path):
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=20)
    loads = {}
    for copies in ("0", "1"):
        counts = tmp_path / f"counts-{copies}"
        counts.mkdir()
        done = subprocess.run(
            [
                BUCKETSCORE,
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out"),
                "--run_id",
                f"copies{copies}",
                "--no_progress",
                "--model_copies",
                copies,
                "--direct_num_workers",
                "2",
                "--direct_running_mode",
                "multi_processing",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ, BUCKETSCORE_PROGRESS_DIR=str(counts)),
        )
        assert done.returncode == 0, done.stderr[-3000:]
        loads[copies] = _model_loads(counts)
    assert loads == {"0": 2, "1": 1}  # a copy per worker process, or one for both
    rows = {
        c: sorted(
            (r["uri"], r["predicted_label"], round(r["confidence"], 6))
            for r in read_local_run(str(tmp_path / "out" / f"copies{c}"))["predictions"]
        )
        for c in ("0", "1")
    }
    assert rows["0"] == rows["1"] and len(rows["1"]) == 200
    manifest = read_local_run(str(tmp_path / "out" / "copies1"))["manifest"]
    assert manifest["inference"]["model_copies"] == 1
