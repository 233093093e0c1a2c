"""The GPU image's packages are one consistent set (the build argument ACCELERATOR=gpu):
resolved by pip with the lock file (metadata only, nothing installed), it holds the CUDA
builds of both backends and nothing of their CPU builds, the CUDA and cuDNN majors both
were built for, and every package it adds to the lock is pinned in gpu-packages.txt. The
image's own check (check_image.py) passes on this CPU environment as the CPU image."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.support.helpers import REPO

FLEX = os.path.join(REPO, "infra", "flex_template")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.lower())


def _pins(path: str) -> dict[str, str]:
    out = {}
    for line in open(path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[_norm(name.split("[", 1)[0])] = version
    return out


def test_gpu_package_set_resolves_consistently(tmp_path):
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
            "-c",
            os.path.join(REPO, "constraints.txt"),
            "-r",
            os.path.join(FLEX, "gpu-packages.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if (
        done.returncode
        and "Could not find a version" not in done.stderr
        and ("Network is unreachable" in done.stderr or "Failed to establish" in done.stderr)
    ):
        pytest.skip("no package index reachable")
    assert done.returncode == 0, done.stderr[-3000:]
    installed = {
        _norm(i["metadata"]["name"]): i["metadata"]["version"]
        for i in json.load(open(report))["install"]
    }
    assert "onnxruntime-gpu" in installed and "onnxruntime" not in installed
    assert "tensorflow" in installed and "tensorflow-cpu" not in installed
    assert installed["nvidia-cuda-runtime-cu12"].split(".")[0] == "12"
    assert installed["nvidia-cudnn-cu12"].split(".")[0] == "9"
    lock, gpu = (
        _pins(os.path.join(REPO, "constraints.txt")),
        _pins(os.path.join(FLEX, "gpu-packages.txt")),
    )
    unpinned = {n: v for n, v in installed.items() if n not in lock and n not in gpu}
    assert not unpinned, f"pin these in gpu-packages.txt: {unpinned}"
    assert {n: installed[n] for n in gpu} == gpu  # the pins are what pip resolves
    assert gpu["tensorflow"] == lock["tensorflow-cpu"]  # the same TensorFlow, with CUDA


def test_the_dockerfile_uses_the_gpu_set_and_checks_the_image():
    text = open(os.path.join(FLEX, "Dockerfile"), encoding="utf-8").read()
    assert "ARG ACCELERATOR=cpu" in text
    assert "pip uninstall -y tensorflow-cpu onnxruntime" in text
    assert "-r gpu-packages.txt" in text and 'python check_image.py "${ACCELERATOR}"' in text


def test_check_image_passes_here_as_the_cpu_image():
    done = subprocess.run(
        [sys.executable, os.path.join(FLEX, "check_image.py"), "cpu"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    wrong = subprocess.run(
        [sys.executable, os.path.join(FLEX, "check_image.py"), "gpu"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert wrong.returncode == 1
    assert "onnxruntime-gpu is not installed" in wrong.stderr
    assert "TensorFlow is not a CUDA build" in wrong.stderr or "tensorflow" in wrong.stderr
