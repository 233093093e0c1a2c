"""Load a bundle into something that maps uint8 image batches to probabilities.

TensorFlow (the bundle's SavedModel) is the reference backend. The predictor is what the
pipeline's ModelHandler holds per worker process, and what tests call directly to get
independent expectations.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from model_export.bundle import SAVED_MODEL_DIR, BundleError, BundleMeta, fetch_verified

BACKENDS = ("auto", "tf")


@dataclass
class Prediction:
    probabilities: np.ndarray  # float32 [N, K]
    embeddings: Optional[np.ndarray] = None  # float32 [N, D]


class TFPredictor:
    """The bundle's SavedModel `serving_default` signature."""

    backend = "tf"

    def __init__(self, meta: BundleMeta, local_dir: str):
        import tensorflow as tf  # heavy: imported only where a model is loaded

        self.meta = meta
        path = os.path.join(local_dir, SAVED_MODEL_DIR)
        try:
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
        out = self._fn(**{self._input_name: self._tf.constant(images, dtype=self._tf.uint8)})
        probs = out["probabilities"].numpy().astype(np.float32, copy=False)
        emb = None
        if with_embeddings and "embeddings" in out:
            emb = out["embeddings"].numpy().astype(np.float32, copy=False)
        return Prediction(probs, emb)


def load_predictor(bundle_uri: str, backend: str = "auto") -> TFPredictor:
    """Fetch and verify a bundle, then load it with the chosen backend."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    meta, local = fetch_verified(bundle_uri)
    predictor = TFPredictor(meta, local)
    k = len(meta.labels)
    probe = np.zeros((1, meta.input.height, meta.input.width, meta.input.channels), np.uint8)
    got = predictor.predict(probe).probabilities.shape
    if got != (1, k):
        raise BundleError(f"{bundle_uri}: the model returns probabilities of shape {got} for one "
                          f"image, but model.json lists {k} labels")
    return predictor
