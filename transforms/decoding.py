"""The decode stage: image bytes -> the model's input pixels, or an errors row.

A thin Beam layer over `bucketscore.transforms.per_image.decode_example` (over
`bucketscore.bundle.images.decode_image`,, the one definition of
preprocessing that training uses too).
"""

from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from bucketscore.bundle.meta import DEFAULT_MAX_PIXELS, InputSpec
from bucketscore.transforms import counters
from bucketscore.transforms.per_image import decode_example
from bucketscore.transforms.records import ERRORS_TAG, ErrorRow, ImageBytes


class DecodeImages(beam.DoFn):
    """ImageBytes -> ImageExample; undecodable input -> ErrorRow(stage="decode") on `errors`
    (transforms/per_image.py decode_example)."""

    def __init__(self, spec: InputSpec, max_pixels: int = DEFAULT_MAX_PIXELS):
        self._spec = spec
        self._max_pixels = max_pixels
        self._decoded = counters.counter("decoded")
        self._failed = counters.counter("failed")

    def process(self, item: ImageBytes) -> Iterator:
        out = decode_example(item, self._spec, self._max_pixels)
        if isinstance(out, ErrorRow):
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, out)
            return
        self._decoded.inc()
        yield out
