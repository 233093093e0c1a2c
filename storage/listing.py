"""Which objects an input URI names: every image below a prefix, or what a glob matches.

Used wherever images are found: the scoring pipeline's listing stage, training data
discovery and export calibration. Returns plain `ListedObject`s; the pipeline turns them
into its own element type.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

from bucketscore.storage import uris

EXTENSIONS_TEXT = "jpg jpeg png gif bmp webp tif tiff"  # for messages and --help
IMAGE_EXTENSIONS = frozenset("." + e for e in EXTENSIONS_TEXT.split())


@dataclass(frozen=True)
class ListedObject:
    """One image object: its URI, the input prefix it was found under, size and mtime."""

    uri: str
    base: str
    size: int = 0
    mtime: float = 0.0


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


def list_input(uri: str) -> Iterator[ListedObject]:
    """Every image object under one input URI (prefix or glob)."""
    base, glob = split_input(uri)
    found = uris.match(glob) if glob else uris.list_prefix(base)
    for meta in found:
        path = meta.path
        if not uris.is_remote(path):
            path = os.path.abspath(path)
        if path.endswith("/") or not is_image_name(path):
            continue
        yield ListedObject(uri=path, base=base, size=meta.size_in_bytes,
                           mtime=meta.last_updated_in_seconds or 0.0)
