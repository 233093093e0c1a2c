"""bundle.classify, the Beam-free API behind `bucketscore classify`: open_model, then one
Answer per image in input order (top-k against a direct call of the bundle's SavedModel, or
the stage and reason it failed); Answer's line and JSON forms. The command itself:
tests/cli/commands/test_classify.py."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from bucketscore.bundle.classify import BATCH, Answer, classify, open_model, read_error
from bucketscore.bundle.meta import read_meta
from bucketscore.bundle.predictor import ONNXPredictor, TFPredictor
from tests.support.helpers import copy_demo_subset, direct_probabilities, write_file
from tests.support.storage_servers import unique_bucket_name

PARITY = 1e-4  # the ONNX export's parity tolerance against the SavedModel


@pytest.fixture(scope="module")
def images(demo_bundle, tmp_path_factory) -> dict[str, bytes]:
    """One demo digit per class: path -> bytes."""
    root = tmp_path_factory.mktemp("classify-api")
    rel = copy_demo_subset(demo_bundle.data, str(root), per_class=1)
    return {str(root / r): (root / r).read_bytes() for r in rel}


def _expected_top(probs: np.ndarray, labels, k: int):
    order = np.argsort(-probs, kind="stable")[:k]
    return [labels[i] for i in order], probs[order]


def test_open_model_loads_the_bundle_with_the_backend_asked_for(demo_bundle):
    model = open_model(demo_bundle.model)
    assert model.backend == "onnx" and isinstance(model.predictor, ONNXPredictor)
    assert model.meta == read_meta(demo_bundle.model)
    tf_model = open_model(demo_bundle.model, backend="tf", device="cpu")
    assert tf_model.backend == "tf" and isinstance(tf_model.predictor, TFPredictor)


@pytest.mark.parametrize("backend, atol", [("onnx", PARITY), ("tf", 1e-6)])
def test_answers_are_the_top_k_of_the_models_probabilities(demo_bundle, images, backend, atol):
    labels = list(demo_bundle.meta.labels)
    paths = sorted(images)
    expected = direct_probabilities(demo_bundle.model, images)
    answers = list(classify(open_model(demo_bundle.model, backend), paths, k=3))
    assert [a.uri for a in answers] == paths
    for answer in answers:
        assert answer.ok and (answer.width, answer.height) == (32, 32)
        want_labels, want_scores = _expected_top(expected[answer.uri], labels, 3)
        assert answer.top_k_labels == want_labels
        np.testing.assert_allclose(answer.top_k_scores, want_scores, atol=atol)
        assert answer.top_k_labels[0] == os.path.basename(os.path.dirname(answer.uri))


def test_more_images_than_a_batch_keep_their_order(demo_bundle, images):
    """BATCH images are predicted together: a list longer than two batches, with every
    image several times, answers each in place, the same for the same image."""
    paths = sorted(images)
    sources = [paths[i % len(paths)] for i in range(2 * BATCH + 3)]
    answers = list(classify(open_model(demo_bundle.model), sources, k=2))
    assert [a.uri for a in answers] == sources
    by_path = {}
    for a in answers:
        by_path.setdefault(a.uri, []).append((tuple(a.top_k_labels), tuple(a.top_k_scores)))
    for path, seen in by_path.items():
        assert len(set(seen)) == 1, path  # the same image, the same answer in every batch
        assert seen[0][0][0] == os.path.basename(os.path.dirname(path))


def test_failures_are_answers_with_their_stage(demo_bundle, images, tmp_path):
    good = sorted(images)[0]
    corrupt = write_file(str(tmp_path / "corrupt.png"), b"\x89PNG\r\n\x1a\n not really")
    empty = write_file(str(tmp_path / "empty.png"), b"")
    sources = [good, str(tmp_path / "missing.png"), str(tmp_path), corrupt, empty, "-"]
    answers = list(classify(open_model(demo_bundle.model), sources, max_pixels=1000))
    got = [(a.uri, a.ok, a.stage) for a in answers]
    assert got == [
        (good, False, "decode"),  # 32x32 = 1,024 pixels, over max_pixels
        (str(tmp_path / "missing.png"), False, "read"),
        (str(tmp_path), False, "read"),
        (corrupt, False, "decode"),
        (empty, False, "decode"),
        ("-", False, "read"),
    ]
    assert "over the limit of 1,000" in answers[0].error
    assert answers[1].error == "no such file"
    assert answers[2].error.startswith("a folder or prefix, not an image file")
    assert "not an image" in answers[3].error and "empty file" in answers[4].error
    assert "no input stream" in answers[5].error
    ok = list(classify(open_model(demo_bundle.model), [good, corrupt]))
    assert [a.ok for a in ok] == [True, False]  # a failed image does not fail the others


def test_standard_input_is_read_once_for_dash(demo_bundle, images):
    first = sorted(images)[1]
    (answer,) = classify(open_model(demo_bundle.model), ["-"], k=1, stdin=io.BytesIO(images[first]))
    assert answer.ok and answer.uri == "-"
    assert answer.top_k_labels == [os.path.basename(os.path.dirname(first))]


def test_images_in_a_bucket_and_a_missing_object(s3_server, demo_bundle, images):
    from bucketscore.storage import uris

    bucket = s3_server.create_bucket(unique_bucket_name("classify-api"))
    client = s3_server.boto3_client()
    path = sorted(images)[2]
    client.put_object(Bucket=bucket, Key="imgs/a.png", Body=images[path])
    uris.set_options(s3_server.beam_options())
    sources = [f"s3://{bucket}/imgs/a.png", f"s3://{bucket}/imgs/gone.png", f"s3://{bucket}/imgs/"]
    answers = list(classify(open_model(demo_bundle.model), sources, k=1))
    assert answers[0].ok
    assert answers[0].top_k_labels == [os.path.basename(os.path.dirname(path))]
    assert answers[1].stage == "read" and answers[1].error.startswith("not found (404): ")
    assert answers[2].stage == "read" and answers[2].error.startswith("a folder or prefix")


def test_read_error_in_words():
    assert read_error(FileNotFoundError("x")) == "no such file"
    assert read_error(IsADirectoryError("x")).startswith("a folder or prefix")
    assert read_error(ValueError("bad thing\nsecond line")) == "ValueError: bad thing"


def test_an_answer_as_a_line_and_as_json():
    ok = Answer("a.png", ["7", "1"], [0.912345, 0.05], width=32, height=30)
    assert ok.line() == "a.png\t7 0.9123\t1 0.0500"
    assert ok.as_dict() == {
        "uri": "a.png",
        "top_k_labels": ["7", "1"],
        "top_k_scores": [0.912345, 0.05],
        "width": 32,
        "height": 30,
    }
    failed = Answer("b.png", stage="decode", error="empty file (0 bytes)")
    assert not failed.ok
    assert failed.line() == "b.png\terror (decode): empty file (0 bytes)"
    assert failed.as_dict() == {"uri": "b.png", "stage": "decode", "error": "empty file (0 bytes)"}
