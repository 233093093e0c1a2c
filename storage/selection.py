"""Which listed images a run scores when told to score part of them (--exclude, --sample;
pipelines/features/selection.py): the rules, without Beam."""

from __future__ import annotations

import fnmatch
import hashlib


def relative_path(image) -> str:
    """An image's path below the input it was listed under (its URI for a file input)."""
    base = image.base or ""
    return image.uri[len(base) :] if base and image.uri.startswith(base) else image.uri


def excluded(image, patterns: tuple[str, ...]) -> bool:
    """Whether a ListedImage matches one of the --exclude globs."""
    path = relative_path(image)
    return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(image.uri, p) for p in patterns)


def sample_key(uri: str) -> str:
    """The order --sample picks by: a hash of the URI (stable across runs and machines)."""
    return hashlib.sha256(uri.encode("utf-8")).hexdigest()
