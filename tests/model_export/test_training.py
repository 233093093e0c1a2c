"""model_export.training, driven through `bucketscore train` and build_base: from scratch
(small CNN), transfer learning with a weights file, continuing a bundle with a new class,
and the errors people meet (the command's flag checks: tests/cli/commands/test_train.py)."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from bucketscore.cli.main import main
from tests.support.shapes import SHAPES, write_shapes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def _csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_small_cnn_on_coloured_shapes(shapes_bundle):
    meta, out = shapes_bundle.meta, shapes_bundle.path
    m = meta["metrics"]
    assert meta["labels"] == ["circle", "square", "triangle"]
    assert meta["input"] == {
        "height": 32,
        "width": 32,
        "channels": 3,
        "resize": "squash",
        "interpolation": "bilinear",
    }
    assert m["test_accuracy"] >= 0.9, shapes_bundle.output
    assert m["train_images"] + m["validation_images"] + m["test_images"] == 300
    assert m["test_images"] == 45  # 15% of each class, stratified
    assert [c["label"] for c in m["per_class"]] == meta["labels"]
    assert all(c["support"] == 15 for c in m["per_class"])
    assert meta["embedding_dim"] == 128 and meta["outputs"] == ["probabilities", "embeddings"]
    assert meta["training"]["augment"] == {
        "flip": "horizontal",
        "rotation": 0.0,
        "zoom": 0.0,
        "contrast": 0.1,
        "translate": 0.0,
    }
    # Curves: one row per epoch, train and validation loss/accuracy; the plot beside them.
    curves = _csv_rows(os.path.join(out, "training", "curves.csv"))
    assert len(curves) == m["epochs"] >= 1
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(curves[0])
    with open(os.path.join(out, "training", "curves.png"), "rb") as f:
        assert f.read(8) == PNG_MAGIC
    per_class = _csv_rows(os.path.join(out, "training", "per_class.csv"))
    assert [r["label"] for r in per_class] == meta["labels"]
    # The files are part of the bundle (digests in model.json).
    assert "training/curves.csv" in meta["files"]
    assert "test accuracy" in shapes_bundle.output
    print(
        f"small_cnn shapes: test accuracy {m['test_accuracy']:.4f}, "
        f"{m['epochs']} epochs, {m['train_seconds']} s fit, "
        f"{shapes_bundle.seconds:.1f} s command"
    )


def test_the_trained_bundle_predicts_what_the_keras_model_does(shapes_bundle):
    """Exported signature == model.keras on the same decoded pixels (no drift)."""
    import keras

    from bucketscore.bundle.images import decode_image
    from bucketscore.bundle.meta import read_meta
    from bucketscore.bundle.predictor import load_predictor
    from bucketscore.storage import uris
    from bucketscore.storage.listing import list_input

    meta = read_meta(shapes_bundle.path)
    images = sorted(i.uri for i in list_input(shapes_bundle.data))[::25]
    x = np.stack([decode_image(uris.read_bytes(u), meta.input)[0] for u in images])
    model = keras.saving.load_model(os.path.join(shapes_bundle.path, "model.keras"), safe_mode=True)
    expected = model.predict(x.astype("float32"), verbose=0)
    for backend in ("tf", "onnx"):
        got = load_predictor(shapes_bundle.path, backend).predict(x).probabilities
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_continue_training_appends_a_class(shapes_bundle, tmp_path, capsys):
    data = str(tmp_path / "more")
    write_shapes(data, 12, shapes=SHAPES, seed=7)  # circle, square, triangle + cross
    out = str(tmp_path / "v2")
    status = main(
        [
            "train",
            "--from",
            shapes_bundle.path,
            "--data",
            data,
            "--epochs",
            "3",
            "--batch_size",
            "16",
            "--learning_rate",
            "0.001",
            "--test_fraction",
            "0.2",
            "--no-onnx",
            "--out",
            out,
        ]
    )
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert "adding 1 class(es)" in printed.out and "cross" in printed.out
    meta = _read_json(os.path.join(out, "model.json"))
    assert meta["labels"] == ["circle", "square", "triangle", "cross"]
    assert meta["continued_from"]["version"] == shapes_bundle.meta["version"]
    assert meta["continued_from"]["added_labels"] == ["cross"]
    assert meta["input"] == shapes_bundle.meta["input"]
    assert meta["onnx"] == {"exported": False} and "model.onnx" not in meta["files"]
    # The old classes keep their output index: the new model still knows them.
    import keras

    old = keras.saving.load_model(os.path.join(shapes_bundle.path, "model.keras"))
    new = keras.saving.load_model(os.path.join(out, "model.keras"))
    assert new.output.shape[-1] == 4
    w_old = old.get_layer("probabilities").get_weights()[0]
    w_new = new.get_layer("probabilities").get_weights()[0]
    assert w_new.shape == (w_old.shape[0], 4)
    per = {c["label"]: c for c in meta["metrics"]["per_class"]}
    assert set(per) == {"circle", "square", "triangle", "cross"}
    assert meta["metrics"]["test_accuracy"] is not None


def test_continue_refuses_a_different_input_size(shapes_bundle, tmp_path, capsys):
    status = main(
        [
            "train",
            "--from",
            shapes_bundle.path,
            "--data",
            shapes_bundle.data,
            "--height",
            "64",
            "--out",
            str(tmp_path / "x"),
        ]
    )
    assert status == 1
    assert "--height 64" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Transfer learning
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_mobilenet_weights(tmp_path_factory) -> str:
    """Weights of a MobileNetV2 (alpha 0.35, no top) saved with save_weights: the stand-in
    for an ImageNet weights file (which cannot be downloaded here)."""
    import keras

    keras.utils.set_random_seed(3)
    base = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None
    )
    path = str(tmp_path_factory.mktemp("weights") / "mobilenet_v2_0.35_notop.weights.h5")
    base.save_weights(path)
    return path


def test_transfer_learning_loads_the_base_weights_file(tiny_mobilenet_weights, tmp_path, capsys):
    import keras

    from bucketscore.bundle.meta import sha256_file
    from bucketscore.bundle.predictor import load_predictor

    data = str(tmp_path / "shapes")
    write_shapes(data, 12, seed=3)
    out = str(tmp_path / "mnv2")
    status = main(
        [
            "train",
            "--data",
            data,
            "--architecture",
            "mobilenet_v2",
            "--alpha",
            "0.35",
            "--base_weights",
            tiny_mobilenet_weights,
            "--height",
            "32",
            "--width",
            "32",
            "--epochs",
            "2",
            "--fine_tune_layers",
            "6",
            "--fine_tune_epochs",
            "1",
            "--batch_size",
            "16",
            "--out",
            out,
        ]
    )
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert f"loaded the mobilenet_v2 base weights from {tiny_mobilenet_weights}" in printed.out
    assert "RANDOM" not in printed.out
    assert "fine-tuning:" in printed.out
    meta = _read_json(os.path.join(out, "model.json"))
    assert meta["architecture"] == "mobilenet_v2" and meta["alpha"] == 0.35
    assert meta["base_weights"] == {
        "source": tiny_mobilenet_weights,
        "sha256": sha256_file(tiny_mobilenet_weights),
    }
    assert meta["preprocess"] == "mobilenet_v2"
    assert meta["embedding_dim"] == 1280  # the pooled backbone features
    phases = [r["phase"] for r in _csv_rows(os.path.join(out, "training", "curves.csv"))]
    assert phases == ["head", "head", "fine_tune"]
    # The base in the bundle holds the file's weights: every layer below the fine-tuned
    # top was frozen throughout (BatchNormalization statistics included).
    reference = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None
    )
    reference.load_weights(tiny_mobilenet_weights)
    trained = keras.saving.load_model(os.path.join(out, "model.keras"), safe_mode=True)
    base = trained.get_layer("base")
    assert len(base.layers) == len(reference.layers)
    frozen = base.layers[:-6]
    for mine, ref in zip(frozen, reference.layers[:-6]):
        for a, b in zip(mine.get_weights(), ref.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert sum(len(layer.get_weights()) for layer in frozen) > 200
    # It scores with both backends, embeddings included.
    probe = np.zeros((2, 32, 32, 3), np.uint8)
    for backend in ("tf", "onnx"):
        pred = load_predictor(out, backend).predict(probe, with_embeddings=True)
        assert pred.probabilities.shape == (2, 3) and pred.embeddings.shape == (2, 1280)


def test_without_base_weights_the_command_says_the_base_is_random(tmp_path):
    from bucketscore.model_export.training import TrainConfig, build_base, input_spec_for

    cfg = TrainConfig(
        data=str(tmp_path),
        out=str(tmp_path / "m"),
        architecture="mobilenet_v2",
        alpha=0.35,
        height=32,
        width=32,
    )
    said = []
    base, weights = build_base(cfg, input_spec_for(cfg), said.append)
    assert weights == {"source": "random"}
    assert any("RANDOM weights" in s and "--base_weights" in s for s in said)


def test_imagenet_offline_is_a_clear_error(tmp_path, capsys, monkeypatch):
    """No network here: the download fails, and the command says what to do instead."""
    from keras.src.utils import file_utils

    def no_network(*args, **kwargs):
        raise Exception(
            "URL fetch failure on https://storage.googleapis.com/...: None -- "
            "[Errno -2] Name or service not known"
        )

    monkeypatch.setattr(file_utils, "get_file", no_network)
    data = str(tmp_path / "shapes")
    write_shapes(data, 3)
    status = main(
        [
            "train",
            "--data",
            data,
            "--architecture",
            "mobilenet_v2",
            "--alpha",
            "0.35",
            "--height",
            "32",
            "--width",
            "32",
            "--base_weights",
            "imagenet",
            "--out",
            str(tmp_path / "m"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 1
    assert "ImageNet weights of mobilenet_v2 cannot be downloaded here" in err
    assert "--base_weights PATH" in err
    assert "Traceback" not in err


def test_a_weights_file_for_another_network_is_a_clear_error(tmp_path, capsys):
    import keras

    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    path = str(tmp_path / "other.weights.h5")
    other.save_weights(path)
    data = str(tmp_path / "shapes")
    write_shapes(data, 3)
    status = main(
        [
            "train",
            "--data",
            data,
            "--architecture",
            "mobilenet_v2",
            "--alpha",
            "0.35",
            "--height",
            "32",
            "--width",
            "32",
            "--base_weights",
            path,
            "--out",
            str(tmp_path / "m"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 1
    assert f"--base_weights {path} does not fit the mobilenet_v2 base" in err


# ---------------------------------------------------------------------------------------
# Bucket in, bucket out
# ---------------------------------------------------------------------------------------
def test_train_from_and_to_an_s3_bucket(s3_server, tmp_path, capsys):
    from bucketscore.bundle.predictor import load_predictor
    from bucketscore.storage import uris
    from tests.support.storage_servers import unique_bucket_name

    bucket = s3_server.create_bucket(unique_bucket_name("train"))
    client = s3_server.boto3_client()
    local = tmp_path / "digits"
    write_shapes(str(local), 10, seed=11)
    # Split folders as users bring them: train/ and test/ (validation carved from train/).
    for i, path in enumerate(sorted(p for p in local.rglob("*.png"))):
        split = "test" if i % 5 == 0 else "train"
        rel = path.relative_to(local).as_posix()
        client.put_object(Bucket=bucket, Key=f"data/{split}/{rel}", Body=path.read_bytes())
    out = f"s3://{bucket}/models/shapes-lenet"
    flags = s3_server.beam_options()
    status = main(
        [
            "train",
            "--data",
            f"s3://{bucket}/data/",
            "--architecture",
            "lenet",
            "--height",
            "16",
            "--width",
            "16",
            "--epochs",
            "2",
            "--out",
            out,
            *flags,
        ]
    )
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert "carving it out of train/" in printed.out
    keys = {
        o["Key"]
        for o in client.list_objects_v2(Bucket=bucket, Prefix="models/shapes-lenet/")["Contents"]
    }
    assert {
        "models/shapes-lenet/model.json",
        "models/shapes-lenet/model.onnx",
        "models/shapes-lenet/model.keras",
        "models/shapes-lenet/training/curves.png",
    } <= keys
    meta = json.loads(
        client.get_object(Bucket=bucket, Key="models/shapes-lenet/model.json")["Body"].read()
    )
    assert meta["dataset"]["layout"] == "folders+splits"
    assert meta["metrics"]["test_images"] == 6  # every fifth file went to test/
    assert meta["input"]["channels"] == 1  # lenet: grey by default
    uris.set_options(flags)
    pred = load_predictor(out, "auto").predict(np.zeros((1, 16, 16, 1), np.uint8))
    assert pred.probabilities.shape == (1, 3)


def test_base_weights_from_a_bucket(s3_server, tiny_mobilenet_weights):
    from bucketscore.model_export.training import TrainConfig, build_base, input_spec_for
    from bucketscore.storage import uris
    from tests.support.storage_servers import unique_bucket_name

    bucket = s3_server.create_bucket(unique_bucket_name("weights"))
    with open(tiny_mobilenet_weights, "rb") as f:
        s3_server.boto3_client().put_object(Bucket=bucket, Key="w/mnv2.weights.h5", Body=f.read())
    uris.set_options(s3_server.beam_options())
    uri = f"s3://{bucket}/w/mnv2.weights.h5"
    cfg = TrainConfig(
        data="unused",
        out="unused",
        architecture="mobilenet_v2",
        alpha=0.35,
        height=32,
        width=32,
        base_weights=uri,
    )
    said = []
    base, record = build_base(cfg, input_spec_for(cfg), said.append)
    assert record["source"] == uri and said == [f"loaded the mobilenet_v2 base weights from {uri}"]
    import keras

    reference = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None
    )
    reference.load_weights(tiny_mobilenet_weights)
    for a, b in zip(base.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_efficientnet_imagenet_statistics_get_keras_extra_rescaling(tmp_path):
    """A weights file with ImageNet input statistics behaves as keras' weights='imagenet':
    (x/255 - mean) / std / sqrt(std) after the Normalization step."""
    import keras

    from bucketscore.model_export.scaling import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB
    from bucketscore.model_export.training import TrainConfig, build_base, input_spec_for

    donor = keras.applications.EfficientNetB0(
        input_shape=(32, 32, 3), include_top=False, weights=None
    )
    norm = next(la for la in donor.layers if isinstance(la, keras.layers.Normalization))
    _mean, var, count = norm.get_weights()
    mean = np.asarray(IMAGENET_MEAN_RGB, np.float32).reshape(var.shape)
    std = np.asarray(IMAGENET_STD_RGB, np.float32).reshape(var.shape)
    norm.set_weights([mean, std**2, count])
    path = str(tmp_path / "effnet.weights.h5")
    donor.save_weights(path)
    cfg = TrainConfig(
        data="unused",
        out="unused",
        architecture="efficientnet_b0",
        height=32,
        width=32,
        base_weights=path,
    )
    said = []
    base, _ = build_base(cfg, input_spec_for(cfg), said.append)
    assert any("extra input rescaling" in s for s in said)
    layer = next(la for la in base.layers if isinstance(la, keras.layers.Normalization))
    x = np.random.default_rng(0).uniform(0, 1, (2, 4, 4, 3)).astype("float32")
    want = (x - mean) / std / np.sqrt(std)
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-4, atol=1e-5)
