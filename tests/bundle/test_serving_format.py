"""bundle.serving_format: TF Serving / Vertex AI request bodies in, the bytes of each
instance out (or one clear line); the metadata a GET answers."""

from __future__ import annotations

import base64
import json

import pytest

from bucketscore.bundle.meta import BundleMeta, InputSpec
from bucketscore.bundle.serving_format import (
    BadInstance,
    RequestError,
    model_metadata,
    parse_predict_request,
    parse_top_k,
)


def _body(doc) -> bytes:
    return json.dumps(doc).encode()


def test_the_three_instance_forms_and_top_k():
    a, b, c = b"\x89PNG a", b"jpeg b", b"c"
    got = parse_predict_request(
        _body(
            {
                "instances": [
                    {"b64": base64.b64encode(a).decode()},
                    {"image_bytes": {"b64": base64.b64encode(b).decode()}},  # Vertex AI
                    {"images": {"b64": base64.b64encode(c).decode()}},  # a named input
                ],
                "parameters": {"top_k": 3},
            }
        )
    )
    assert got.images == [a, b, c] and got.top_k == 3
    assert parse_predict_request(_body({"instances": [{"b64": ""}]})).top_k is None


def test_a_value_that_is_not_base64_is_that_instance_s_error():
    got = parse_predict_request(_body({"instances": [{"b64": "!!"}, {"b64": "YQ=="}]}))
    assert got.images[1] == b"a"
    assert isinstance(got.images[0], BadInstance) and got.images[0].stage == "read"
    assert got.images[0].error.startswith("the b64 value is not base64")


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{", "the body is not JSON"),
        (b"\xff\xfe", "the body is not JSON"),
        (_body([1, 2]), 'must be a JSON object with "instances" \\(got list\\)'),
        (_body({"inputs": []}), "\\(got \\['inputs'\\]\\)"),
        (_body({"instances": []}), '"instances" must be a non-empty list'),
        (_body({"instances": {"b64": "YQ=="}}), "non-empty list"),
        (_body({"instances": [{"b64": "YQ=="}, 7]}), "instance 1 is not an image: .* \\(got 7\\)"),
        (_body({"instances": [{"b64": 1}]}), "instance 0 is not an image"),
        (_body({"instances": [{"a": {"b64": "x"}, "b": 1}]}), "instance 0"),
        (_body({"instances": [{"b64": "YQ=="}], "parameters": 3}), '"parameters" must be'),
        (_body({"instances": [{"b64": "YQ=="}], "parameters": {"top_k": 0}}), "top_k must"),
        (_body({"instances": [{"b64": "YQ=="}], "parameters": {"top_k": True}}), "top_k must"),
    ],
)
def test_malformed_requests_are_one_line_errors(body, message):
    with pytest.raises(RequestError, match=message) as e:
        parse_predict_request(body)
    assert "\n" not in str(e.value)


def test_top_k_from_a_query_string():
    assert parse_top_k(None) is None and parse_top_k("3") == 3 and parse_top_k(2) == 2
    for bad in ("0", "-1", "three", 1.5):
        with pytest.raises(RequestError, match="top_k must be a positive integer"):
            parse_top_k(bad)


def test_model_metadata_says_labels_input_and_version():
    meta = BundleMeta(
        name="m",
        version="v1",
        labels=("a", "b"),
        input=InputSpec(8, 9, 3, resize="crop"),
        files={"model.onnx": "0" * 64},
    )
    got = model_metadata(meta, "onnx", "cpu")
    assert got["labels"] == ["a", "b"] and got["version"] == "v1"
    assert got["input"] == {
        "height": 8,
        "width": 9,
        "channels": 3,
        "resize": "crop",
        "interpolation": "bilinear",
    }
    assert got["model_version_status"][0]["state"] == "AVAILABLE"
    assert (got["backend"], got["device"]) == ("onnx", "cpu")
    json.dumps(got)  # all of it is JSON
