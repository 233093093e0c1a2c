"""model_export.digits_demo: the demo model and bucket: real digits, held-out split, accuracy
recorded in model.json, the PNGs written from scikit-learn's 8x8 scans (`bucketscore demo`
itself: tests/cli/commands/test_demo.py)."""

import io
import os

import numpy as np

from bucketscore.bundle.meta import read_meta
from bucketscore.model_export.digits_demo import demo_ready, digit_png, load_split


def test_demo_bundle_accuracy_and_contents(demo_bundle):
    meta = read_meta(demo_bundle.model)
    assert meta.metrics["test_accuracy"] >= 0.97
    assert list(meta.labels) == [str(d) for d in range(10)]
    assert (meta.input.height, meta.input.width, meta.input.channels) == (28, 28, 1)
    assert "saved_model/saved_model.pb" in meta.files


def test_demo_bucket_is_the_held_out_split(demo_bundle):
    _images, target, train, val, test = load_split()
    found = {}
    for label in os.listdir(demo_bundle.data):
        for name in os.listdir(os.path.join(demo_bundle.data, label)):
            found[int(name[6:10])] = label
    assert sorted(found) == sorted(int(i) for i in test)
    assert all(found[i] == str(target[i]) for i in found)
    assert not set(found) & (set(train.tolist()) | set(val.tolist()))
    assert read_meta(demo_bundle.model).metrics["test_images"] == len(found)


def test_lenet_on_the_digits_reaches_97_percent(demo_bundle):
    """The demo bundle (LeNet on scikit-learn's digits, trained once per session)."""
    meta = demo_bundle.meta
    assert meta.metrics["test_accuracy"] >= 0.97
    assert meta.metrics["test_images"] == 450
    assert meta.extra["architecture"] == "lenet"
    assert meta.extra["embedding_dim"] == 500
    assert meta.outputs == ("probabilities", "embeddings")
    assert {"model.onnx", "model.keras"} <= set(meta.files)
    assert meta.extra["onnx"]["exported"] is True
    assert meta.extra["onnx"]["max_abs_diff"]["probabilities"] <= 1e-4


def test_a_digit_becomes_a_32x32_grey_png_white_on_black():
    from PIL import Image

    scan = np.zeros((8, 8))
    scan[:, :4] = 16  # left half full ink
    img = Image.open(io.BytesIO(digit_png(scan)))
    assert (img.format, img.mode, img.size) == ("PNG", "L", (32, 32))
    px = np.asarray(img)
    assert (px[:, :12] == 255).all() and (px[:, 20:] == 0).all()  # 16 -> 255, 0 -> 0
    blank = np.asarray(Image.open(io.BytesIO(digit_png(np.full((8, 8), 8)))))
    assert (blank == 128).all()  # 8/16 of 255, rounded


def test_load_split_is_seeded_stratified_and_a_partition():
    images, target, train, val, test = load_split()
    assert images.shape == (1797, 8, 8)
    everything = np.concatenate([train, val, test])
    assert sorted(everything.tolist()) == list(range(1797))
    assert len(test) == 450  # 25 %
    counts = np.bincount(target[test], minlength=10)
    assert np.all(np.abs(counts - np.bincount(target) / 4) <= 1)  # every digit in proportion
    again = load_split()
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again[2:]))


def test_demo_ready_needs_both_the_bundle_and_the_images(demo_bundle, tmp_path):
    assert demo_ready(demo_bundle.model, demo_bundle.data)
    assert not demo_ready(str(tmp_path / "no-model"), demo_bundle.data)
    (tmp_path / "empty").mkdir()
    assert not demo_ready(demo_bundle.model, str(tmp_path / "empty"))
