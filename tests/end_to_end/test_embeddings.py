"""`bucketscore score --embeddings`: the vectors written are the penultimate layer's output,
and they are useful features (a scikit-learn classifier trained on them works)."""

from __future__ import annotations

import glob
import json
import os

import numpy as np

from bucketscore.cli.main import main
from tests.support.helpers import copy_demo_subset, read_parquet_rows


def _pixels(paths, spec):
    from bucketscore.bundle.images import decode_image

    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(decode_image(f.read(), spec)[0])
    return np.stack(out)


def test_embeddings_are_the_penultimate_layer_and_train_a_classifier(demo_bundle, tmp_path, capsys):
    import keras
    import pyarrow as pa
    import pyarrow.parquet as pq
    import tensorflow as tf
    from sklearn.linear_model import LogisticRegression

    from bucketscore.bundle.meta import read_meta

    images = tmp_path / "images"
    rel = copy_demo_subset(demo_bundle.data, str(images), per_class=8)
    status = main(
        [
            "score",
            "--input",
            str(images),
            "--model",
            demo_bundle.model,
            "--output",
            str(tmp_path / "out"),
            "--run_id",
            "emb",
            "--embeddings",
        ]
    )
    printed = capsys.readouterr()
    assert status == 0, printed.err
    run = tmp_path / "out" / "emb"
    files = sorted(glob.glob(str(run / "embeddings*.parquet")))
    assert files
    meta = read_meta(demo_bundle.model)
    dim = meta.extra["embedding_dim"]
    schema = pq.read_schema(files[0])
    assert schema.names == ["uri", "true_label", "embedding"]
    assert schema.field("embedding").type == pa.list_(pa.float32(), dim)
    rows = {r["uri"]: r for r in read_parquet_rows(files)}
    assert len(rows) == len(rel) == 80
    # The finishing step counted them before _SUCCESS (run_folder/file_counts.py).
    verified = json.loads((run / "summary.json").read_text())["verified_files"]
    assert verified["embeddings"]["rows"] == 80

    uris = sorted(rows)
    got = np.array([rows[u]["embedding"] for u in uris], dtype=np.float32)
    labels = [rows[u]["true_label"] for u in uris]
    assert labels == [u.rsplit("/", 2)[-2] for u in uris]
    x = _pixels(uris, meta.input)

    # 1. The Keras source model's penultimate layer, computed directly.
    model = keras.saving.load_model(os.path.join(demo_bundle.model, "model.keras"), safe_mode=True)
    penultimate = keras.Model(model.inputs, model.layers[-1].input)
    assert model.layers[-1].input is model.get_layer("embedding").output
    expected = penultimate.predict(x.astype("float32"), verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # 2. The bundle's SavedModel signature.
    loaded = tf.saved_model.load(os.path.join(demo_bundle.model, "saved_model"))
    sm = loaded.signatures["serving_default"](images=tf.constant(x))["embeddings"].numpy()
    np.testing.assert_allclose(got, sm, rtol=1e-4, atol=1e-4)
    assert got.shape == (80, dim) and np.abs(got).max() > 0

    # 3. Features for another model: logistic regression on half, tested on the other half.
    y = np.array(labels)
    train = np.arange(len(y)) % 2 == 0
    clf = LogisticRegression(max_iter=2000).fit(got[train], y[train])
    accuracy = clf.score(got[~train], y[~train])
    assert accuracy >= 0.9, accuracy


def test_bundles_without_embeddings_are_refused(tmp_path, demo_bundle, capsys):
    """A bundle exported without embeddings cannot serve --embeddings: said up front."""
    from bucketscore.bundle.meta import InputSpec
    from bucketscore.model_export.architectures import lenet
    from bucketscore.model_export.exporting import BundleBuilder

    spec = InputSpec(height=28, width=28, channels=1)
    with BundleBuilder(name="probs-only", labels=[str(d) for d in range(10)], input_spec=spec) as b:
        b.add_keras(lenet(28, 28, 1, 10, augment=False), embeddings=False)
        b.seal(str(tmp_path / "model"))
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    status = main(
        [
            "score",
            "--input",
            str(images),
            "--model",
            str(tmp_path / "model"),
            "--output",
            str(tmp_path / "out"),
            "--embeddings",
        ]
    )
    assert status == 2
    assert "does not export embeddings" in capsys.readouterr().err
