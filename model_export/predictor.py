"""Load a bundle into something that maps uint8 image batches to probabilities.

TensorFlow (the bundle's SavedModel) is the reference backend; ONNX Runtime runs the
bundle's `model.onnx` (parity-checked against the SavedModel at export) with a smaller
footprint. `auto` picks ONNX Runtime when the bundle has `model.onnx` and onnxruntime
imports, else TensorFlow. The predictor is what the pipeline's ModelHandler holds per
worker process, and what tests call directly to get independent expectations.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from bucketscore.model_export.bundle import SAVED_MODEL_DIR, BundleError, BundleMeta, fetch_verified

BACKENDS = ("auto", "tf", "onnx")
ONNX_FILE = "model.onnx"


@dataclass
class Prediction:
    probabilities: np.ndarray  # float32 [N, K]
    embeddings: Optional[np.ndarray] = None  # float32 [N, D]


class TFPredictor:
    """The bundle's SavedModel `serving_default` signature."""

    backend = "tf"

    def __init__(self, meta: BundleMeta, local_dir: str, device: str = "auto"):
        import tensorflow as tf  # heavy: imported only where a model is loaded

        from bucketscore.model_export.devices import tf_placement

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
            raise BundleError(f"serving_default must take one input (images), "
                              f"takes {sorted(inputs)}")
        self._input_name = next(iter(inputs))
        self._tf = tf

    def predict(self, images: np.ndarray, with_embeddings: bool = False) -> Prediction:
        """uint8 [N, H, W, C] -> Prediction; N may be 1."""
        with self._tf.device(self._placement):
            out = self._fn(**{self._input_name: self._tf.constant(images,
                                                                   dtype=self._tf.uint8)})
        probs = out["probabilities"].numpy().astype(np.float32, copy=False)
        emb = None
        if with_embeddings and "embeddings" in out:
            emb = out["embeddings"].numpy().astype(np.float32, copy=False)
        return Prediction(probs, emb)


class ONNXPredictor:
    """The bundle's `model.onnx` on ONNX Runtime (CPU, or CUDA where installed), same input
    and outputs."""

    backend = "onnx"

    def __init__(self, meta: BundleMeta, local_dir: str, device: str = "auto"):
        from bucketscore.model_export.devices import ort_providers
        from bucketscore.model_export.onnx_export import ort_session

        self.meta = meta
        path = os.path.join(local_dir, ONNX_FILE)
        if not os.path.isfile(path):
            raise BundleError(f"the bundle {meta.name} has no {ONNX_FILE}")
        try:
            self._session = ort_session(path, providers=ort_providers(device))
        except Exception as e:  # noqa: BLE001
            raise BundleError(f"cannot load the {ONNX_FILE} of {meta.name}: {e}") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise BundleError(f"the {ONNX_FILE} of {meta.name} must take one input (images), "
                              f"takes {[i.name for i in inputs]}")
        self._input_name = inputs[0].name
        self._outputs = [o.name for o in self._session.get_outputs()]
        if "probabilities" not in self._outputs:
            raise BundleError(f"the {ONNX_FILE} of {meta.name} has no probabilities output")

    def predict(self, images: np.ndarray, with_embeddings: bool = False) -> Prediction:
        """uint8 [N, H, W, C] -> Prediction; N may be 1."""
        wanted = ["probabilities"]
        if with_embeddings and "embeddings" in self._outputs:
            wanted.append("embeddings")
        outs = self._session.run(wanted, {self._input_name: np.asarray(images, np.uint8)})
        probs = np.asarray(outs[0], dtype=np.float32)
        emb = np.asarray(outs[1], dtype=np.float32) if len(outs) > 1 else None
        return Prediction(probs, emb)


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401 - only whether it imports
    except ImportError:
        return False
    return True


def choose_backend(meta: BundleMeta, backend: str = "auto") -> str:
    """`auto` -> `onnx` when the bundle has model.onnx and onnxruntime imports, else `tf`."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if backend == "auto":
        return "onnx" if meta.has_onnx and onnx_available() else "tf"
    if backend == "onnx" and not meta.has_onnx:
        raise BundleError(f"backend onnx: the bundle {meta.name} has no {ONNX_FILE} "
                          f"(exported with --no-onnx?); use backend tf or auto")
    return backend


def load_predictor(bundle_uri: str, backend: str = "auto",
                   device: str = "auto") -> TFPredictor | ONNXPredictor:
    """Fetch and verify a bundle, then load it with the chosen backend on `device`
    (auto|cpu|gpu, see model_export.devices)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    meta, local = fetch_verified(bundle_uri)
    chosen = choose_backend(meta, backend)
    cls = ONNXPredictor if chosen == "onnx" else TFPredictor
    predictor = cls(meta, local, device)
    k = len(meta.labels)
    probe = np.zeros((1, meta.input.height, meta.input.width, meta.input.channels), np.uint8)
    got = predictor.predict(probe).probabilities.shape
    if got != (1, k):
        raise BundleError(f"{bundle_uri}: the model returns probabilities of shape {got} for one "
                          f"image, but model.json lists {k} labels")
    return predictor
