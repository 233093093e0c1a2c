"""--device auto|cpu|gpu with every combination of hardware and installed builds: a GPU
machine never scores on its CPU silently. CI has no GPU; the combinations are given as
`Hardware` values, and the probe itself is checked against this host."""

from __future__ import annotations

import itertools

import pytest

from bucketscore.bundle.devices import Choice, DeviceError, Hardware, choose, probe

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
    if not hw.gpu:
        assert hw == Hardware(False, False, False)
        assert choose(BOTH, "auto", "auto", hw) == Choice("onnx", "cpu")
