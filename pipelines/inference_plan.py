"""The inference part of a run's plan: backend, device, batch size and model copies.

`plan_inference(config, meta, runner)` makes `--backend auto` and `--device auto` concrete
(bucketscore.bundle.devices.choose: a GPU machine never scores on its CPU silently; a
remote runner's workers decide their device when they load the model), sets the batch size
by device and the model copies shared by a machine's worker processes. The batch sizes, and
why: docs/decisions.md ("Inference batch size").

Precision: `--precision int8` runs the bundle's model.int8.onnx (bucketscore quantize) on
ONNX Runtime on CPUs, its agreement with fp32 the one measured at quantize; without
--precision a bundle quantized with `--default` runs int8 the same way (else fp32);
fp16/bf16 autocast the torch program on this machine's GPU, measured before the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bucketscore.bundle import devices
from bucketscore.bundle.meta import INT8_FILE, BundleError, BundleMeta
from bucketscore.bundle.predictor import choose_backend, int8_problem, onnx_available
from bucketscore.errors import UsageError
from bucketscore.pipelines.runners import Runner

# Images per inference call on a CPU: as fast per image as larger batches, far less memory.
DEFAULT_BATCH_SIZE = 4
# On a GPU the per-call cost dominates small batches (not measured yet: no GPU here).
GPU_BATCH_SIZE = 64
# Larger batches never run faster and hold memory for every image in them at once.
MAX_BATCH_SIZE = 4096
ENGINES = {
    "onnx": "ONNX Runtime (model.onnx)",
    "tf": "TensorFlow (saved_model/)",
    "torch": "PyTorch (model.pt2)",
}
WHERE = {"cpu": "CPU", "gpu": "GPU", "auto": "GPU if the worker has one, else CPU"}


@dataclass(frozen=True)
class InferencePlan:
    """How a run's images go through the model."""

    backend: str  # onnx | tf
    device: str  # cpu | gpu | auto (a remote worker decides)
    batch_size: int
    model_copies: Optional[int]  # per machine, shared by its worker processes; None: per process
    warning: Optional[str] = None  # a GPU is present but inference runs on the CPU
    precision: str = "fp32"  # fp16/bf16: torch on a GPU only; int8: model.int8.onnx
    agreement: Optional[dict] = None  # against fp32: on the run's images, or at quantize
    precision_source: Optional[str] = None  # "--precision" | "bundle default" (int8 twins)

    def describe(self) -> str:
        engine = ENGINES[self.backend]
        if self.precision == "int8":
            engine = f"ONNX Runtime ({INT8_FILE}, int8)"
        text = (
            f"bucketscore: inference: {engine} on {WHERE[self.device]}, "
            f"batches of {self.batch_size}"
        )
        if self.agreement and self.precision == "int8":
            a = self.agreement
            text += (
                f", int8{' (the bundle default)' if self.precision_source == DEFAULT else ''}: "
                f"top-1 agreement with fp32 {a['top1_agreement']:.1%} on {a['images']} "
                f"held-out images at quantize (largest probability difference "
                f"{a['max_probability_difference']:.2g})"
            )
        elif self.agreement:
            a = self.agreement
            text += (
                f", {self.precision}: top-1 agreement with fp32 {a['top1_agreement']:.1%} on "
                f"{a['images']} of the run's images (largest probability difference "
                f"{a['max_probability_difference']:.2g})"
            )
        elif self.precision_source:  # fp32 although the bundle has an int8 twin
            text += f", {self.precision} ({self.precision_source})"
        return text

    def record(self) -> dict:
        """manifest.json's `inference` (the worker plan adds its part for runs)."""
        out = {
            "backend": self.backend,
            "device": self.device,
            "batch_size": self.batch_size,
            "model_copies": self.model_copies,
        }
        if self.warning:
            out["warning"] = self.warning
        if self.precision != "fp32" or self.precision_source:
            out["precision"] = self.precision
            out["precision_agreement"] = self.agreement
        if self.precision_source:
            out["precision_source"] = self.precision_source
        return out


def batch_size_for(device: str, given: Optional[int] = None) -> int:
    """The user's batch size, else DEFAULT_BATCH_SIZE on a CPU, GPU_BATCH_SIZE on a GPU."""
    if given:
        return given
    return GPU_BATCH_SIZE if device == "gpu" else DEFAULT_BATCH_SIZE


def model_copies_for(given: Optional[int], device: str) -> Optional[int]:
    """Model copies per machine shared by its worker processes, None = one per process:
    the user's number (0 = per process), else one per GPU where inference runs on GPUs
    (a remote GPU worker's GPUs cannot be counted from here: one)."""
    if given is not None:
        return given or None
    if device == "gpu":
        return devices.gpu_count() or 1
    return None


