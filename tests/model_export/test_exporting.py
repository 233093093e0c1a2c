"""model_export.exporting.BundleBuilder: the one path every bundle is written through
(saved_model/ + model.keras + model.onnx, extra files, model.json), the checks it makes on
the way, and the synthetic images it smoke-tests and calibrates with."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from bucketscore.bundle.meta import InputSpec
from bucketscore.model_export.exporting import (
    BundleBuilder,
    ExportError,
    calibration_batch,
    synthetic_images,
)


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


def test_synthetic_images_are_noise_black_white_grey_and_a_ramp():
    spec = InputSpec(5, 6, 3)
    x = synthetic_images(spec, 8, seed=1)
    assert x.shape == (8, 5, 6, 3) and x.dtype == np.uint8
    assert (x[4] == 0).all() and (x[5] == 255).all() and (x[6] == 128).all()
    np.testing.assert_array_equal(x[7][0, :, 0], [0, 51, 102, 153, 204, 255])  # 255/5 steps
    assert len({x[i].tobytes() for i in range(4)}) == 4  # four different noise images
    np.testing.assert_array_equal(synthetic_images(spec, 8, seed=1), x)  # seeded
    assert synthetic_images(spec, 2).shape == (2, 5, 6, 3)


def test_calibration_spreads_real_images_evenly_then_adds_synthetic_ones():
    spec = InputSpec(2, 2, 1)
    real = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)
    batch = calibration_batch(spec, real, n=4)
    # 4 of 10, evenly: indices round(linspace(0, 9, 4)) = 0, 3, 6, 9; then 8 synthetic.
    assert batch.shape == (12, 2, 2, 1)
    assert [int(batch[i, 0, 0, 0]) for i in range(4)] == [0, 3, 6, 9]
    np.testing.assert_array_equal(batch[4:], synthetic_images(spec, 8, 0))
    assert calibration_batch(spec).shape == (8, 2, 2, 1)  # no real images: synthetic only


def _dense_net(inputs: int = 3, classes: int = 2, activation="softmax"):
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    x = keras.Input((4, 4, inputs))
    h = layers.GlobalAveragePooling2D()(layers.Rescaling(1 / 255)(x))
    h = layers.Dense(6, activation="relu", name="features")(h)
    return keras.Model(x, layers.Dense(classes, activation=activation)(h))


def test_seal_writes_everything_added_with_its_digest(tmp_path):
    spec = InputSpec(4, 4, 3)
    model = _dense_net()
    with BundleBuilder(name="tiny", labels=["a", "b"], input_spec=spec) as b:
        assert b.add_keras(model) == 6  # embeddings: the input of the last Dense layer
        b.add_text("training/curves.csv", "epoch,loss\n1,0.5\n")
        b.add_bytes("training/curves.png", b"\x89PNG fake")
        x = synthetic_images(spec, 5)
        shipped = b.predict(x)
        folder = b.dir
        meta = b.seal(str(tmp_path / "bundle"), metrics={"test_accuracy": 0.5}, extra={"k": 1})
    assert not os.path.exists(folder)  # the temporary folder is gone
    np.testing.assert_allclose(
        shipped["probabilities"], model.predict(x.astype("float32"), verbose=0), atol=1e-6
    )
    assert shipped["embeddings"].shape == (5, 6)
    doc = json.loads((tmp_path / "bundle" / "model.json").read_text())
    assert doc["files"]["training/curves.csv"] == hashlib.sha256(b"epoch,loss\n1,0.5\n").hexdigest()
    assert doc["files"]["training/curves.png"] == hashlib.sha256(b"\x89PNG fake").hexdigest()
    assert {"model.keras", "saved_model/saved_model.pb"} <= set(doc["files"])
    assert doc["outputs"] == ["probabilities", "embeddings"] and doc["embedding_dim"] == 6
    assert doc["onnx"] == {"exported": False} and doc["backends"] == ["tf"]
    assert doc["k"] == 1 and doc["metrics"] == {"test_accuracy": 0.5}
    assert meta.version == doc["version"]


def test_a_model_that_does_not_fit_the_labels_or_the_input_is_refused():
    with BundleBuilder(name="x", labels=["a", "b", "c"], input_spec=InputSpec(4, 4, 3)) as b:
        with pytest.raises(ExportError, match="the model has 2 outputs but 3 labels"):
            b.add_keras(_dense_net(classes=2))
    with BundleBuilder(name="x", labels=["a", "b"], input_spec=InputSpec(4, 4, 1)) as b:
        with pytest.raises(ExportError, match="has channels 3, but the bundle was asked for 1"):
            b.add_keras(_dense_net(inputs=3))


def test_logits_are_not_probabilities():
    with BundleBuilder(name="x", labels=["a", "b"], input_spec=InputSpec(4, 4, 3)) as b:
        with pytest.raises(ExportError, match="not probabilities .* --softmax"):
            b.add_keras(_dense_net(activation=None))


def test_the_temporary_folder_goes_away_when_an_error_leaves_the_block():
    with pytest.raises(ExportError):
        with BundleBuilder(name="x", labels=["a"], input_spec=InputSpec(4, 4, 3)) as b:
            folder = b.dir
            assert os.path.isdir(folder)
            b.add_keras(_dense_net(classes=2))
    assert not os.path.exists(folder)
