"""Where inference runs: `--device auto|cpu|gpu`, per backend.

A GPU is never required: `auto` (the default) uses one when the chosen backend can
(ONNX Runtime built with its CUDA provider, `onnxruntime-gpu`; TensorFlow built with CUDA,
`tensorflow[and-cuda]`; a CUDA build of PyTorch) and the
CPU otherwise; `gpu` is an error, before anything runs,
where there is none; `cpu` keeps a GPU host's GPU out of it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Optional, Sequence

DEVICES = ("auto", "cpu", "gpu")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


class DeviceError(RuntimeError):
    """`--device gpu` where the chosen backend has no GPU."""


def onnx_has_gpu() -> bool:
    """ONNX Runtime here has the CUDA execution provider (onnxruntime-gpu installed)."""
    try:
        from bucketscore.bundle.onnx_runtime import onnxruntime

        return CUDA in onnxruntime().get_available_providers()
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


def torch_is_cuda_build() -> bool:
    """PyTorch is installed and built with CUDA: read from its version.py, because importing
    torch to ask costs a second or more."""
    import importlib.util

    from bucketscore.bundle.torch_runtime import torch_available

    if not torch_available():
        return False
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    path = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    import re

    found = re.search(r"^cuda\b[^=\n]*=\s*(\S+)", text, re.M)  # cuda: Optional[str] = '13.0'
    return bool(found) and found.group(1) != "None"


def torch_gpus() -> int:
    """How many GPUs PyTorch sees (imports torch; 0 without it)."""
    from bucketscore.bundle.torch_runtime import TorchMissing, torch_module

    try:
        torch = torch_module()
    except TorchMissing:
        return 0
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken CUDA install is no GPU
        return 0


def torch_device(device: str) -> str:
    """The torch device string for --device auto|cpu|gpu: "cuda" when asked for or available
    (auto), else "cpu"; DeviceError for gpu without one."""
    if device == "cpu":
        return "cpu"
    have = torch_gpus() > 0
    if device == "gpu" and not have:
        raise DeviceError(
            "--device gpu: PyTorch sees no GPU here (install a CUDA build of torch on a "
            "host with an NVIDIA driver), or use --device cpu"
        )
    return "cuda" if have else "cpu"


def has_gpu(backend: str) -> bool:
    """Whether `backend` ('onnx' or 'tf') can run on a GPU in this process."""
    if backend == "onnx":
        return onnx_has_gpu()
    if backend == "tf":
        return bool(tf_gpus())
    if backend == "torch":
        return torch_gpus() > 0
    raise ValueError(f"backend must be 'onnx', 'tf' or 'torch', not {backend!r}")


def resolve(device: str, backend: str, gpu_available: Optional[bool] = None) -> str:
    """'cpu' or 'gpu': where `backend` will run for `--device device`.

    Raises DeviceError for `gpu` without one, with what to install or choose instead."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
    if device == "cpu":
        return "cpu"
    if (
        device == "auto"
        and backend == "tf"
        and "tensorflow" not in sys.modules
        and gpu_available is None
    ):
        # Importing TensorFlow in the launcher only to look costs seconds; the worker that
        # loads the model decides (TensorFlow places ops on a GPU by itself when it has one).
        return "auto"
    have = has_gpu(backend) if gpu_available is None else gpu_available
    if device == "gpu" and not have:
        hint = {
            "onnx": "install onnxruntime-gpu (ONNX Runtime's CUDA provider)",
            "tf": "install tensorflow[and-cuda] on a host with an NVIDIA driver",
            "torch": "install a CUDA build of torch on a host with an NVIDIA driver",
        }[backend]
        raise DeviceError(
            f"--device gpu: the {backend} backend sees no GPU here; {hint}, or use --device cpu"
        )
    return "gpu" if have else "cpu"


def ort_providers(device: str, available: Optional[Sequence[str]] = None) -> list[str]:
    """ONNX Runtime execution providers for --device auto|cpu|gpu, CPU always last (ops the
    CUDA provider lacks fall back to it)."""
    if available is None:
        have = onnx_has_gpu()
    else:
        have = CUDA in available
    if device == "gpu" and not have:
        raise DeviceError(
            "--device gpu: onnxruntime has no CUDAExecutionProvider here "
            "(install onnxruntime-gpu), or use --device cpu"
        )
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
        raise DeviceError(
            "--device gpu: TensorFlow sees no GPU here (install "
            "tensorflow[and-cuda] on a host with an NVIDIA driver), or use "
            "--device cpu"
        )
    import tensorflow as tf

    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised in this process: nothing to do
            pass
    return ""


