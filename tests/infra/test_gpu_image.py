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


def _resolve(tmp_path, *requirements: str) -> dict[str, str]:
    """What pip would install for `requirements` with the lock (metadata only)."""
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        + ["--report", str(report), "-c", os.path.join(REPO, "constraints.txt"), *requirements],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode and (
        "Network is unreachable" in done.stderr or "Failed to establish" in done.stderr
    ):
        pytest.skip("no package index reachable")
    assert done.returncode == 0, done.stderr[-3000:]
    return {
        _norm(i["metadata"]["name"]): i["metadata"]["version"]
        for i in json.load(open(report))["install"]
    }


def test_gpu_package_set_resolves_consistently(tmp_path):
    installed = _resolve(tmp_path, "-r", os.path.join(FLEX, "gpu-packages.txt"))
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


def _check_image(accelerator: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, os.path.join(FLEX, "check_image.py"), accelerator],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_image_passes_here_as_the_cpu_image():
    done = _check_image("cpu")
    assert done.returncode == 0, done.stderr
    wrong = _check_image("gpu")
    assert wrong.returncode == 1
    assert "onnxruntime-gpu is not installed" in wrong.stderr
    assert "TensorFlow is not a CUDA build" in wrong.stderr or "tensorflow" in wrong.stderr


def test_torch_image_set_is_the_locked_torch_with_cuda_13(tmp_path):
    """ACCELERATOR=gpu-torch installs the torch extra under the lock: every package it
    brings is pinned there, and the torch is PyPI's CUDA 13 build with cuDNN 9."""
    lock = _pins(os.path.join(REPO, "constraints.txt"))
    installed = _resolve(tmp_path, f"torch=={lock['torch']}")
    assert {n: v for n, v in installed.items() if lock.get(n) != v} == {}
    assert installed["nvidia-cuda-runtime"].split(".")[0] == "13"
    assert installed["nvidia-cudnn-cu13"].split(".")[0] == "9"
    # Why it is an image of its own: the GPU image's CUDA 12 set would sit beside it, and
    # nvidia-cudnn-cu12 installs the same files as nvidia-cudnn-cu13 (check_image.py).
    gpu = _pins(os.path.join(FLEX, "gpu-packages.txt"))
    assert "nvidia-cudnn-cu12" in gpu and "torch" not in gpu


def _run_dockerfile_install_step(tmp_path, accelerator: str) -> list[str]:
    """The Dockerfile's install RUN step run by sh with ACCELERATOR set, pip, python and
    find replaced by functions that write their arguments: the commands the build runs."""
    text = open(os.path.join(FLEX, "Dockerfile"), encoding="utf-8").read()
    step = re.search(r"^RUN (.*?[^\\])\n", text, re.S | re.M).group(1)
    assert "pip install" in step
    log = tmp_path / f"{accelerator}.log"
    script = (
        f'pip() {{ echo "pip $*" >> {log}; }}\n'
        f'python() {{ echo "python $*" >> {log}; }}\n'
        "find() { :; }\n"
        f"ACCELERATOR={accelerator}\n" + step.replace("\\\n", "")  # as Docker joins continued lines
    )
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines()


def test_the_dockerfile_installs_each_accelerators_set(tmp_path):
    cpu = _run_dockerfile_install_step(tmp_path, "cpu")
    assert cpu[0].endswith("-c constraints.txt .") and not any("uninstall" in c for c in cpu)
    assert "python check_image.py cpu" in cpu
    gpu = _run_dockerfile_install_step(tmp_path, "gpu")
    assert gpu[0].endswith("-c constraints.txt .")
    assert "pip uninstall -y tensorflow-cpu onnxruntime" in gpu
    assert gpu[2].endswith("-r gpu-packages.txt") and "python check_image.py gpu" in gpu
    torch = _run_dockerfile_install_step(tmp_path, "gpu-torch")
    assert torch[0].endswith("-c constraints.txt .[torch]")
    assert not any("uninstall" in c or "gpu-packages" in c for c in torch)
    assert "python check_image.py gpu-torch" in torch


def test_check_image_passes_here_as_the_torch_image():
    """This environment has the lock's torch (the test extra), as the gpu-torch image does."""
    pytest.importorskip("torch")
    done = _check_image("gpu-torch")
    assert done.returncode == 0, done.stderr
    assert "gpu-torch image consistent" in done.stdout


def _dist(site, name: str, files: list[str]) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    record = [f"{f},sha256=x,1" for f in files] + [f"{name}-1.0.dist-info/RECORD,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")


def test_file_clashes_names_a_file_two_packages_install(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "check_image", os.path.join(FLEX, "check_image.py")
    )
    check_image = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_image)
    site = tmp_path / "site"
    _dist(site, "nvidia-cudnn-cu12", ["nvidia/cudnn/lib/libcudnn.so.9", "nvidia/__init__.py"])
    _dist(site, "nvidia-cudnn-cu13", ["nvidia/cudnn/lib/libcudnn.so.9", "nvidia/cu13/x.so"])
    _dist(site, "other", ["other/__init__.py", "../../bin/tool", "other/__pycache__/a.pyc"])
    _dist(site, "other-too", ["../../bin/tool", "other/__pycache__/a.pyc"])
    assert check_image.file_clashes([str(site)]) == [
        "nvidia/cudnn/lib/libcudnn.so.9 (nvidia-cudnn-cu12, nvidia-cudnn-cu13)"
    ]
    assert check_image.file_clashes([str(tmp_path / "empty")]) == []
