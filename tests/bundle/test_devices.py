"""bundle.devices: --device auto|cpu|gpu per backend, and backend and device chosen together
with every combination of hardware and installed builds (a GPU machine never scores on its
CPU silently). CI has no GPU: a GPU is never required, asking for one where there is none
fails at once with what to do; the combinations are given as `Hardware` values, and the
probe itself is checked against this host."""

from __future__ import annotations

import itertools

import pytest

from bucketscore.bundle import devices
from bucketscore.bundle.devices import Choice, DeviceError, Hardware, choose, probe


def test_cpu_is_always_the_cpu():
    assert devices.ort_providers("cpu", available=[devices.CUDA, devices.CPU]) == [devices.CPU]
    assert devices.resolve("cpu", "onnx", gpu_available=True) == "cpu"
    assert devices.tf_placement("cpu") == "/CPU:0"


def test_auto_takes_the_gpu_where_the_backend_has_one():
    assert devices.ort_providers("auto", available=[devices.CUDA, devices.CPU]) == [
        devices.CUDA,
        devices.CPU,
    ]  # CPU last: ops CUDA lacks still run
    assert devices.ort_providers("auto", available=[devices.CPU]) == [devices.CPU]
    assert devices.resolve("auto", "onnx", gpu_available=True) == "gpu"
    assert devices.resolve("auto", "tf", gpu_available=False) == "cpu"


def test_gpu_without_one_is_a_clear_error():
    with pytest.raises(devices.DeviceError, match="onnxruntime-gpu"):
        devices.ort_providers("gpu", available=[devices.CPU])
    with pytest.raises(devices.DeviceError, match="--device cpu"):
        devices.resolve("gpu", "onnx", gpu_available=False)
    with pytest.raises(ValueError):
        devices.resolve("tpu", "onnx")


def test_this_host_as_it_is():
    """What the real libraries say here (CI: no GPU, so auto is the CPU and gpu an error)."""
    if devices.onnx_has_gpu():
        pytest.skip("this host has onnxruntime-gpu with a GPU")
    assert devices.ort_providers("auto") == [devices.CPU]
    assert devices.resolve("auto", "onnx") == "cpu"
    with pytest.raises(devices.DeviceError):
        devices.resolve("gpu", "onnx")


def test_tensorflow_on_this_host():
    if devices.tf_gpus():
        pytest.skip("TensorFlow sees a GPU here")
    with pytest.raises(devices.DeviceError, match="TensorFlow sees no GPU"):
        devices.tf_placement("gpu")
    assert devices.tf_placement("auto") == ""  # TensorFlow's own placement: the CPU here


# ---------------------------------------------------------------------------------------
# Backend and device chosen together
# ---------------------------------------------------------------------------------------
BOTH = ("onnx", "tf")


@pytest.mark.parametrize("gpu, ort_cuda, tf_cuda", list(itertools.product([False, True], repeat=3)))
def test_auto_uses_a_gpu_whenever_a_backend_can(gpu, ort_cuda, tf_cuda):
    hw = Hardware(gpu=gpu, ort_cuda=ort_cuda and gpu, tf_cuda=tf_cuda and gpu)
    choice = choose(BOTH, "auto", "auto", hw)
    if hw.ort_cuda:
        assert choice == Choice("onnx", "gpu")
    elif hw.tf_cuda:
        assert choice == Choice("tf", "gpu")  # TF with CUDA rather than ORT on the CPU
    elif gpu:
        assert (choice.backend, choice.device) == ("onnx", "cpu")
        assert "GPU is present" in choice.warning and "onnxruntime-gpu" in choice.warning
    else:
        assert choice == Choice("onnx", "cpu")  # no GPU: the CPU, nothing to warn about


@pytest.mark.parametrize(
    "backend, hw, expected",
    [
        ("onnx", Hardware(True, False, True), Choice("onnx", "cpu")),  # warned, see below
        ("tf", Hardware(True, True, False), Choice("tf", "cpu")),
        ("tf", Hardware(True, True, True), Choice("tf", "gpu")),
        ("onnx", Hardware(True, True, True), Choice("onnx", "gpu")),
    ],
)
def test_a_chosen_backend_is_kept(backend, hw, expected):
    choice = choose(BOTH, backend, "auto", hw)
    assert (choice.backend, choice.device) == (expected.backend, expected.device)
    assert (choice.warning is not None) == (expected.device == "cpu" and hw.gpu)


