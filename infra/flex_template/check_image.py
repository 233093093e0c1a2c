"""Checks a built image's packages (the Dockerfile's last step): `python check_image.py cpu|gpu`.

* every requirement is installed (pip check), except the two the GPU image replaces on
  purpose: tensorflow-cpu by tensorflow (with CUDA) and onnxruntime by onnxruntime-gpu;
* cpu: the CPU builds; gpu: ONNX Runtime has its CUDA provider, TensorFlow is a CUDA
  build, and the CUDA and cuDNN libraries installed have the major versions both were
  built for. No GPU is needed to build or check the image (Dataflow adds the driver).

Exit status 0 when consistent, 1 with one line per problem.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

REPLACED = {"gpu": ("tensorflow-cpu", "onnxruntime")}
CUDA_MAJOR, CUDNN_MAJOR = "12", "9"  # what onnxruntime-gpu 1.31 and TensorFlow 2.21 use


def _version(name: str):
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def problems(accelerator: str) -> list[str]:
    out = []
    check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    for line in check.stdout.strip().splitlines():
        if "No broken requirements" in line:
            continue
        if any(f"requires {name}," in line for name in REPLACED.get(accelerator, ())):
            continue  # replaced on purpose by the GPU build of the same thing
        out.append(f"pip check: {line}")
    if accelerator == "cpu":
        for name in ("tensorflow-cpu", "onnxruntime"):
            if _version(name) is None:
                out.append(f"{name} is not installed")
        return out
    for name in ("tensorflow", "onnxruntime-gpu"):
        if _version(name) is None:
            out.append(f"{name} is not installed")
    for name in ("tensorflow-cpu", "onnxruntime"):
        if _version(name) is not None:
            out.append(f"{name} is installed beside its GPU build: remove it")
    cuda, cudnn = _version("nvidia-cuda-runtime-cu12"), _version("nvidia-cudnn-cu12")
    if not cuda or cuda.split(".")[0] != CUDA_MAJOR:
        out.append(f"CUDA runtime {cuda}: expected {CUDA_MAJOR}.x")
    if not cudnn or cudnn.split(".")[0] != CUDNN_MAJOR:
        out.append(f"cuDNN {cudnn}: expected {CUDNN_MAJOR}.x")
    try:
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            out.append("onnxruntime has no CUDAExecutionProvider")
    except ImportError as e:
        out.append(f"onnxruntime does not import: {e}")
    try:
        import tensorflow as tf

        if not tf.test.is_built_with_cuda():
            out.append("TensorFlow is not a CUDA build")
    except ImportError as e:
        out.append(f"tensorflow does not import: {e}")
    return out


def main(argv: list[str]) -> int:
    accelerator = argv[0] if argv else "cpu"
    if accelerator not in ("cpu", "gpu"):
        print(f"usage: check_image.py cpu|gpu (not {accelerator!r})", file=sys.stderr)
        return 2
    found = problems(accelerator)
    for line in found:
        print(f"check_image: {line}", file=sys.stderr)
    if not found:
        print(f"check_image: {accelerator} image consistent")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
