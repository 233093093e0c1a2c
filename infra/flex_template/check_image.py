"""Checks a built image's packages (the Dockerfile's last step):
`python check_image.py cpu|gpu|gpu-torch`.

* every requirement is installed (pip check), except the two the GPU image replaces on
  purpose: tensorflow-cpu by tensorflow (with CUDA) and onnxruntime by onnxruntime-gpu;
* no file is installed by two packages (one would have overwritten the other's copy: e.g.
  nvidia-cudnn-cu12 and nvidia-cudnn-cu13 both install nvidia/cudnn/lib/libcudnn.so.9,
  which is why PyTorch's CUDA 13 build has an image of its own);
* cpu: the CPU builds; gpu: ONNX Runtime has its CUDA provider, TensorFlow is a CUDA
  build, and the CUDA and cuDNN libraries installed have the major versions both were
  built for; gpu-torch: the CPU builds of TensorFlow and ONNX Runtime beside PyTorch's
  CUDA build, whose CUDA and cuDNN libraries load. No GPU is needed to build or check an
  image (Dataflow adds the driver).

Exit status 0 when consistent, 1 with one line per problem.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distributions, version

REPLACED = {"gpu": ("tensorflow-cpu", "onnxruntime")}
CUDA_MAJOR, CUDNN_MAJOR = "12", "9"  # what onnxruntime-gpu 1.31 and TensorFlow 2.21 use
TORCH_CUDA_MAJOR = "13"  # PyPI's Linux torch 2.11 and later (the lock has 2.14.1)
ACCELERATORS = ("cpu", "gpu", "gpu-torch")


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
    out += [f"file installed twice: {clash}" for clash in file_clashes()]
    if accelerator in ("cpu", "gpu-torch"):
        for name in ("tensorflow-cpu", "onnxruntime"):
            if _version(name) is None:
                out.append(f"{name} is not installed")
        if accelerator == "gpu-torch":
            out += _torch_problems()
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


def file_clashes(path: list[str] | None = None) -> list[str]:
    """Files that two installed distributions both list in their RECORD, as
    'FILE (A, B)'. `path`: where to look (sys.path when None)."""
    owners: dict[str, list[str]] = {}
    for dist in distributions(path=path) if path is not None else distributions():
        who = dist.metadata["Name"]
        # RECORD read as text: `dist.files` builds an object per file (20 s for this set).
        for line in (dist.read_text("RECORD") or "").splitlines():
            name = line.rsplit(",", 2)[0]
            if ".dist-info/" in name or "__pycache__" in name or name.startswith(".."):
                continue  # metadata and byte code; '..' points outside site-packages (scripts)
            owners.setdefault(name, []).append(who)
    return [
        f"{name} ({', '.join(sorted(set(who)))})"
        for name, who in sorted(owners.items())
        if len(set(who)) > 1
    ]


def _torch_problems() -> list[str]:
    try:
        import torch
    except ImportError as e:
        return [f"torch does not import: {e}"]
    out = []
    cuda = torch.version.cuda
    if not cuda or cuda.split(".")[0] != TORCH_CUDA_MAJOR:
        out.append(
            f"torch {torch.__version__} is built for CUDA {cuda}: expected {TORCH_CUDA_MAJOR}.x"
        )
    try:
        cudnn = torch.backends.cudnn.version()  # loads the library: no GPU needed
    except Exception as e:  # noqa: BLE001 -- any failure to load is the finding
        cudnn = f"not loadable ({e})"
    # An int since cuDNN 9: major * 10000 + minor * 100 + patch (92400 = 9.24.0).
    if not isinstance(cudnn, int) or str(cudnn // 10000) != CUDNN_MAJOR:
        out.append(f"torch's cuDNN {cudnn}: expected {CUDNN_MAJOR}.x")
    return out


def main(argv: list[str]) -> int:
    accelerator = argv[0] if argv else "cpu"
    if accelerator not in ACCELERATORS:
        usage = "|".join(ACCELERATORS)
        print(f"usage: check_image.py {usage} (not {accelerator!r})", file=sys.stderr)
        return 2
    found = problems(accelerator)
    for line in found:
        print(f"check_image: {line}", file=sys.stderr)
    if not found:
        print(f"check_image: {accelerator} image consistent")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
