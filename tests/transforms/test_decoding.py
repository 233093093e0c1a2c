"""transforms.decoding.DecodeImages: decoded images go on, undecodable ones become errors
rows of the decode stage (decode_image itself: tests/bundle/test_images.py)."""

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.bundle.meta import InputSpec
from bucketscore.transforms.decoding import DecodeImages
from bucketscore.transforms.records import ERRORS_TAG, ImageBytes, ListedImage
from tests.support.helpers import image_bytes


def _wide_image():
    """40x20 RGB: left half red, right half blue; a green 10-px band in the middle."""
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = (255, 0, 0)
    a[:, 20:] = (0, 0, 255)
    a[:, 15:25] = (0, 255, 0)
    return a


def test_decode_images_dofn_splits_good_and_bad():
    good = ImageBytes(ListedImage("mem://good.png", "mem://"), image_bytes(_wide_image()))
    bad = ImageBytes(ListedImage("mem://bad.png", "mem://"), b"\x89PNG\r\n\x1a\nbroken")
    with TestPipeline() as p:
        out = (
            p
            | beam.Create([good, bad])
            | beam.ParDo(DecodeImages(InputSpec(6, 6, 3))).with_outputs(ERRORS_TAG, main="ok")
        )
        assert_that(
            out.ok | "Shapes" >> beam.Map(lambda e: (e.uri, e.pixels.shape, e.width)),
            equal_to([("mem://good.png", (6, 6, 3), 40)]),
            label="decoded",
        )
        assert_that(
            out[ERRORS_TAG] | beam.Map(lambda e: (e.uri, e.stage)),
            equal_to([("mem://bad.png", "decode")]),
            label="errors",
        )


def test_the_stage_passes_max_pixels_on_and_keeps_the_image_record():
    big = ImageBytes(
        ListedImage("mem://big.png", "mem://", true_label="cat"),
        image_bytes(np.zeros((100, 100), np.uint8)),
    )
    grey = ImageBytes(
        ListedImage("mem://grey.png", "mem://", true_label="dog"),
        image_bytes(np.full((10, 12), 200, np.uint8)),
    )
    with TestPipeline() as p:
        out = (
            p
            | beam.Create([big, grey])
            | beam.ParDo(DecodeImages(InputSpec(4, 4, 1), max_pixels=5000)).with_outputs(
                ERRORS_TAG, main="ok"
            )
        )
        assert_that(
            out.ok
            | "Decoded"
            >> beam.Map(
                lambda e: (e.uri, e.image.true_label, e.pixels.shape, int(e.pixels.min()), e.width)
            ),
            equal_to([("mem://grey.png", "dog", (4, 4, 1), 200, 12)]),
            label="decoded",
        )
        assert_that(
            out[ERRORS_TAG]
            | beam.Map(lambda e: (e.uri, e.stage, "over the limit of 5,000" in e.error)),
            equal_to([("mem://big.png", "decode", True)]),
            label="errors",
        )
