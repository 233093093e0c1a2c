"""model_export.user_models, driven through `bucketscore export`: a user's Keras model or
SavedModel round trip, scaling inside the bundle, embeddings, and clear errors when the
model does not fit (the command's own flag checks: tests/cli/commands/test_export.py)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from bucketscore.cli.main import main

LABELS = ["cat", "dog", "fox"]


def _labels_file(tmp_path, labels=LABELS) -> str:
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(labels) + "\n")
    return str(path)


def _user_model(input_shape=(24, 20, 3), outputs=3, softmax=True, name="user_net"):
    """What a user brings: expects floats in 0..1, penultimate Dense named `features`."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(16, activation="relu", name="features")(x)
    x = layers.Dropout(0.1)(x)
    out = layers.Dense(outputs, activation="softmax" if softmax else None, name="scores")(x)
    return keras.Model(inputs, out, name=name)


def _images(n, h, w, c, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


def _meta(out):
    with open(os.path.join(out, "model.json")) as f:
        return json.load(f)


def test_keras_model_round_trip(tmp_path, capsys):
    import keras

    from bucketscore.bundle.predictor import load_predictor

    user = _user_model()
    src = str(tmp_path / "user_net.keras")
    user.save(src)
    out = str(tmp_path / "bundle")
    status = main(
        [
            "export",
            "--keras",
            src,
            "--labels",
            _labels_file(tmp_path),
            "--scale",
            "1/255",
            "--resize",
            "crop",
            "--out",
            out,
        ]
    )
    printed = capsys.readouterr()
    assert status == 0, printed.err
    meta = _meta(out)
    assert meta["name"] == "user_net"
    assert meta["labels"] == LABELS
    assert meta["input"] == {
        "height": 24,
        "width": 20,
        "channels": 3,
        "resize": "crop",
        "interpolation": "bilinear",
    }
    assert meta["outputs"] == ["probabilities", "embeddings"] and meta["embedding_dim"] == 16
    assert meta["scaling"]["scale"] == pytest.approx(1 / 255)
    assert meta["source"]["format"] == "keras" and meta["source"]["uri"] == src
    assert meta["onnx"]["exported"] and meta["onnx"]["max_abs_diff"]["probabilities"] <= 1e-4
    assert {"model.onnx", "model.keras"} <= set(meta["files"])

    x = _images(6, 24, 20, 3)
    expected = user.predict(x.astype("float32") / 255.0, verbose=0)
    features = keras.Model(user.inputs, user.get_layer("features").output)
    expected_emb = features.predict(x.astype("float32") / 255.0, verbose=0)
    for backend in ("tf", "onnx"):
        pred = load_predictor(out, backend).predict(x, with_embeddings=True)
        np.testing.assert_allclose(pred.probabilities, expected, atol=1e-5)
        np.testing.assert_allclose(pred.embeddings, expected_emb, rtol=1e-4, atol=1e-5)
    # model.keras is the wrapped model (scaling inside): it loads safely and takes 0..255.
    wrapped = keras.saving.load_model(os.path.join(out, "model.keras"), safe_mode=True)
    np.testing.assert_allclose(wrapped.predict(x.astype("float32"), verbose=0), expected, atol=1e-5)


def test_preprocess_by_name_matches_keras_preprocess_input(tmp_path, capsys):
    """--preprocess resnet50 (caffe: RGB->BGR, mean subtracted) gives Keras' own numbers."""
    import keras

    from bucketscore.bundle.predictor import load_predictor

    user = _user_model((16, 16, 3))
    src = str(tmp_path / "net.h5")
    user.save(src)  # legacy HDF5 as well
    out = str(tmp_path / "bundle")
    assert (
        main(
            [
                "export",
                "--keras",
                src,
                "--labels",
                _labels_file(tmp_path),
                "--preprocess",
                "resnet50",
                "--no-onnx",
                "--out",
                out,
            ]
        )
        == 0
    ), capsys.readouterr().err
    x = _images(4, 16, 16, 3, seed=1)
    want = user.predict(
        keras.applications.resnet50.preprocess_input(x.astype("float32")), verbose=0
    )
    got = load_predictor(out, "tf").predict(x).probabilities
    np.testing.assert_allclose(got, want, atol=1e-5)
    meta = _meta(out)
    assert meta["scaling"]["preprocess"] == "resnet50" and "model.onnx" not in meta["files"]


def test_mean_std_and_dynamic_size(tmp_path, capsys):
    from bucketscore.bundle.predictor import load_predictor

    user = _user_model((None, None, 3))
    src = str(tmp_path / "dyn.keras")
    user.save(src)
    out = str(tmp_path / "bundle")
    common = [
        "export",
        "--keras",
        src,
        "--labels",
        _labels_file(tmp_path),
        "--scale",
        "1/255",
        "--mean",
        "0.485,0.456,0.406",
        "--std",
        "0.229,0.224,0.225",
        "--out",
        out,
    ]
    assert main(common) == 1
    assert "dynamic height" in capsys.readouterr().err
    assert main(common + ["--height", "20", "--width", "28", "--no-onnx"]) == 0
    x = _images(3, 20, 28, 3, seed=2)
    scaled = (x.astype("float32") / 255.0 - np.array([0.485, 0.456, 0.406], "float32")) / np.array(
        [0.229, 0.224, 0.225], "float32"
    )
    np.testing.assert_allclose(
        load_predictor(out, "tf").predict(x).probabilities,
        user.predict(scaled, verbose=0),
        atol=1e-5,
    )


def test_logits_need_softmax(tmp_path, capsys):
    from bucketscore.bundle.predictor import load_predictor

    user = _user_model((12, 12, 1), softmax=False)
    src = str(tmp_path / "logits.keras")
    user.save(src)
    args = [
        "export",
        "--keras",
        src,
        "--labels",
        _labels_file(tmp_path),
        "--scale",
        "1/255",
        "--no-onnx",
        "--out",
        str(tmp_path / "b"),
    ]
    # Random weights give logits of both signs: not probabilities.
    assert main(args) == 1
    assert "--softmax" in capsys.readouterr().err
    assert main(args + ["--softmax"]) == 0
    probs = load_predictor(str(tmp_path / "b"), "tf").predict(_images(3, 12, 12, 1)).probabilities
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert not os.path.exists(tmp_path / "nothing")


@pytest.mark.parametrize(
    "case", ["label_count", "not_an_image", "lambda", "labels_dupes", "five_channels"]
)
def test_models_that_do_not_fit_give_clear_errors(case, tmp_path, capsys):
    import keras
    from keras import layers

    labels = LABELS
    if case == "label_count":
        model, labels = _user_model(), LABELS + ["owl"]
        expect = "the model has 3 outputs but 4 labels were given"
    elif case == "not_an_image":
        model = keras.Sequential([keras.Input((10,)), layers.Dense(3, activation="softmax")])
        expect = "not an image batch"
    elif case == "lambda":
        inputs = keras.Input((8, 8, 3))
        x = layers.Lambda(lambda t: t * 2.0)(inputs)
        x = layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, layers.Dense(3, activation="softmax")(x))
        expect = "safe_mode=True"
    elif case == "labels_dupes":
        model, labels = _user_model(), ["cat", "dog", "cat"]
        expect = "repeats cat"
    else:
        model = _user_model((8, 8, 5))
        expect = "has 5 channels"
    src = str(tmp_path / "m.keras")
    model.save(src)
    out = tmp_path / "bundle"
    status = main(
        ["export", "--keras", src, "--labels", _labels_file(tmp_path, labels), "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert status == 1, err
    assert expect in err
    assert "Traceback" not in err
    assert not out.exists()  # nothing written


def test_saved_model_round_trip(tmp_path, capsys):
    """A SavedModel (Keras' model.export) with float input; embeddings from a named output."""
    import keras
    import tensorflow as tf

    from bucketscore.bundle.predictor import load_predictor

    user = _user_model((16, 16, 3))
    both = keras.Model(
        user.inputs, {"scores": user.output, "features": user.get_layer("features").output}
    )
    src = str(tmp_path / "exported")
    both.export(src, format="tf_saved_model", verbose=False)
    out = str(tmp_path / "bundle")
    args = [
        "export",
        "--saved_model",
        src,
        "--labels",
        _labels_file(tmp_path),
        "--preprocess",
        "mobilenet_v2",
        "--out",
        out,
    ]
    assert main(args) == 1  # two outputs: which one holds the scores?
    assert "--output_key" in capsys.readouterr().err
    assert main(args + ["--output_key", "scores", "--embedding_output", "features"]) == 0, (
        capsys.readouterr().err
    )
    meta = _meta(out)
    assert meta["source"]["format"] == "saved_model"
    assert meta["source"]["output_key"] == "scores"
    assert meta["embedding_dim"] == 16 and "model.keras" not in meta["files"]
    assert meta["onnx"]["max_abs_diff"]["probabilities"] <= 1e-4
    x = _images(5, 16, 16, 3, seed=4)
    scaled = x.astype("float32") / 127.5 - 1.0
    want = user.predict(scaled, verbose=0)
    want_emb = keras.Model(user.inputs, user.get_layer("features").output).predict(
        scaled, verbose=0
    )
    for backend in ("tf", "onnx"):
        pred = load_predictor(out, backend).predict(x, with_embeddings=True)
        np.testing.assert_allclose(pred.probabilities, want, atol=1e-5)
        np.testing.assert_allclose(pred.embeddings, want_emb, rtol=1e-4, atol=1e-5)
    assert tf.saved_model.contains_saved_model(os.path.join(out, "saved_model"))


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_export_from_and_to_a_bucket(scheme, request, tmp_path, capsys):
    """The model and labels read from a bucket, the bundle written to one (S3 and GCS)."""
    from bucketscore.bundle.predictor import load_predictor
    from bucketscore.storage import uris
    from tests.support.storage_servers import unique_bucket_name

    bucket = unique_bucket_name("export")
    if scheme == "s3":
        server = request.getfixturevalue("s3_server")
        server.create_bucket(bucket)
        client = server.boto3_client()
        flags = server.beam_options()

        def put(key, data):
            client.put_object(Bucket=bucket, Key=key, Body=data)

        def keys(prefix):
            return {
                o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
            }
    else:
        server = request.getfixturevalue("gcs_server")
        gcs = server.client()
        gcs.create_bucket(bucket)
        flags = []

        def put(key, data):
            gcs.bucket(bucket).blob(key).upload_from_string(data)

        def keys(prefix):
            return {b.name for b in gcs.list_blobs(bucket, prefix=prefix)}

    user = _user_model((16, 16, 3))
    src = tmp_path / "net.keras"
    user.save(str(src))
    put("incoming/net.keras", src.read_bytes())
    put("incoming/labels.txt", "\n".join(LABELS).encode())
    out = f"{scheme}://{bucket}/models/net"
    status = main(
        [
            "export",
            "--keras",
            f"{scheme}://{bucket}/incoming/net.keras",
            "--labels",
            f"{scheme}://{bucket}/incoming/labels.txt",
            "--scale",
            "1/255",
            "--name",
            "net-v1",
            "--out",
            out,
            *flags,
        ]
    )
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert {
        "models/net/model.json",
        "models/net/model.onnx",
        "models/net/model.keras",
        "models/net/saved_model/saved_model.pb",
    } <= keys("models/net/")
    uris.set_options(flags)
    x = _images(2, 16, 16, 3)
    got = load_predictor(out, "onnx").predict(x).probabilities
    np.testing.assert_allclose(got, user.predict(x.astype("float32") / 255, verbose=0), atol=1e-5)


def test_a_saved_model_with_an_op_onnx_lacks_fails_in_one_line(tmp_path, capsys):
    """tf2onnx keeps an op it cannot convert; the model.onnx does not load: exit 1 with the
    way out (--no-onnx), no traceback; with --no-onnx the bundle is written."""
    import tensorflow as tf

    class Odd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4, 4, 1], tf.float32, name="x")])
        def serve(self, x):
            probs = tf.nn.softmax(tf.reshape(x, [-1, 16]))
            digest = tf.strings.to_hash_bucket_fast(tf.strings.as_string(x[:, 0, 0, 0]), 7)
            return {
                "probabilities": probs,
                "hash": tf.reshape(tf.cast(digest, tf.float32), [-1, 1]),
            }

    module = Odd()
    src = str(tmp_path / "odd")
    tf.saved_model.save(module, src, signatures={"serving_default": module.serve})
    labels = _labels_file(tmp_path, [f"c{i}" for i in range(16)])
    args = ["export", "--saved_model", src, "--labels", labels, "--output_key", "probabilities"]
    args += ["--embedding_output", "hash", "--out", str(tmp_path / "b")]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not load in ONNX Runtime" in err[0] and "--no-onnx" in err[0]
    assert not (tmp_path / "b").exists()
    assert main(args + ["--no-onnx"]) == 0, capsys.readouterr().err
    assert _meta(str(tmp_path / "b"))["backends"] == ["tf"]
