"""model.onnx: same function as the SavedModel (parity recorded, enforced at export), and the
predictor's backends."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bucketscore.bundle.meta import BundleError, InputSpec, read_meta
from bucketscore.bundle.predictor import BACKENDS, ONNXPredictor, TFPredictor, load_predictor
from bucketscore.model_export.exporting import BundleBuilder, ExportError


def _demo_pixels(demo_bundle, limit=None):
    from bucketscore.bundle.images import decode_image

    paths = sorted(
        os.path.join(root, n) for root, _d, files in os.walk(demo_bundle.data) for n in files
    )[:limit]
    spec = read_meta(demo_bundle.model).input
    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(decode_image(f.read(), spec)[0])
    return np.stack(out)


def test_demo_bundle_onnx_matches_the_saved_model_on_every_demo_image(demo_bundle):
    meta = read_meta(demo_bundle.model)
    report = meta.extra["onnx"]
    assert report["exported"] and report["opset"] >= 13
    assert report["max_abs_diff"]["probabilities"] <= report["tolerance"] == 1e-4
    assert report["calibration_images"] >= 8 and report["top1_agreement"] == 1.0
    x = _demo_pixels(demo_bundle)
    tf_pred = load_predictor(demo_bundle.model, "tf").predict(x, with_embeddings=True)
    ort_pred = load_predictor(demo_bundle.model, "onnx").predict(x, with_embeddings=True)
    diff = np.abs(tf_pred.probabilities - ort_pred.probabilities).max()
    assert diff <= 1e-4
    assert (tf_pred.probabilities.argmax(1) == ort_pred.probabilities.argmax(1)).all()
    np.testing.assert_allclose(ort_pred.embeddings, tf_pred.embeddings, rtol=1e-4, atol=1e-4)
    print(
        f"demo ONNX parity on {len(x)} demo images: max |diff| {diff:.2e} "
        f"(export calibration: {report['max_abs_diff']['probabilities']:.2e})"
    )


def test_the_onnx_model_takes_uint8_images_and_names_its_outputs(demo_bundle):
    from bucketscore.bundle.onnx_runtime import ort_session

    session = ort_session(os.path.join(demo_bundle.model, "model.onnx"))
    (inp,) = session.get_inputs()
    assert inp.name == "images" and inp.type == "tensor(uint8)"
    assert inp.shape[1:] == [28, 28, 1]
    assert sorted(o.name for o in session.get_outputs()) == ["embeddings", "probabilities"]


def test_auto_backend_prefers_onnx_and_falls_back_to_tf(demo_bundle, tmp_path):
    assert BACKENDS == ("auto", "tf", "onnx")
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
    with pytest.raises(ValueError):
        load_predictor(str(tmp_path / "b"), "torch")
    del keras


def test_onnx_threads_come_from_the_environment(monkeypatch):
    from bucketscore.bundle.onnx_runtime import ort_threads

    monkeypatch.delenv("BUCKETSCORE_ONNX_THREADS", raising=False)
    assert ort_threads() == 2
    monkeypatch.setenv("BUCKETSCORE_ONNX_THREADS", "1")
    assert ort_threads() == 1


def test_export_fails_when_parity_is_exceeded(tmp_path):
    """A tolerance nothing can meet stands in for a converter that changes the function."""
    from bucketscore.model_export.architectures import small_cnn

    spec = InputSpec(height=16, width=16, channels=3)
    with BundleBuilder(name="x", labels=["a", "b", "c"], input_spec=spec) as b:
        b.add_keras(small_cnn(16, 16, 3, 3))
        with pytest.raises(ExportError, match="ONNX parity check failed.*--no-onnx"):
            b.add_onnx(tolerance=-1.0)
        assert not os.path.exists(os.path.join(b.dir, "model.onnx"))
        report = b.add_onnx()  # the real tolerance passes
        assert report["max_abs_diff"]["probabilities"] <= 1e-4
