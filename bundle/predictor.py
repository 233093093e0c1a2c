"""Load a bundle into something that maps uint8 image batches to probabilities.

TensorFlow runs the bundle's SavedModel, ONNX Runtime its `model.onnx` (parity-checked
against the model it was converted from at export) with a smaller footprint, PyTorch its
`model.pt2` (a torch.export program: bundles exported with `--torch`). `auto` picks ONNX
Runtime when the bundle has `model.onnx` and onnxruntime imports, else TensorFlow, else
PyTorch: torch is loaded only by runs that choose it or bundles that have nothing else.
Precision `int8` runs the bundle's `model.int8.onnx` (bucketscore quantize) on ONNX Runtime.
The predictor is what the pipeline's ModelHandler holds per worker process, what
`bucketscore classify` calls, and what tests call directly to get independent expectations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from bucketscore.bundle.meta import (
    INT8_FILE,
    ONNX_FILE,
    PRECISIONS,
    SAVED_MODEL_DIR,
    TORCH_FILE,
    BundleError,
    BundleMeta,
)
from bucketscore.bundle.verified import fetch_verified

BACKENDS = ("auto", "tf", "onnx", "torch")


@dataclass
class Prediction:
    probabilities: np.ndarray  # float32 [N, K]
    embeddings: Optional[np.ndarray] = None  # float32 [N, D]


class TFPredictor:
    """The bundle's SavedModel `serving_default` signature."""

    backend = "tf"

    def __init__(self, meta: BundleMeta, local_dir: str, device: str = "auto"):
        import tensorflow as tf  # heavy: imported only where a model is loaded

        from bucketscore.bundle.devices import tf_placement

        self.meta = meta
        self._placement = tf_placement(device)
        path = os.path.join(local_dir, SAVED_MODEL_DIR)
        try:
            with tf.device(self._placement):
                loaded = tf.saved_model.load(path)
        except Exception as e:  # noqa: BLE001
            raise BundleError(f"cannot load the SavedModel of {meta.name}: {e}") from None
        if "serving_default" not in loaded.signatures:
            raise BundleError(f"the SavedModel of {meta.name} has no serving_default signature")
        self._loaded = loaded  # keeps the variables alive
        self._fn = loaded.signatures["serving_default"]
        inputs = self._fn.structured_input_signature[1]
        if len(inputs) != 1:
            raise BundleError(
                f"serving_default must take one input (images), takes {sorted(inputs)}"
            )
        self._input_name = next(iter(inputs))
        self._tf = tf

    def predict(self, images: np.ndarray, with_embeddings: bool = False) -> Prediction:
        """uint8 [N, H, W, C] -> Prediction; N may be 1."""
        with self._tf.device(self._placement):
            out = self._fn(**{self._input_name: self._tf.constant(images, dtype=self._tf.uint8)})
        probs = out["probabilities"].numpy().astype(np.float32, copy=False)
        emb = None
        if with_embeddings and "embeddings" in out:
            emb = out["embeddings"].numpy().astype(np.float32, copy=False)
        return Prediction(probs, emb)


class ONNXPredictor:
    """The bundle's `model.onnx` on ONNX Runtime (CPU, or CUDA where installed), same input
    and outputs."""

    backend = "onnx"

    def __init__(
        self,
        meta: Optional[BundleMeta],
        local_dir: str,
        device: str = "auto",
        name: Optional[str] = None,
        file: str = ONNX_FILE,
        threads: Optional[int] = None,
    ):
        """`meta` None: a model.onnx in `local_dir` not sealed into a bundle yet (what
        BundleBuilder checks), called `name` in messages. `file`: INT8_FILE for the
        quantized twin; `threads`: intra-op threads (default onnx_runtime.ort_threads())."""
        from bucketscore.bundle.devices import ort_providers
        from bucketscore.bundle.onnx_runtime import ort_session

        self.meta = meta
        self.file = file
        name = meta.name if meta is not None else name
        path = os.path.join(local_dir, file)
        if not os.path.isfile(path):
            raise BundleError(f"the bundle {name} has no {file}")
        try:
            self._session = ort_session(path, threads, providers=ort_providers(device))
        except Exception as e:  # noqa: BLE001
            raise BundleError(f"cannot load the {file} of {name}: {e}") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise BundleError(
                f"the {file} of {name} must take one input (images), "
                f"takes {[i.name for i in inputs]}"
            )
        self._input_name = inputs[0].name
        batch = inputs[0].shape[0] if inputs[0].shape else None
        # A model exported with a fixed batch size (PyTorch's default, imported with
        # `export --onnx`) is fed batches of exactly that size; bundles made here take any.
        self._fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        self._outputs = [o.name for o in self._session.get_outputs()]
        if "probabilities" not in self._outputs:
            raise BundleError(f"the {file} of {name} has no probabilities output")

    def predict(self, images: np.ndarray, with_embeddings: bool = False) -> Prediction:
        """uint8 [N, H, W, C] -> Prediction; N may be 1."""
        wanted = ["probabilities"]
        if with_embeddings and "embeddings" in self._outputs:
            wanted.append("embeddings")
        images = np.asarray(images, np.uint8)
        size = self._fixed_batch
        if size is None or len(images) == size:
            outs = self._session.run(wanted, {self._input_name: images})
        else:
            parts = []
            for start in range(0, len(images), size):
                chunk = images[start : start + size]
                n = len(chunk)
                if n < size:  # pad the last chunk with black images, then drop their rows
                    chunk = np.concatenate(
                        [chunk, np.zeros((size - n, *chunk.shape[1:]), np.uint8)]
                    )
                parts.append([o[:n] for o in self._session.run(wanted, {self._input_name: chunk})])
            outs = [np.concatenate([p[i] for p in parts]) for i in range(len(wanted))]
        probs = np.asarray(outs[0], dtype=np.float32)
        emb = np.asarray(outs[1], dtype=np.float32) if len(outs) > 1 else None
        return Prediction(probs, emb)


