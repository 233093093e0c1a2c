"""Where inference runs: `--device auto|cpu|gpu`, per backend.

A GPU is never required: `auto` (the default) uses one when the chosen backend can
(ONNX Runtime built with its CUDA provider, `onnxruntime-gpu`; TensorFlow built with CUDA,
`tensorflow[and-cuda]`) and the CPU otherwise; `gpu` is an error, before anything runs,
where there is none; `cpu` keeps a GPU host's GPU out of it.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

DEVICES = ("auto", "cpu", "gpu")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


class DeviceError(RuntimeError):
    """`--device gpu` where the chosen backend has no GPU."""


def onnx_has_gpu() -> bool:
    """ONNX Runtime here has the CUDA execution provider (onnxruntime-gpu installed)."""
    try:
        import onnxruntime as ort

        return CUDA in ort.get_available_providers()
    except Exception:  # noqa: BLE001 - not installed, or a broken CUDA install: no GPU
        return False


def tf_gpus() -> list:
    """TensorFlow's GPUs (imports TensorFlow: seconds, so only where a TF model is loaded
    or `--device gpu` asks)."""
    import tensorflow as tf

    try:
        return list(tf.config.list_physical_devices("GPU"))
    except Exception:  # noqa: BLE001 - a broken CUDA install is no GPU
        return []


def has_gpu(backend: str) -> bool:
    """Whether `backend` ('onnx' or 'tf') can run on a GPU in this process."""
    if backend == "onnx":
        return onnx_has_gpu()
    if backend == "tf":
        return bool(tf_gpus())
    raise ValueError(f"backend must be 'onnx' or 'tf', not {backend!r}")


def resolve(device: str, backend: str, gpu_available: Optional[bool] = None) -> str:
    """'cpu' or 'gpu': where `backend` will run for `--device device`.

    Raises DeviceError for `gpu` without one, with what to install or choose instead."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
    if device == "cpu":
        return "cpu"
    if device == "auto" and backend == "tf" and "tensorflow" not in sys.modules \
            and gpu_available is None:
        # Importing TensorFlow in the launcher only to look costs seconds; the worker that
        # loads the model decides (TensorFlow places ops on a GPU by itself when it has one).
        return "auto"
    have = has_gpu(backend) if gpu_available is None else gpu_available
    if device == "gpu" and not have:
        hint = ("install onnxruntime-gpu (ONNX Runtime's CUDA provider)" if backend == "onnx"
                else "install tensorflow[and-cuda] on a host with an NVIDIA driver")
        raise DeviceError(f"--device gpu: the {backend} backend sees no GPU here; {hint}, "
                          f"or use --device cpu")
    return "gpu" if have else "cpu"


def ort_providers(device: str, available: Optional[Sequence[str]] = None) -> list[str]:
    """ONNX Runtime execution providers for --device auto|cpu|gpu, CPU always last (ops the
    CUDA provider lacks fall back to it)."""
    if available is None:
        have = onnx_has_gpu()
    else:
        have = CUDA in available
    if device == "gpu" and not have:
        raise DeviceError("--device gpu: onnxruntime has no CUDAExecutionProvider here "
                          "(install onnxruntime-gpu), or use --device cpu")
    if device in ("gpu", "auto") and have:
        return [CUDA, CPU]
    return [CPU]


def tf_placement(device: str) -> str:
    """The tf.device() string predictions run under: '/CPU:0' for cpu; for gpu and auto,
    '' (TensorFlow's own placement, which prefers a GPU). On a GPU, memory growth is turned
    on first so that several worker processes can share one card (call before the first
    model is loaded)."""
    if device == "cpu":
        return "/CPU:0"
    gpus = tf_gpus()
    if device == "gpu" and not gpus:
        raise DeviceError("--device gpu: TensorFlow sees no GPU here (install "
                          "tensorflow[and-cuda] on a host with an NVIDIA driver), or use "
                          "--device cpu")
    import tensorflow as tf

    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised in this process: nothing to do
            pass
    return ""