def choose_inference(meta: BundleMeta, backend: str, device: str, local: bool) -> devices.Choice:
    """The backend and device: `--backend auto` made concrete (onnx when the bundle has
    model.onnx and ONNX Runtime imports), on this machine's GPU when a backend can use it
    (local runs); `--device gpu` without a usable GPU is a UsageError for local runs."""
    try:
        chosen = choose_backend(meta, backend)
    except BundleError as e:
        raise UsageError(str(e)) from None
    if not local:
        return devices.Choice(chosen, device)
    offered = [b for b in meta.backends if b != "onnx" or onnx_available()]
    try:
        return devices.choose(offered, backend, device, devices.probe())
    except devices.DeviceError as e:
        raise UsageError(str(e)) from None


FLAG, DEFAULT = "--precision", "bundle default"


def choose_precision(config, meta: BundleMeta) -> tuple[str, Optional[str]]:
    """(precision, where it came from): --precision as given, else int8 when the bundle was
    quantized with --default and the backend is onnx or auto, else fp32. The source is None
    for bundles without an int8 twin (nothing to tell apart); an int8 twin that cannot run
    here (no twin, another backend) is a UsageError."""
    given = config.precision
    if given == "int8":
        problem = int8_problem(meta, config.backend, config.model)
        if problem:
            raise UsageError(problem)
        return "int8", FLAG
    if given is not None:
        return given, FLAG if meta.int8 is not None else None
    if meta.int8_default and config.backend in ("auto", "onnx"):
        return "int8", DEFAULT
    return "fp32", DEFAULT if meta.int8 is not None else None


def plan_inference(config, meta: BundleMeta, runner: Runner) -> InferencePlan:
    """The InferencePlan of a run with ScoreConfig `config` and bundle `meta`; reduced
    precision is measured against fp32 on a sample of the run's images first (fp16, bf16),
    int8's agreement is the one the bundle records from quantize."""
    precision, source = choose_precision(config, meta)
    backend = "onnx" if precision == "int8" else config.backend
    choice = choose_inference(meta, backend, config.device, runner.local)
    if precision == "int8" and choice.device == "gpu":
        if source == FLAG:
            raise UsageError(
                f"--precision int8: {INT8_FILE} is for CPUs (ONNX Runtime's CPU kernels); "
                f"add --device cpu, or score fp32 on the GPU"
            )
        precision = "fp32"  # the bundle's default is a CPU choice: a GPU runs model.onnx
    agreement = None
    if precision == "int8":
        agreement = {**meta.int8["agreement"], "measured": "at quantize (model.json int8)"}
    elif precision != "fp32":
        if choice.backend != "torch" or choice.device != "gpu" or not runner.local:
            raise UsageError(
                f"--precision {precision}: reduced precision runs with --backend torch "
                f"on this machine's GPU (here: {choice.backend} on {choice.device}"
                f"{'' if runner.local else ', remote workers'}), where its agreement with "
                f"fp32 is measured before the run"
            )
        agreement = precision_agreement(config, meta, choice.device, precision)
    return InferencePlan(
        backend=choice.backend,
        device=choice.device,
        batch_size=batch_size_for(choice.device, config.batch_size),
        model_copies=model_copies_for(config.model_copies, choice.device),
        warning=choice.warning,
        precision=precision,
        agreement=agreement,
        precision_source=source,
    )


AGREEMENT_SAMPLE = 64  # images of the run a reduced precision is compared on


def precision_agreement(
    config, meta: BundleMeta, device: str, precision: str, sample: int = AGREEMENT_SAMPLE
) -> dict:
    """The torch program in `precision` against fp32 on up to `sample` of the run's images
    (the first in listing order that decode): top-1 agreement and the largest probability
    difference (bundle.torch_runtime.agreement)."""
    import numpy as np

    from bucketscore.bundle.images import decode_image
    from bucketscore.bundle.predictor import load_predictor
    from bucketscore.bundle.torch_runtime import agreement
    from bucketscore.storage import uris
    from bucketscore.storage.listing import list_input

    pixels = []
    for uri in config.inputs:
        for obj in list_input(uri):
            try:
                pixels.append(decode_image(uris.read_bytes(obj.uri), meta.input)[0])
            except Exception:  # noqa: BLE001 - an image that fails is the run's errors row
                continue
            if len(pixels) >= sample:
                break
        if len(pixels) >= sample:
            break
    if not pixels:
        raise UsageError(f"--precision {precision}: no image of the inputs decodes to compare")
    images = np.stack(pixels)
    reference = load_predictor(config.model, "torch", device, "fp32").predict(images)
    reduced = load_predictor(config.model, "torch", device, precision).predict(images)
    return agreement(reference.probabilities, reduced.probabilities)
