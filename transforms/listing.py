"""List the images to score under prefixes or globs, once, then spread them over workers.

Listing happens in the pipeline (so a template or a scheduled job lists at run time), from
one element per input pattern; the found objects are then deduplicated by URI, which is a
shuffle, so the read/decode/inference work that follows is spread over all workers (Beam's
MatchFiles would keep it on the worker that listed).
"""
from __future__ import annotations

import os
from typing import Iterable, Iterator

import apache_beam as beam

from storage import uris
from transforms import progress
from transforms.launch_values import value_of
from transforms.records import ListedImage

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"})


def is_image_name(uri: str) -> bool:
    """True for the image extensions we score, in any case (IMG_0001.JPG counts)."""
    return os.path.splitext(uri.rsplit("/", 1)[-1])[1].lower() in IMAGE_EXTENSIONS


def split_input(uri: str) -> tuple[str, str | None]:
    """An input URI -> (base prefix, glob or None).

    A glob is taken as given, and its base is the folder before the first wildcard (used to
    resolve relative paths in a labels CSV). Anything else is a prefix: every image below it.
    """
    uri = uris.normalize(uri)
    if uris.has_glob(uri):
        first = min(uri.index(c) for c in uris.GLOB_CHARS if c in uri)
        base = uri[: uri.rfind("/", 0, first) + 1]
        return base, uri
    return uris.as_prefix(uri), None


def list_input(uri: str) -> Iterator[ListedImage]:
    """Every image object under one input URI (prefix or glob)."""
    base, glob = split_input(uri)
    found = uris.match(glob) if glob else uris.list_prefix(base)
    for meta in found:
        path = meta.path
        if not uris.is_remote(path):
            path = os.path.abspath(path)
        if path.endswith("/") or not is_image_name(path):
            continue
        yield ListedImage(uri=path, base=base, size=meta.size_in_bytes,
                          mtime=meta.last_updated_in_seconds or 0.0)


class _ListInputsFn(beam.DoFn):
    """None -> every image under each input (a list, or a ValueProvider of one, read when
    the job runs: a template lists the inputs given at its launch)."""

    def __init__(self, inputs):
        self._inputs = inputs

    def process(self, _unused, *_after) -> Iterator[ListedImage]:
        for uri in value_of(self._inputs):
            yield from list_input(uri)


class _CountListedFn(beam.DoFn):
    """Counts after deduplication, so overlapping inputs are not counted twice."""

    def __init__(self):
        self._listed = progress.counter("listed")
        self._bytes = progress.counter("bytes_listed")

    def process(self, image: ListedImage) -> Iterator[ListedImage]:
        self._listed.inc()
        self._bytes.inc(image.size)
        yield image


def _first(images: Iterable[ListedImage]) -> ListedImage:
    return min(images, key=lambda i: i.base)


class ListImages(beam.PTransform):
    """PBegin -> PCollection[ListedImage]: each image once, even if two inputs overlap.

    `inputs`: URIs, or a ValueProvider of a list of URIs (transforms.launch_values).
    `after`: an optional PCollection that must be complete before anything is listed
    (a template's run folder preparation: every stage that writes comes after listing).
    """

    def __init__(self, inputs, after=None):
        super().__init__()
        if isinstance(inputs, (list, tuple)):
            inputs = [uris.normalize(u) for u in inputs]
        self._inputs = inputs
        self._after = after

    def expand(self, pbegin):
        after = [] if self._after is None else [beam.pvalue.AsList(self._after)]
        return (
            pbegin
            | "Once" >> beam.Create([None])
            | "ListObjects" >> beam.ParDo(_ListInputsFn(self._inputs), *after)
            | "KeyByUri" >> beam.WithKeys(lambda image: image.uri)
            # A shuffle: deduplicates and redistributes the listed objects over workers.
            | "DeduplicateAndSpread" >> beam.CombinePerKey(_first)
            | "DropKeys" >> beam.Values()
            | "CountListed" >> beam.ParDo(_CountListedFn())
        )