class TorchPredictor:
    """The bundle's `model.pt2` (a torch.export program: uint8 NHWC `images` in, a tuple
    (probabilities[, embeddings]) out) on the CPU or CUDA, under inference_mode; on a GPU
    optionally in reduced precision (autocast to fp16 or bf16)."""

    backend = "torch"

    def __init__(
        self,
        meta: Optional[BundleMeta],
        local_dir: str,
        device: str = "auto",
        precision: str = "fp32",
        name: Optional[str] = None,
    ):
        from bucketscore.bundle.devices import torch_device
        from bucketscore.bundle.torch_runtime import (
            PRECISIONS,
            TorchMissing,
            dtype_of,
            torch_module,
            torch_threads,
            without_dtype_asserts,
        )

        try:
            torch = torch_module()
        except TorchMissing as e:
            raise BundleError(str(e)) from None
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        self.meta = meta
        name = meta.name if meta is not None else name
        path = os.path.join(local_dir, TORCH_FILE)
        if not os.path.isfile(path):
            raise BundleError(f"the bundle {name} has no {TORCH_FILE}")
        threads = torch_threads()
        if threads:
            torch.set_num_threads(threads)
        self._device = torch_device(device)
        try:
            self._module = torch.export.load(path).module().to(self._device)
        except Exception as e:  # noqa: BLE001 - any load error: one line, which file
            raise BundleError(f"cannot load the {TORCH_FILE} of {name}: {e}") from None
        self._torch = torch
        self._dtype = None if precision == "fp32" else dtype_of(precision)
        if self._dtype is not None:
            self._module = without_dtype_asserts(self._module)
        batch = ((meta.extra if meta is not None else {}).get("torch") or {}).get("batch") or {}
        self._max_batch = batch.get("max")
        self._fixed_batch = batch.get("max") if batch.get("min") == batch.get("max") else None

    def predict(self, images: np.ndarray, with_embeddings: bool = False) -> Prediction:
        """uint8 [N, H, W, C] -> Prediction; N may be 1."""
        torch = self._torch
        images = np.ascontiguousarray(images, np.uint8)
        size = self._fixed_batch or self._max_batch or len(images)
        parts = []
        for start in range(0, len(images), size):
            chunk = images[start : start + size]
            n = len(chunk)
            if self._fixed_batch and n < size:  # pad the last chunk, then drop its rows
                chunk = np.concatenate([chunk, np.zeros((size - n, *chunk.shape[1:]), np.uint8)])
            x = torch.from_numpy(chunk).to(self._device)
            with torch.inference_mode():
                if self._dtype is None:
                    out = self._module(x)
                else:
                    with torch.autocast(x.device.type, dtype=self._dtype):
                        out = self._module(x)
            out = out if isinstance(out, (tuple, list)) else (out,)
            parts.append([o[:n].float().cpu().numpy() for o in out])
        outs = [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
        probs = np.asarray(outs[0], np.float32)
        emb = np.asarray(outs[1], np.float32) if with_embeddings and len(outs) > 1 else None
        return Prediction(probs, emb)


def onnx_available() -> bool:
    from bucketscore.bundle.onnx_runtime import onnxruntime

    try:
        onnxruntime()
    except ImportError:
        return False
    return True


def choose_backend(meta: BundleMeta, backend: str = "auto") -> str:
    """`auto` -> `onnx` when the bundle has model.onnx and onnxruntime imports (or the bundle
    has nothing else), else `tf`, else `torch`. A backend the bundle lacks, or torch when
    PyTorch is not installed, is a BundleError."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    have = meta.backends
    if not have:
        raise BundleError(
            f"the bundle {meta.name} has none of {SAVED_MODEL_DIR}/, {ONNX_FILE}, "
            f"{TORCH_FILE}: nothing to load"
        )
    if backend == "auto":
        others = [b for b in ("tf", "torch") if b in have]
        if "onnx" in have and (not others or onnx_available()):
            return "onnx"
        backend = others[0]
        if backend == "tf":
            return backend
    if backend == "torch":
        from bucketscore.bundle.torch_runtime import MISSING, torch_available

        if not torch_available():
            raise BundleError(MISSING)
        if "torch" not in have:
            raise BundleError(
                f"backend torch: the bundle {meta.name} has no {TORCH_FILE} (only bundles "
                f"exported with --torch have one; model.json backends {list(have)}); use "
                f"backend {' or '.join(list(have) + ['auto'])}"
            )
        return backend
    if backend == "onnx" and "onnx" not in have:
        raise BundleError(
            f"backend onnx: the bundle {meta.name} has no {ONNX_FILE} "
            f"(exported with --no-onnx?); use backend tf or auto"
        )
    if backend == "tf" and "tf" not in have:
        raise BundleError(
            f"backend tf: the bundle {meta.name} has no {SAVED_MODEL_DIR}/ "
            f"(imported from ONNX: model.json backends {list(have)}); use "
            f"backend onnx or auto"
        )
    return backend


def top_k(
    probabilities: np.ndarray, labels: Sequence[str], k: int
) -> tuple[list[str], list[float]]:
    """The k most probable labels and their probabilities, best first (ties broken by label
    order)."""
    k = min(k, len(labels))
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [labels[i] for i in order], [float(probabilities[i]) for i in order]


def int8_problem(meta: BundleMeta, backend: str, uri: str = "BUNDLE") -> Optional[str]:
    """Why `--precision int8` cannot run this bundle (at `uri`) with `backend`, or None: it
    needs the bundle's model.int8.onnx (bucketscore quantize) and ONNX Runtime."""
    if meta.int8 is None:
        return (
            f"--precision int8: the bundle {uri} has no int8 twin ({INT8_FILE}); make one "
            f"with `bucketscore quantize {uri} --calibration PREFIX` first"
        )
    if backend not in ("auto", "onnx"):
        return (
            f"--precision int8 runs {INT8_FILE} on ONNX Runtime: use --backend onnx or "
            f"auto, not {backend}"
        )
    return None


def load_predictor(
    bundle_uri: str, backend: str = "auto", device: str = "auto", precision: str = "fp32"
) -> TFPredictor | ONNXPredictor | TorchPredictor:
    """Fetch and verify a bundle, then load it with the chosen backend on `device`
    (auto|cpu|gpu, see bundle.devices); `precision`: fp32, fp16 or bf16 (torch), or int8
    (the bundle's model.int8.onnx on ONNX Runtime)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    meta, local = fetch_verified(bundle_uri)
    if precision == "int8":
        problem = int8_problem(meta, backend, bundle_uri)
        if problem:
            raise BundleError(problem)
        predictor = ONNXPredictor(meta, local, device, file=INT8_FILE)
        return _probed(bundle_uri, meta, predictor)
    chosen = choose_backend(meta, backend)
    if chosen == "torch":
        predictor = TorchPredictor(meta, local, device, precision)
    else:
        cls = ONNXPredictor if chosen == "onnx" else TFPredictor
        predictor = cls(meta, local, device)
    return _probed(bundle_uri, meta, predictor)


def _probed(bundle_uri: str, meta: BundleMeta, predictor):
    """`predictor`, once it returned one probability per label for a black image."""
    k = len(meta.labels)
    probe = np.zeros((1, meta.input.height, meta.input.width, meta.input.channels), np.uint8)
    got = predictor.predict(probe).probabilities.shape
    if got != (1, k):
        raise BundleError(
            f"{bundle_uri}: the model returns probabilities of shape {got} for one "
            f"image, but model.json lists {k} labels"
        )
    return predictor