# --------------------------------------------------------------------------------------
# Choosing backend and device together: a GPU machine never scores on its CPU silently
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hardware:
    """What this process can use, found without importing TensorFlow (`probe()`)."""

    gpu: bool  # an NVIDIA GPU is visible (driver loaded, not hidden by CUDA_VISIBLE_DEVICES)
    ort_cuda: bool  # onnxruntime has its CUDA execution provider (onnxruntime-gpu)
    tf_cuda: bool  # the TensorFlow installed is a CUDA build (tensorflow, not -cpu)
    torch_cuda: bool = False  # PyTorch is installed, a CUDA build


@dataclass(frozen=True)
class Choice:
    """The backend and device a run uses, and why not a GPU when one is there."""

    backend: str  # onnx | tf
    device: str  # cpu | gpu
    warning: Optional[str] = None  # a GPU is present but inference runs on the CPU


def gpu_visible(environ: Optional[dict] = None) -> bool:
    """An NVIDIA GPU this process may use: the driver lists one (/proc/driver/nvidia/gpus)
    or its device node exists, and CUDA_VISIBLE_DEVICES does not hide them all."""
    environ = os.environ if environ is None else environ
    hidden = environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1", "none", "NoDevFiles"):
        return False
    try:
        if os.listdir("/proc/driver/nvidia/gpus"):
            return True
    except OSError:
        pass
    return os.path.exists("/dev/nvidia0")


def gpu_count(environ: Optional[dict] = None) -> int:
    """How many NVIDIA GPUs this process may use (0 without a visible GPU)."""
    environ = os.environ if environ is None else environ
    if not gpu_visible(environ):
        return 0
    hidden = environ.get("CUDA_VISIBLE_DEVICES")
    if hidden:
        return len([d for d in hidden.split(",") if d.strip()])
    try:
        return max(1, len(os.listdir("/proc/driver/nvidia/gpus")))
    except OSError:
        return 1


def tf_is_cuda_build() -> bool:
    """The installed TensorFlow distribution is built with CUDA (`tensorflow` or
    `tensorflow[and-cuda]`), not `tensorflow-cpu`: read from the package metadata, because
    importing TensorFlow to ask costs seconds."""
    from importlib.metadata import PackageNotFoundError, distribution

    for name in ("tensorflow", "tf-nightly"):
        try:
            distribution(name)
            return True
        except PackageNotFoundError:
            continue
    return False


def probe() -> Hardware:
    gpu = gpu_visible()
    return Hardware(
        gpu=gpu,
        ort_cuda=gpu and onnx_has_gpu(),
        tf_cuda=gpu and tf_is_cuda_build(),
        torch_cuda=gpu and torch_is_cuda_build(),
    )


INSTALL_HINT = {
    "onnx": "onnxruntime-gpu (the ONNX Runtime build with the CUDA provider)",
    "tf": "tensorflow[and-cuda]",
    "torch": "a CUDA build of torch (pip install 'bucketscore[torch]' on a GPU host)",
}


def choose(bundle_backends: Sequence[str], backend: str, device: str, hw: Hardware) -> Choice:
    """The backend and device for `--backend backend --device device` with a bundle that
    offers `bundle_backends` (onnx first when both: it is the faster one on a CPU).

    * cpu: the requested backend (auto: onnx when the bundle has it), on the CPU;
    * gpu: the first requested backend that can run on this machine's GPU, else DeviceError
      saying what is missing (no GPU, or no CUDA build of the backend);
    * auto: as gpu when a GPU-capable backend is there; on a machine with a GPU but no
      GPU-capable backend, the CPU with a warning (printed at start, recorded in
      manifest.json and summary.json): never silently.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
    offered = [b for b in ("onnx", "tf", "torch") if b in bundle_backends]
    wanted = offered if backend == "auto" else [b for b in offered if b == backend]
    if not wanted:
        raise DeviceError(f"--backend {backend}: the bundle offers {', '.join(offered)}")
    if device == "cpu":
        return Choice(wanted[0], "cpu")
    capable = {"onnx": hw.ort_cuda, "tf": hw.tf_cuda, "torch": hw.torch_cuda}
    on_gpu = [b for b in wanted if hw.gpu and capable[b]]
    if on_gpu:
        return Choice(on_gpu[0], "gpu")
    if not hw.gpu:
        if device == "gpu":
            raise DeviceError(
                f"--device gpu: no GPU is visible here (no NVIDIA driver, or "
                f"CUDA_VISIBLE_DEVICES hides it; on a GPU machine, install "
                f"{' or '.join(INSTALL_HINT[b] for b in wanted)}); use "
                f"--device cpu"
            )
        return Choice(wanted[0], "cpu")
    missing = " or ".join(INSTALL_HINT[b] for b in wanted)
    if device == "gpu":
        raise DeviceError(
            f"--device gpu: a GPU is here but no backend of this bundle can "
            f"use it: install {missing}, or use --device cpu"
        )
    return Choice(
        wanted[0],
        "cpu",
        warning=f"a GPU is present but inference runs on the CPU: no backend of "
        f"this bundle can use it ({', '.join(wanted)}); install {missing} "
        f"(or pass --device cpu to say the CPU is intended)",
    )
