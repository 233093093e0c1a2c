"""model_export.devices: --device auto|cpu|gpu. CI has no GPU: a GPU is never required, and
asking for one where there is none fails at once with what to do."""

import pytest

from bucketscore.bundle import devices


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
