"""bundle.predictor: TFPredictor and ONNXPredictor on a real bundle against a direct call of
its model, load_predictor's checks, choose_backend's rules and top_k."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from bucketscore.bundle.meta import BundleError, BundleMeta, InputSpec
from bucketscore.bundle.predictor import (
    BACKENDS,
    ONNXPredictor,
    TFPredictor,
    choose_backend,
    load_predictor,
    top_k,
)
from bucketscore.model_export.exporting import BundleBuilder


def test_auto_backend_prefers_onnx_and_falls_back_to_tf(demo_bundle, tmp_path):
    assert BACKENDS == ("auto", "tf", "onnx", "torch")
    assert isinstance(load_predictor(demo_bundle.model), ONNXPredictor)
    assert isinstance(load_predictor(demo_bundle.model, "tf"), TFPredictor)
    # The same model exported without ONNX: auto means tf, onnx is refused clearly.
    import keras

    from bucketscore.model_export.architectures import lenet

    spec = InputSpec(height=12, width=12, channels=1)
    with BundleBuilder(name="no-onnx", labels=["a", "b"], input_spec=spec) as b:
        b.add_keras(lenet(12, 12, 1, 2, augment=False))
        meta = b.seal(str(tmp_path / "b"))
    assert not meta.has_onnx and meta.extra["onnx"] == {"exported": False}
    assert meta.extra["embedding_dim"] == 500
    assert isinstance(load_predictor(str(tmp_path / "b")), TFPredictor)
    with pytest.raises(BundleError, match="has no model.onnx"):
        load_predictor(str(tmp_path / "b"), "onnx")
    with pytest.raises(BundleError, match=r"has no model.pt2 .*; use backend tf or auto$"):
        load_predictor(str(tmp_path / "b"), "torch")
    del keras


def _pixels(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)


def _direct(bundle: str, x: np.ndarray) -> dict:
    """The bundle's SavedModel signature called with TensorFlow itself."""
    import tensorflow as tf

    fn = tf.saved_model.load(os.path.join(bundle, "saved_model")).signatures["serving_default"]
    return {k: v.numpy() for k, v in fn(images=tf.constant(x)).items()}


def test_tf_predictor_gives_the_saved_models_own_outputs(demo_bundle):
    x = _pixels(7)
    want = _direct(demo_bundle.model, x)
    pred = load_predictor(demo_bundle.model, "tf", "cpu").predict(x, with_embeddings=True)
    assert pred.probabilities.dtype == np.float32 and pred.probabilities.shape == (7, 10)
    np.testing.assert_allclose(pred.probabilities, want["probabilities"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pred.embeddings, want["embeddings"], rtol=1e-6, atol=1e-6)
    alone = load_predictor(demo_bundle.model, "tf").predict(x[:1])
    assert alone.embeddings is None  # only when asked for
    np.testing.assert_allclose(alone.probabilities[0], want["probabilities"][0], atol=1e-6)


def test_onnx_predictor_gives_the_onnx_models_own_outputs(demo_bundle):
    import onnxruntime as ort

    x = _pixels(5, seed=1)
    session = ort.InferenceSession(
        os.path.join(demo_bundle.model, "model.onnx"), providers=["CPUExecutionProvider"]
    )
    probs, emb = session.run(["probabilities", "embeddings"], {"images": x})
    pred = load_predictor(demo_bundle.model, "onnx", "cpu").predict(x, with_embeddings=True)
    assert pred.probabilities.dtype == np.float32
    np.testing.assert_allclose(pred.probabilities, probs, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pred.embeddings, emb, rtol=1e-6, atol=1e-6)


def test_a_model_json_whose_labels_do_not_fit_the_model_is_refused(demo_bundle, tmp_path):
    """The version covers the files, not the labels: a model.json listing three labels for
    a ten-class model passes the digests, and load_predictor's probe catches it."""
    copy = tmp_path / "bundle"
    shutil.copytree(demo_bundle.model, copy)
    doc = json.loads((copy / "model.json").read_text())
    (copy / "model.json").write_text(json.dumps(dict(doc, labels=["a", "b", "c"])))
    for backend in ("tf", "onnx"):
        with pytest.raises(BundleError, match=r"shape \(1, 10\) for one image, but model.json"):
            load_predictor(str(copy), backend)


def test_a_bundle_whose_model_file_does_not_load_says_so(tmp_path):
    """model.onnx of garbage, sealed with its digest: the digests pass, loading does not."""
    from bucketscore.model_export.sealing import write_bundle

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "model.onnx").write_bytes(b"not a protobuf")
    meta = write_bundle(
        str(tmp_path / "src"),
        str(tmp_path / "b"),
        name="broken",
        labels=["a"],
        input_spec=InputSpec(4, 4, 1),
    )
    with pytest.raises(BundleError, match="cannot load the model.onnx of broken"):
        ONNXPredictor(meta, str(tmp_path / "b"))


def _meta(files, backends=None) -> BundleMeta:
    extra = {} if backends is None else {"backends": backends}
    return BundleMeta(
        name="m", version="v", labels=("a",), input=InputSpec(4, 4, 1), files=files, extra=extra
    )


def test_choose_backend():
    both = _meta({"saved_model/saved_model.pb": "x", "model.onnx": "x"})
    tf_only = _meta({"saved_model/saved_model.pb": "x"})
    onnx_only = _meta({"model.onnx": "x"}, backends=["onnx"])
    assert choose_backend(both) == "onnx"  # onnxruntime is installed here
    assert choose_backend(both, "tf") == "tf" and choose_backend(both, "onnx") == "onnx"
    assert choose_backend(tf_only) == "tf"
    assert choose_backend(onnx_only) == "onnx"
    with pytest.raises(BundleError, match="backend onnx: the bundle m has no model.onnx"):
        choose_backend(tf_only, "onnx")
    with pytest.raises(BundleError, match="backend tf: the bundle m has no saved_model/"):
        choose_backend(onnx_only, "tf")
    with pytest.raises(BundleError, match="none of saved_model/, model.onnx, model.pt2"):
        choose_backend(_meta({"notes.txt": "x"}))
    with pytest.raises(BundleError, match="backend torch: the bundle m has no model.pt2"):
        choose_backend(both, "torch")
    with pytest.raises(ValueError, match="backend must be one of"):
        choose_backend(both, "tflite")


def test_top_k_orders_by_probability_and_breaks_ties_by_label_order():
    labels = ["a", "b", "c", "d"]
    probs = np.array([0.1, 0.3, 0.3, 0.3], np.float32)
    got_labels, got_scores = top_k(probs, labels, 2)
    assert got_labels == ["b", "c"]  # three tied at 0.3: the first two in label order
    assert got_scores == pytest.approx([0.3, 0.3]) and all(isinstance(s, float) for s in got_scores)
    assert top_k(probs, labels, 10)[0] == ["b", "c", "d", "a"]  # k capped at the labels
    assert top_k(np.array([0.2, 0.8]), ["x", "y"], 1) == (["y"], [pytest.approx(0.8)])
