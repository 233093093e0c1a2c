"""A bundle's files, checked against the digests model.json lists before a model is used.

`fetch_verified(uri)` gives a local folder holding every file of the bundle with its
sha256 checked: a local bundle where it is, a remote one as the machine's cached copy of
its version (bucketscore.bundle.cache). A file that is missing or differs is a
BundleError: a tampered or half-copied bundle is never loaded.
"""

from __future__ import annotations

import os
import shutil

from bucketscore.bundle import cache
from bucketscore.bundle.meta import (
    MODEL_JSON,
    BundleError,
    BundleMeta,
    content_version,
    read_meta,
    sha256_file,
)
from bucketscore.errors import first_line
from bucketscore.storage import uris


def check_version(bundle_uri: str, meta: BundleMeta) -> None:
    """BundleError unless model.json's version is the digest of the file digests it lists
    (an edited model.json): checked before any file is read."""
    if content_version(meta.files) != meta.version:
        raise BundleError(
            f"{bundle_uri}: version {meta.version} does not match the file "
            f"digests in model.json (edited model.json?)"
        )


def fetch_verified(bundle_uri: str, dest: str | None = None) -> tuple[BundleMeta, str]:
    """A local copy of a bundle, every digest verified; returns (meta, local folder).

    Without `dest`: a local bundle is checked and used where it is; a remote one is the
    machine's cached copy of its version (bundle/cache.py: fetched once, shared
    by processes and runs, bounded), never a new folder in TMPDIR. Raises BundleError on
    any mismatch or missing file.
    """
    meta = read_meta(bundle_uri)
    check_version(bundle_uri, meta)
    if dest is not None:
        _copy_verified(bundle_uri, meta, dest)
        return meta, dest
    if not uris.is_remote(uris.normalize(bundle_uri)):
        # A local bundle is used where it is, checked every time (hashing is cheap next to
        # loading a model): no copy, and a modified file is refused.
        local = uris.normalize(bundle_uri).rstrip(os.sep)
        _check_files(bundle_uri, meta, local)
        return meta, local
    return meta, cache.cached(meta.version, lambda folder: _copy_verified(bundle_uri, meta, folder))


def _check_files(bundle_uri: str, meta: BundleMeta, folder: str) -> None:
    """BundleError unless every file of `meta` is in `folder` with its digest."""
    for rel, digest in sorted(meta.files.items()):
        path = os.path.join(folder, rel)
        if not os.path.isfile(path):
            raise BundleError(f"{bundle_uri}: {rel} is listed in model.json but missing")
        actual = sha256_file(path)
        if actual != digest:
            raise BundleError(
                f"{bundle_uri}: {rel} does not match its digest in model.json "
                f"(expected sha256 {digest[:12]}..., found {actual[:12]}...): "
                f"the bundle was modified or is incomplete; refusing to load it"
            )


def _copy_verified(bundle_uri: str, meta: BundleMeta, local: str) -> None:
    """Copy every file of the bundle into `local`, checking each digest, then model.json."""
    src = uris.normalize(bundle_uri)
    for rel in sorted(meta.files):
        target = os.path.join(local, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        src_file = uris.join(src, rel)
        if not uris.is_remote(src):
            if not os.path.isfile(src_file):
                raise BundleError(f"{bundle_uri}: {rel} is listed in model.json but missing")
            shutil.copyfile(src_file, target)
        else:
            try:
                uris.download(src_file, target)
            except Exception as e:  # noqa: BLE001
                raise BundleError(f"{bundle_uri}: cannot read {rel}: {first_line(e)}") from None
    _check_files(bundle_uri, meta, local)
    with open(os.path.join(local, MODEL_JSON), "w") as f:
        f.write(meta.to_json())
