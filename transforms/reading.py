"""Read each listed object's bytes; an object that cannot be read becomes an errors row.

`read_with_retries` is how every reader gets an object. `ReadImageBytes` reads one object
at a time through Beam's FileSystems: the plain reference that the pipeline's reader,
`transforms.concurrent_reading.ConcurrentReadImageBytes` (many reads in flight), is
tested against.
"""

from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from bucketscore.storage import uris
from bucketscore.storage.errors import StorageUnavailable, describe_error
from bucketscore.transforms import counters
from bucketscore.transforms.records import ERRORS_TAG, ErrorRow, ImageBytes, ListedImage


def read_with_retries(uri: str) -> bytes:
    """Read an object; remote reads retry transient errors within the storage retry budget
    (storage.errors.with_retries: a store may blip mid-run) and raise StorageUnavailable
    when it is spent."""
    return uris.read_bytes(uri)


class ReadImageBytes(beam.DoFn):
    """ListedImage -> ImageBytes; unreadable objects -> ErrorRow(stage="read") on `errors`."""

    def __init__(self):
        self._read = counters.counter("read")
        self._bytes = counters.counter("bytes_read")
        self._failed = counters.counter("failed")

    def process(self, image: ListedImage) -> Iterator:
        try:
            data = read_with_retries(image.uri)
        except StorageUnavailable:
            raise  # storage failed, not this image: the run fails and says so
        except Exception as e:  # noqa: BLE001 - the object's error, not the run's
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(
                ERRORS_TAG, ErrorRow(image.uri, "read", describe_error(e))
            )
            return
        self._read.inc()
        self._bytes.inc(len(data))
        yield ImageBytes(image=image, data=data)
