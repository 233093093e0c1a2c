"""transforms.records: the element types between the stages (with_label, as_dict, uri)."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from bucketscore.transforms.records import ErrorRow, ImageExample, ListedImage, ModelOutput


def test_with_label_gives_a_new_record_and_keeps_the_rest():
    image = ListedImage("s3://b/in/cat/1.png", "s3://b/in/", size=12, mtime=3.5)
    labelled = image.with_label("cat")
    assert labelled.true_label == "cat" and image.true_label is None  # frozen: a copy
    assert (labelled.uri, labelled.base, labelled.size, labelled.mtime) == (
        "s3://b/in/cat/1.png",
        "s3://b/in/",
        12,
        3.5,
    )
    assert labelled.with_label(None) == image
    with pytest.raises(dataclasses.FrozenInstanceError):
        image.true_label = "dog"


def test_error_row_as_dict_is_the_errors_csv_columns():
    row = ErrorRow("s3://b/x.png", "decode", "not an image")
    assert row.as_dict() == {"uri": "s3://b/x.png", "stage": "decode", "error": "not an image"}


def test_an_example_keeps_uint8_pixels_and_its_image_uri():
    image = ListedImage("mem://a.png", "mem://", true_label="cat")
    example = ImageExample(image, np.zeros((4, 5, 3), np.uint8), width=50, height=40)
    assert example.uri == "mem://a.png"
    shipped = pickle.loads(pickle.dumps(ModelOutput(example, np.array([0.25, 0.75], np.float32))))
    assert shipped.example.pixels.dtype == np.uint8 and shipped.example.pixels.shape == (4, 5, 3)
    assert shipped.example.image == image and shipped.error is None and shipped.extra == {}
    np.testing.assert_array_equal(shipped.probabilities, [0.25, 0.75])
