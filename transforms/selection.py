"""The selection stage of --exclude / --sample / --limit (pipelines/features/selection.py
decides which): leave out matching images; keep the first N by a key, with bounded memory
(N per combiner: Beam's Top)."""

from __future__ import annotations

from typing import Callable, Iterator, Optional

import apache_beam as beam

from bucketscore.storage.selection import excluded
from bucketscore.transforms import counters


class LeaveOut(beam.DoFn):
    """ListedImage -> itself unless it matches one of the --exclude globs (counted as
    `excluded`)."""

    def __init__(self, patterns: tuple[str, ...]):
        self._patterns = tuple(patterns)
        self._excluded = counters.counter("excluded")

    def process(self, image) -> Iterator:
        if excluded(image, self._patterns):
            self._excluded.inc()
        else:
            yield image


class _Emit(beam.DoFn):
    def __init__(self):
        self._selected = counters.counter("selected")

    def process(self, images: list) -> Iterator:
        self._selected.inc(len(images))
        yield from images


def _uri(image) -> str:
    return image.uri


class KeepFirst(beam.PTransform):
    """ListedImage -> the n images with the smallest `key(uri)` (None: the URI itself),
    counted as `selected`. Waits for the whole listing; holds n images per combiner."""

    def __init__(self, n: int, key: Optional[Callable[[str], str]] = None):
        super().__init__()
        self._n = n
        self._key = key

    def expand(self, images):
        key = _uri if self._key is None else _Keyed(self._key)
        return (
            images
            | "Smallest" >> beam.combiners.Top.Of(self._n, key=key, reverse=True)
            | "Each" >> beam.ParDo(_Emit())
        )


class _Keyed:
    """key(image.uri), picklable (a module-level function inside)."""

    def __init__(self, fn: Callable[[str], str]):
        self._fn = fn

    def __call__(self, image) -> str:
        return self._fn(image.uri)
