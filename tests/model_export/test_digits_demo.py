"""The demo model and bucket: real digits, held-out split, accuracy recorded in model.json."""

import os

from bucketscore.bundle.meta import read_meta
from bucketscore.model_export.digits_demo import load_split


def test_demo_bundle_accuracy_and_contents(demo_bundle):
    meta = read_meta(demo_bundle.model)
    assert meta.metrics["test_accuracy"] >= 0.97
    assert meta.metrics["train_seconds"] < 120
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
