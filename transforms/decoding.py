"""The decode stage: image bytes -> the model's input pixels, or an errors row.

A thin Beam layer over `bucketscore.bundle.images.decode_image`, the one definition
of preprocessing that training uses too.
"""

from __future__ import annotations

import hashlib
from typing import Iterator

import apache_beam as beam

from bucketscore.bundle.images import DecodeError, decode_image
from bucketscore.bundle.meta import DEFAULT_MAX_PIXELS, InputSpec
from bucketscore.errors import error_message
from bucketscore.transforms import counters
from bucketscore.transforms.records import ERRORS_TAG, ErrorRow, ImageBytes, ImageExample


class DecodeImages(beam.DoFn):
    """ImageBytes -> ImageExample; undecodable input -> ErrorRow(stage="decode") on `errors`."""

    def __init__(self, spec: InputSpec, max_pixels: int = DEFAULT_MAX_PIXELS):
        self._spec = spec
        self._max_pixels = max_pixels
        self._decoded = counters.counter("decoded")
        self._failed = counters.counter("failed")

    def process(self, item: ImageBytes) -> Iterator:
        try:
            pixels, w, h = decode_image(item.data, self._spec, self._max_pixels)
        except Exception as e:  # noqa: BLE001 - any decoder failure is this image's error
            self._failed.inc()
            msg = str(e) if isinstance(e, DecodeError) else error_message(e)
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, ErrorRow(item.image.uri, "decode", msg))
            return
        self._decoded.inc()
        # The bytes are here anyway: their hash costs ~0.1 ms per 50 kB image (~1% of a
        # CPU inference), and finds exact duplicates (transforms/duplicates.py).
        digest = hashlib.sha256(item.data).hexdigest()
        yield ImageExample(image=item.image, pixels=pixels, width=w, height=h, sha256=digest)