def test_gpu_fails_clearly_without_a_usable_gpu():
    with pytest.raises(DeviceError, match="no GPU is visible"):
        choose(BOTH, "auto", "gpu", Hardware(False, False, False))
    with pytest.raises(DeviceError, match="onnxruntime-gpu .* or tensorflow\\[and-cuda\\]"):
        choose(BOTH, "auto", "gpu", Hardware(True, False, False))
    with pytest.raises(DeviceError, match="tensorflow\\[and-cuda\\]"):
        choose(("tf",), "auto", "gpu", Hardware(True, True, False))
    assert choose(("tf",), "auto", "gpu", Hardware(True, False, True)) == Choice("tf", "gpu")


def test_cpu_is_always_the_cpu_without_a_warning():
    for hw in (Hardware(True, True, True), Hardware(False, False, False)):
        assert choose(BOTH, "auto", "cpu", hw) == Choice("onnx", "cpu")
        assert choose(("tf",), "auto", "cpu", hw) == Choice("tf", "cpu")


def test_an_onnx_only_bundle_never_gets_tensorflow():
    assert choose(("onnx",), "auto", "auto", Hardware(True, False, True)).backend == "onnx"
    with pytest.raises(DeviceError):
        choose(("onnx",), "tf", "auto", Hardware(False, False, False))


def test_this_host():
    hw = probe()  # CI: no GPU, so nothing can be on a GPU
    if hw.gpu:
        pytest.skip("this host has a GPU")
    assert hw == Hardware(False, False, False)
    assert choose(BOTH, "auto", "auto", hw) == Choice("onnx", "cpu")


# ---------------------------------------------------------------------------------------
# Which GPUs this process may use
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("hidden", ["", "-1", "none", "NoDevFiles", " -1 "])
def test_cuda_visible_devices_can_hide_every_gpu(hidden):
    env = {"CUDA_VISIBLE_DEVICES": hidden}
    assert devices.gpu_visible(env) is False
    assert devices.gpu_count(env) == 0


@pytest.fixture
def two_gpus(monkeypatch):
    """A host whose driver lists two GPUs. Monkeypatched: CI has no NVIDIA driver, so the
    files the probe reads (/proc/driver/nvidia/gpus, /dev/nvidia0) cannot exist here."""
    real_listdir, real_exists = devices.os.listdir, devices.os.path.exists

    def listdir(path):
        if path == "/proc/driver/nvidia/gpus":
            return ["0000:01:00.0", "0000:02:00.0"]
        return real_listdir(path)

    monkeypatch.setattr(devices.os, "listdir", listdir)
    monkeypatch.setattr(devices.os.path, "exists", lambda p: p == "/dev/nvidia0" or real_exists(p))


def test_gpu_count_follows_the_driver_and_cuda_visible_devices(two_gpus):
    assert devices.gpu_visible({}) and devices.gpu_count({}) == 2
    assert devices.gpu_count({"CUDA_VISIBLE_DEVICES": "1"}) == 1
    assert devices.gpu_count({"CUDA_VISIBLE_DEVICES": "0, 1,"}) == 2
    assert devices.gpu_count({"CUDA_VISIBLE_DEVICES": "-1"}) == 0


def test_unknown_devices_and_backends_are_refused():
    with pytest.raises(ValueError, match="device must be one of"):
        choose(BOTH, "auto", "tpu", Hardware(False, False, False))
    with pytest.raises(ValueError, match="backend must be 'onnx', 'tf' or 'torch'"):
        devices.has_gpu("tflite")
    with pytest.raises(DeviceError, match="--backend tf: the bundle offers onnx"):
        choose(("onnx",), "tf", "cpu", Hardware(False, False, False))


def test_auto_for_tensorflow_leaves_the_choice_to_the_worker_without_importing_it():
    """The launcher does not import TensorFlow (seconds) to answer `auto`: the worker that
    loads the model places it."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom bucketscore.bundle import devices\n"
        "print(devices.resolve('auto', 'tf'), 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["auto", "False"]
