"""The one path every bundle is written through: demo, train, tune and export use it.

    with BundleBuilder(name=..., labels=..., input_spec=...) as b:
        b.add_keras(model)                # saved_model/ (+ embeddings) and model.keras
        b.add_onnx(calibration)           # model.onnx, parity-checked (unless onnx=False)
        probs = b.predict(x_test)         # evaluate what is shipped
        b.add_text("training/curves.csv", ...)
        meta = b.seal(out_uri, metrics=...)   # model.json, copy, then load + smoke test

A model imported from an ONNX file (`export --onnx`, model_export.onnx_import) is added with
`add_imported_onnx` instead: the bundle then holds model.onnx alone (model.json `backends`:
onnx) and `predict`/`smoke_test` run it with ONNX Runtime.

`seal` writes `embedding_dim` (when the model exports embeddings), the ONNX parity figures
and the input scaling into model.json, then loads the bundle back from where it was
written with `load_predictor` (digests verified), with every backend it has, and checks
one prediction's shape.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Optional

import numpy as np

from bucketscore.bundle.meta import ONNX_FILE, SAVED_MODEL_DIR, BundleMeta, InputSpec
from bucketscore.errors import described
from bucketscore.model_export.onnx_export import (
    DEFAULT_OPSET,
    PARITY_TOLERANCE,
    check_parity,
    convert_saved_model,
)
from bucketscore.model_export.sealing import write_bundle

KERAS_FILE = "model.keras"
CALIBRATION_IMAGES = 32
PROBABILITY_SUM_TOLERANCE = 1e-3


class ExportError(Exception):
    """The model cannot be exported as a bundle; the message says why and what to do."""


def synthetic_images(spec: InputSpec, n: int = 8, seed: int = 0) -> np.ndarray:
    """uint8 [n, H, W, C]: noise, flat black/white/grey, and gradients (smoke/calibration)."""
    rng = np.random.default_rng(seed)
    h, w, c = spec.height, spec.width, spec.channels
    out = [rng.integers(0, 256, (h, w, c), dtype=np.uint8) for _ in range(max(n - 4, 1))]
    out.append(np.zeros((h, w, c), np.uint8))
    out.append(np.full((h, w, c), 255, np.uint8))
    out.append(np.full((h, w, c), 128, np.uint8))
    ramp = np.linspace(0, 255, w, dtype=np.float64)[None, :, None]
    out.append(np.broadcast_to(ramp, (h, w, c)).astype(np.uint8))
    return np.stack(out[:n])


def calibration_batch(
    spec: InputSpec, real: Optional[np.ndarray] = None, n: int = CALIBRATION_IMAGES, seed: int = 0
) -> np.ndarray:
    """Up to `n` real images (evenly spread) plus a few synthetic ones."""
    parts = []
    if real is not None and len(real):
        idx = np.linspace(0, len(real) - 1, num=min(n, len(real))).round().astype(int)
        parts.append(np.asarray(real)[idx].astype(np.uint8))
    parts.append(synthetic_images(spec, 8, seed))
    return np.concatenate(parts)


class BundleBuilder:
    """A temporary bundle folder being filled; `seal` writes it to its destination."""

    def __init__(self, *, name: str, labels: list[str], input_spec: InputSpec):
        self.name = name
        self.labels = list(labels)
        self.spec = input_spec
        self.dir = tempfile.mkdtemp(prefix="bucketscore-bundle-")
        self.embedding_dim: Optional[int] = None
        self.onnx_report: Optional[dict] = None
        self.extra: dict[str, Any] = {}
        self._fn = None
        self._loaded = None
        self._onnx = None  # the ONNX Runtime predictor of an imported model.onnx
        self._torch = None  # the PyTorch predictor of an imported program (model.pt2)

    # -- context manager: the temporary folder goes away whatever happens ---------------
    def __enter__(self) -> "BundleBuilder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._fn = self._loaded = self._onnx = self._torch = None
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def saved_model_dir(self) -> str:
        return os.path.join(self.dir, SAVED_MODEL_DIR)

    # -- content ---------------------------------------------------------------------------
    def add_keras(
        self,
        model,
        *,
        embedding_layer: Optional[str] = None,
        embeddings: bool = True,
        save_keras: bool = True,
    ) -> Optional[int]:
        """Export `model` (float 0..255 in, probabilities out) as saved_model/ (+ model.keras).

        Embeddings are the penultimate layer's output, or `embedding_layer`'s.
        """
        from bucketscore.model_export.serving import ServingError, export_serving, serving_model

        self._check_keras_io(model)
        try:
            pair, dim = serving_model(model, embedding_layer, embeddings=embeddings)
        except ServingError as e:
            raise ExportError(str(e)) from None
        export_serving(
            pair, self.saved_model_dir, self.spec.height, self.spec.width, self.spec.channels
        )
        if save_keras:
            model.save(os.path.join(self.dir, KERAS_FILE))
        self.embedding_dim = dim
        self.smoke_test()
        return dim

    def add_wrapped_saved_model(self, src: str, **kwargs) -> dict:
        """A user's SavedModel behind a uint8 signature (see serving.wrap_saved_model)."""
        from bucketscore.model_export.serving import ServingError, wrap_saved_model

        try:
            info = wrap_saved_model(
                src,
                self.saved_model_dir,
                self.spec.height,
                self.spec.width,
                self.spec.channels,
                **kwargs,
            )
        except ServingError as e:
            raise ExportError(str(e)) from None
        self.embedding_dim = info["embedding_dim"]
        self.smoke_test()
        return info

    def add_imported_onnx(self, model_proto, facts: dict) -> Optional[int]:
        """A user's ONNX model, already wrapped (uint8 images in; see onnx_import.wrap), as
        the bundle's only model; smoke-tested with ONNX Runtime. Returns the embedding size
        (None without embeddings)."""
        with open(os.path.join(self.dir, ONNX_FILE), "wb") as f:
            f.write(model_proto.SerializeToString())
        self.onnx_report = dict(facts)
        self.smoke_test()
        out = self.predict(synthetic_images(self.spec, 2))
        self.embedding_dim = int(out["embeddings"].shape[1]) if "embeddings" in out else None
        return self.embedding_dim

    def add_torch(
        self, module, facts: dict, *, onnx: bool = True, calibration: Optional[np.ndarray] = None
    ) -> Optional[int]:
        """A user's PyTorch model, already wrapped (uint8 images in; torch_import.wrapper),
        as the bundle's model.pt2 (torch.export) and, with `onnx`, its model.onnx twin,
        parity-checked on `calibration` images (generated when None). Returns the embedding
        size (None without embeddings)."""
        from bucketscore.bundle.meta import TORCH_FILE
        from bucketscore.model_export.torch_import import (
            TorchImportError,
            export_onnx,
            export_program,
        )

        h, w, c = self.spec.height, self.spec.width, self.spec.channels
        try:
            exported = export_program(module, h, w, c, os.path.join(self.dir, TORCH_FILE))
        except TorchImportError as e:
            raise ExportError(str(e)) from None
        self.extra["torch"] = {**facts, **exported}
        self.smoke_test()
        reference = self.predict(calibration_batch(self.spec, calibration))
        self.embedding_dim = (
            int(reference["embeddings"].shape[1]) if "embeddings" in reference else None
        )
        if onnx:
            try:
                export_onnx(
                    module,
                    h,
                    w,
                    c,
                    os.path.join(self.dir, ONNX_FILE),
                    embeddings=self.embedding_dim is not None,
                )
            except TorchImportError as e:
                raise ExportError(str(e)) from None
            self.onnx_report = self._torch_onnx_parity(
                calibration_batch(self.spec, calibration), reference
            )
        return self.embedding_dim

    def _torch_onnx_parity(self, images: np.ndarray, reference: dict) -> dict:
        """model.onnx against model.pt2 on the same images; ExportError past the tolerance."""
        got = self._predict_onnx(images, 256)
        diffs = {
            k: float(np.max(np.abs(got[k].astype(np.float64) - reference[k].astype(np.float64))))
            for k in reference
        }
        agreement = float(
            np.mean(got["probabilities"].argmax(1) == reference["probabilities"].argmax(1))
        )
        if not diffs["probabilities"] <= PARITY_TOLERANCE:
            raise ExportError(
                f"ONNX parity check failed: probabilities differ from the PyTorch program's by "
                f"up to {diffs['probabilities']:.3g} on {len(images)} calibration images "
                f"(tolerance {PARITY_TOLERANCE:g}); pass --no-onnx to bundle the program alone"
            )
        return {
            "converted_from": "torch",
            "max_abs_diff": diffs,
            "tolerance": PARITY_TOLERANCE,
            "calibration_images": int(len(images)),
            "top1_agreement": agreement,
        }

    def _check_keras_io(self, model) -> None:
        from bucketscore.model_export.serving import ServingError, check_image_shape

        if len(model.inputs) != 1:
            raise ExportError(
                f"the model takes {len(model.inputs)} inputs; an image "
                f"classifier takes one image batch"
            )
        try:
            check_image_shape(
                tuple(model.inputs[0].shape),
                self.spec.height,
                self.spec.width,
                self.spec.channels,
                what="the model's input",
            )
        except ServingError as e:
            raise ExportError(str(e)) from None
        if len(model.outputs) != 1:
            raise ExportError(
                f"the model has {len(model.outputs)} outputs; bucketscore needs "
                f"one (the class probabilities)"
            )
        out = tuple(model.outputs[0].shape)
        if len(out) != 2:
            raise ExportError(
                f"the model's output has shape {out}; a classifier returns [N, classes]"
            )
        if out[-1] is not None and out[-1] != len(self.labels):
            raise ExportError(
                f"the model has {out[-1]} outputs but {len(self.labels)} labels "
                f"were given; the labels file must list one label per output, "
                f"in output order"
            )

    def predict(self, images: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Run the exported SavedModel signature (what is shipped) on uint8 images; for an
        imported PyTorch program its model.pt2; for an imported ONNX model (no SavedModel),
        its model.onnx on ONNX Runtime."""
        from bucketscore.bundle.meta import TORCH_FILE

        if os.path.isfile(os.path.join(self.dir, TORCH_FILE)):
            return self._predict_torch(images, batch_size)
        if not os.path.isdir(self.saved_model_dir):
            return self._predict_onnx(images, batch_size)
        import tensorflow as tf

        if self._fn is None:
            self._loaded = tf.saved_model.load(self.saved_model_dir)
            self._fn = self._loaded.signatures["serving_default"]
        outs: dict[str, list] = {}
        for start in range(0, len(images), batch_size):
            batch = tf.constant(np.asarray(images[start : start + batch_size], np.uint8))
            for k, v in self._fn(images=batch).items():
                outs.setdefault(k, []).append(v.numpy())
        return {k: np.concatenate(v) for k, v in outs.items()}

    def _predict_torch(self, images: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
        from bucketscore.bundle.predictor import TorchPredictor

        if self._torch is None:
            self._torch = TorchPredictor(None, self.dir, "cpu", name=self.name)
        outs: dict[str, list] = {}
        for start in range(0, len(images), batch_size):
            pred = self._torch.predict(images[start : start + batch_size], with_embeddings=True)
            outs.setdefault("probabilities", []).append(pred.probabilities)
            if pred.embeddings is not None:
                outs.setdefault("embeddings", []).append(pred.embeddings)
        return {k: np.concatenate(v) for k, v in outs.items()}

    def _predict_onnx(self, images: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
        from bucketscore.bundle.predictor import ONNXPredictor

        if self._onnx is None:
            self._onnx = ONNXPredictor(None, self.dir, "cpu", name=self.name)
        outs: dict[str, list] = {}
        for start in range(0, len(images), batch_size):
            pred = self._onnx.predict(images[start : start + batch_size], with_embeddings=True)
            outs.setdefault("probabilities", []).append(pred.probabilities)
            if pred.embeddings is not None:
                outs.setdefault("embeddings", []).append(pred.embeddings)
        return {k: np.concatenate(v) for k, v in outs.items()}

    def smoke_test(
        self, images: Optional[np.ndarray] = None, expect_probabilities: bool = True
    ) -> None:
        """One batch through the exported signature: shapes, label count, probabilities."""
        images = synthetic_images(self.spec, 4) if images is None else images
        try:
            out = self.predict(images)
        except Exception as e:  # noqa: BLE001
            raise ExportError(
                f"the exported model fails on a {self.spec.height}x"
                f"{self.spec.width}x{self.spec.channels} uint8 image: "
                f"{described(e)}"
            ) from None
        probs = out["probabilities"]
        k = len(self.labels)
        if probs.shape != (len(images), k):
            raise ExportError(
                f"the model returns probabilities of shape {probs.shape[1:]} per "
                f"batch of {len(images)}, but {k} labels were given"
            )
        if "embeddings" in out and out["embeddings"].shape[0] != len(images):
            raise ExportError(f"the embeddings have shape {out['embeddings'].shape}")
        if expect_probabilities:
            sums = probs.sum(axis=1)
            if (
                not np.all(np.isfinite(probs))
                or probs.min() < -1e-6
                or np.max(np.abs(sums - 1.0)) > PROBABILITY_SUM_TOLERANCE
            ):
                raise ExportError(
                    f"the model's outputs are not probabilities (row sums "
                    f"{sums.min():.3g}..{sums.max():.3g}, min {probs.min():.3g}): it probably "
                    f"returns logits; pass --softmax to add a softmax, or check the input "
                    f"scaling (--scale, --mean/--std, --preprocess)"
                )

    def add_onnx(
        self,
        calibration: Optional[np.ndarray] = None,
        *,
        opset: int = DEFAULT_OPSET,
        tolerance: float = PARITY_TOLERANCE,
    ) -> dict:
        """Convert to model.onnx and check parity on `calibration` (uint8 images)."""
        from bucketscore.model_export.onnx_export import OnnxExportError

        calibration = calibration_batch(self.spec) if calibration is None else calibration
        path = os.path.join(self.dir, ONNX_FILE)
        try:
            info = convert_saved_model(self.saved_model_dir, path, opset)
            report = check_parity(self.saved_model_dir, path, calibration, tolerance)
        except OnnxExportError as e:
            if os.path.exists(path):
                os.remove(path)
            raise ExportError(str(e)) from None
        self.onnx_report = {**info, **report}
        return self.onnx_report

    def add_bytes(self, rel: str, data: bytes) -> None:
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def add_text(self, rel: str, text: str) -> None:
        self.add_bytes(rel, text.encode("utf-8"))

    def add_file(self, rel: str, src: str) -> None:
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(src, path)

    # -- writing -----------------------------------------------------------------------------
    def seal(
        self,
        out_uri: str,
        *,
        metrics: Optional[dict] = None,
        extra: Optional[dict] = None,
        verify: bool = True,
    ) -> BundleMeta:
        """Write model.json + files to `out_uri`, then load it back and smoke-test it."""
        self._fn = self._loaded = self._onnx = self._torch = None
        outputs = ("probabilities", "embeddings") if self.embedding_dim else ("probabilities",)
        doc = dict(self.extra)
        doc.update(extra or {})
        if self.embedding_dim:
            doc["embedding_dim"] = int(self.embedding_dim)
        doc["onnx"] = (
            {"exported": True, **self.onnx_report} if self.onnx_report else {"exported": False}
        )
        meta = write_bundle(
            self.dir,
            out_uri,
            name=self.name,
            labels=self.labels,
            input_spec=self.spec,
            metrics=metrics,
            outputs=outputs,
            extra=doc,
        )
        if verify:
            verify_bundle(out_uri, meta)
        return meta


def verify_bundle(uri: str, meta: BundleMeta) -> None:
    """Load the written bundle (digests checked) with every backend it offers; predict once."""
    from bucketscore.bundle.meta import BundleError
    from bucketscore.bundle.predictor import load_predictor

    backends = list(meta.backends)  # tf (+ onnx) for bundles made here, onnx for imports
    probe = synthetic_images(meta.input, 2)
    for backend in backends:
        try:
            pred = load_predictor(uri, backend).predict(probe, with_embeddings=True)
        except BundleError as e:
            raise ExportError(
                f"the bundle written to {uri} does not load ({backend}): {e}"
            ) from None
        if pred.probabilities.shape != (2, len(meta.labels)):
            raise ExportError(
                f"the bundle at {uri} returns {pred.probabilities.shape} probabilities ({backend})"
            )
        if meta.has_embeddings and (
            pred.embeddings is None or pred.embeddings.shape != (2, meta.extra.get("embedding_dim"))
        ):
            raise ExportError(f"the bundle at {uri} returns no or misshapen embeddings ({backend})")
