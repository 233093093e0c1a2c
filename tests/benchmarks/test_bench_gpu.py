"""`make bench-gpu` runs on a machine without a GPU: it measures the decode ceiling and
skips the GPU parts with one line saying why (CI never has a GPU)."""

from __future__ import annotations

import glob
import json
import subprocess
import sys

import pytest

from bucketscore.bundle import devices
from tests.support.helpers import REPO


def test_bench_gpu_runs_and_skips_the_gpu_parts_without_one(tmp_path):
    if devices.probe().ort_cuda:
        pytest.skip("this host has a GPU: run make bench-gpu itself")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.gpu",
            "--n",
            "24",
            "--work",
            str(tmp_path / "work"),
            "--results",
            str(tmp_path / "results"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "GPU parts skipped: no GPU visible" in done.stdout
    (path,) = glob.glob(str(tmp_path / "results" / "bench-gpu-*.json"))
    doc = json.load(open(path))
    assert doc["decode_ceiling_images_per_s"] > 0 and doc["models"] == {}
    assert doc["host"]["cores"] >= 1 and "no GPU" in doc["host"]["gpu"]
