"""transforms.per_image: what every stage does to one image, Beam-free (the Beam stages'
tests check them in pipelines; the in-process executor's in tests/pipelines/test_inline_run.py).
"""

import hashlib

import numpy as np

from bucketscore.bundle.meta import InputSpec
from bucketscore.bundle.predictor import load_predictor, top_k
from bucketscore.transforms.per_image import (
    csv_row_without_image,
    decode_example,
    embedding_row,
    keep_one,
    normalize_input,
    object_record,
    predict_batch,
    prediction_row,
)
from bucketscore.transforms.records import (
    ErrorRow,
    ImageBytes,
    ImageExample,
    ListedImage,
    ModelOutput,
)
from tests.support.helpers import image_bytes

LABELS = ["cat", "dog", "owl", "fox"]


def _output(probs, true=None):
    ex = ImageExample(
        ListedImage("mem://x.png", "mem://", true_label=true), np.zeros((1, 1, 1), np.uint8), 7, 9
    )
    return ModelOutput(ex, np.asarray(probs, np.float32))


def test_decode_example_gives_pixels_and_the_hash_of_the_bytes_or_an_error_row():
    data = image_bytes(np.full((10, 12, 3), 90, np.uint8))
    image = ListedImage("mem://a.png", "mem://", true_label="cat")
    ex = decode_example(ImageBytes(image, data), InputSpec(4, 4, 3), 10_000)
    assert isinstance(ex, ImageExample) and ex.pixels.shape == (4, 4, 3)
    assert (ex.width, ex.height, ex.image) == (12, 10, image)
    assert ex.sha256 == hashlib.sha256(data).hexdigest()
    broken = decode_example(ImageBytes(image, b"\x89PNG\r\n\x1a\nbroken"), InputSpec(4, 4, 3), 10)
    assert isinstance(broken, ErrorRow) and (broken.uri, broken.stage) == ("mem://a.png", "decode")
    too_big = decode_example(ImageBytes(image, data), InputSpec(4, 4, 3), max_pixels=100)
    assert isinstance(too_big, ErrorRow) and "pixels" in too_big.error


def test_predict_batch_equals_the_model_and_isolates_the_image_that_breaks_it(demo_bundle):
    model = load_predictor(demo_bundle.model, "onnx", "cpu")
    rng = np.random.default_rng(0)
    good = [
        ImageExample(
            ListedImage(f"mem://{i}.png", "mem://"),
            rng.integers(0, 256, (28, 28, 1), dtype=np.uint8),
            28,
            28,
        )
        for i in range(3)
    ]
    direct = model.predict(np.stack([e.pixels for e in good]), False).probabilities
    outs = predict_batch(model, good, embeddings=False)
    assert [o.example for o in outs] == good and all(o.error is None for o in outs)
    np.testing.assert_allclose(np.stack([o.probabilities for o in outs]), direct, rtol=1e-6)
    # A wrong shape: the batch cannot be stacked, then the model refuses that image alone.
    bad = ImageExample(ListedImage("mem://bad.png", "mem://"), np.zeros((5, 5, 1), np.uint8), 5, 5)
    outs = predict_batch(model, good[:1] + [bad] + good[1:], embeddings=True)
    assert [o.error is None for o in outs] == [True, False, True, True]
    assert outs[1].probabilities is None and outs[1].error
    np.testing.assert_allclose(outs[2].probabilities, direct[1], rtol=1e-5, atol=1e-7)
    assert outs[0].embedding is not None


def test_keep_one_prefers_the_first_base_the_listed_size_and_the_first_label():
    a = ListedImage("s3://b/x/1.jpg", "s3://b/x/", true_label="dog")
    b = ListedImage("s3://b/x/1.jpg", "s3://b/", 120, 5.0)
    c = ListedImage("s3://b/x/1.jpg", "s3://b/x/", true_label="cat")
    kept = keep_one("s3://b/x/1.jpg", [a, b, c])
    assert (kept.base, kept.size, kept.mtime, kept.true_label) == ("s3://b/", 120, 5.0, "cat")


def test_object_record():
    image = ListedImage("/d/1.jpg", "/d/", 7, 1.5)
    assert object_record(image) == {"uri": "/d/1.jpg", "size": 7, "mtime": 1.5}


def test_top_k_orders_and_caps():
    labels, scores = top_k(np.array([0.1, 0.5, 0.15, 0.25], np.float32), LABELS, 3)
    assert labels == ["dog", "fox", "owl"]
    np.testing.assert_allclose(scores, [0.5, 0.25, 0.15])
    assert len(top_k(np.array([0.1, 0.5, 0.15, 0.25]), LABELS, 10)[0]) == 4


def test_prediction_row_threshold_and_correctness():
    row = prediction_row(
        _output([0.1, 0.6, 0.2, 0.1], "dog"),
        LABELS,
        k=2,
        min_confidence=0.5,
        model_version="v",
        run_id="r",
    )
    assert row["predicted_label"] == "dog" and row["correct"] is True
    assert row["below_threshold"] is False and (row["width"], row["height"]) == (7, 9)
    row = prediction_row(
        _output([0.1, 0.4, 0.3, 0.2], "dog"),
        LABELS,
        k=2,
        min_confidence=0.5,
        model_version="v",
        run_id="r",
    )
    assert row["predicted_label"] is None and row["below_threshold"] is True
    assert row["correct"] is False and row["top_k_labels"] == ["dog", "owl"]
    row = prediction_row(
        _output([0.1, 0.4, 0.3, 0.2]),
        LABELS,
        k=2,
        min_confidence=0.0,
        model_version="v",
        run_id="r",
    )
    assert row["correct"] is None


def test_embedding_row():
    out = ModelOutput(
        ImageExample(
            ListedImage("mem://e.png", "mem://", true_label="fox"), np.zeros((1, 1, 1)), 1, 1
        ),
        np.asarray([1.0], np.float32),
        embedding=np.array([0.5, -1.25, 3.0], np.float64),
    )
    row = embedding_row(out)
    assert row == {"uri": "mem://e.png", "true_label": "fox", "embedding": [0.5, -1.25, 3.0]}
    assert all(type(v) is float for v in row["embedding"])


def test_inputs_are_normalized_and_a_missing_csv_row_is_a_label_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert normalize_input("imgs/") == str(tmp_path / "imgs") + "/"
    assert normalize_input("s3://b/p/") == "s3://b/p/"
    assert normalize_input("manifest:list.csv") == f"manifest:{tmp_path / 'list.csv'}"
    row = csv_row_without_image("4/x.png", "s3://b/labels.csv")
    assert (row.uri, row.stage) == ("4/x.png", "label") and "s3://b/labels.csv" in row.error
