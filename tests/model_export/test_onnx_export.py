"""model_export.onnx_export: the SavedModel's signature converted to model.onnx (uint8
`images` in, the same named outputs), and the parity check that records the differences and
refuses a model.onnx that computes something else."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bucketscore.bundle.meta import read_meta
from bucketscore.bundle.predictor import load_predictor
from bucketscore.model_export.onnx_export import (
    OnnxExportError,
    check_parity,
    convert_saved_model,
)


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


@pytest.fixture(scope="module")
def tiny_saved_model(tmp_path_factory) -> str:
    """A small Keras CNN (scaling inside, Dense `features` before the softmax) exported as a
    bundle SavedModel: uint8 images 10x12x3 in, probabilities and embeddings out."""
    import keras
    from keras import layers

    from bucketscore.model_export.serving import export_saved_model

    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 12, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(5, activation="relu", name="features")(x)
    out = layers.Dense(3, activation="softmax")(x)
    path = str(tmp_path_factory.mktemp("tiny") / "saved_model")
    export_saved_model(keras.Model(inputs, out), path, 10, 12, 3, embedding_layer="features")
    return path


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 10, 12, 3), dtype=np.uint8)


def test_conversion_and_parity_report_against_both_models_run_here(tiny_saved_model, tmp_path):
    import onnxruntime as ort
    import tensorflow as tf

    onnx_path = str(tmp_path / "model.onnx")
    info = convert_saved_model(tiny_saved_model, onnx_path, opset=15)
    assert info["opset"] == 15 and info["converter"].startswith("tf2onnx ")
    x = _images(6)
    report = check_parity(tiny_saved_model, onnx_path, x, tolerance=1e-4)
    # The same figures, computed here from a direct call of each model.
    fn = tf.saved_model.load(tiny_saved_model).signatures["serving_default"]
    want = {k: v.numpy() for k, v in fn(images=tf.constant(x)).items()}
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": x})))
    assert set(got) == {"probabilities", "embeddings"}
    for key in ("probabilities", "embeddings"):
        diff = float(np.max(np.abs(got[key].astype(np.float64) - want[key])))
        assert report["max_abs_diff"][key] == pytest.approx(diff, abs=1e-12)
    assert report["max_abs_diff"]["probabilities"] <= 1e-4
    agree = float(np.mean(got["probabilities"].argmax(1) == want["probabilities"].argmax(1)))
    assert report["top1_agreement"] == agree
    assert (report["calibration_images"], report["tolerance"]) == (6, 1e-4)


def test_parity_over_the_tolerance_is_an_error(tiny_saved_model, tmp_path):
    onnx_path = str(tmp_path / "model.onnx")
    convert_saved_model(tiny_saved_model, onnx_path)
    with pytest.raises(OnnxExportError, match="ONNX parity check failed.*on 3 calibration"):
        check_parity(tiny_saved_model, onnx_path, _images(3), tolerance=-1.0)


def test_an_onnx_model_with_another_input_is_refused(tiny_saved_model, tmp_path):
    """A model.onnx that does not take uint8 `images` (a float `input.1`, as PyTorch
    exports) is not the SavedModel converted."""
    from tests.support.onnx_models import classifier

    path = classifier(str(tmp_path / "other.onnx"), height=10, width=12)
    with pytest.raises(OnnxExportError, match="not images uint8"):
        check_parity(tiny_saved_model, path, _images(2))


def test_a_model_with_an_op_onnx_lacks_is_an_export_error(tmp_path):
    """tf2onnx converts a graph with an op it has no conversion for by keeping the op
    (it only logs): the model.onnx does not load, and the parity check says so as an
    OnnxExportError that names --no-onnx (before the fix: ONNX Runtime's InvalidGraph,
    a traceback from `bucketscore export`)."""
    import tensorflow as tf

    class Odd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4, 4, 1], tf.uint8, name="images")])
        def serve(self, images):
            x = tf.cast(images, tf.float32)
            probs = tf.nn.softmax(tf.reshape(x, [-1, 16]))
            digest = tf.strings.to_hash_bucket_fast(tf.strings.as_string(x[:, 0, 0, 0]), 7)
            return {"probabilities": probs, "hash": tf.cast(digest, tf.float32)}

    module = Odd()
    path = str(tmp_path / "odd")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    onnx_path = str(tmp_path / "model.onnx")
    convert_saved_model(path, onnx_path)
    with pytest.raises(OnnxExportError, match="does not load in ONNX Runtime.*--no-onnx"):
        check_parity(path, onnx_path, np.zeros((2, 4, 4, 1), np.uint8))
