"""Seal a folder holding a model into a bundle: digests, model.json, copied to its URI."""

from __future__ import annotations

import os
from typing import Any

from bucketscore.bundle.meta import (
    BACKEND_FILES,
    MODEL_JSON,
    BundleError,
    BundleMeta,
    InputSpec,
    content_version,
    files_backends,
    sha256_file,
)
from bucketscore.storage import uris


def write_bundle(
    local_dir: str,
    out_uri: str,
    *,
    name: str,
    labels: list[str],
    input_spec: InputSpec,
    metrics: dict[str, Any] | None = None,
    outputs: tuple[str, ...] = ("probabilities",),
    extra: dict[str, Any] | None = None,
) -> BundleMeta:
    """Seal a folder that holds `saved_model/` and/or `model.onnx` (and optional files) into
    a bundle at `out_uri`.

    Computes the digests of every file in `local_dir`, writes `model.json` beside them (with
    `backends`: the model files found) and copies the whole folder to `out_uri` (local path,
    s3:// or gs://), `model.json` last so a half-copied bundle has no `model.json` and is
    never loaded. Returns the metadata.
    """
    files = {
        rel: sha256_file(os.path.join(local_dir, rel))
        for rel in uris.iter_local_files(local_dir)
        if rel != MODEL_JSON
    }
    backends = files_backends(files)
    if not backends:
        raise BundleError(
            f"{local_dir} has none of {', '.join(BACKEND_FILES.values())}: no model to seal"
        )
    meta = BundleMeta(
        name=name,
        version=content_version(files),
        labels=tuple(labels),
        input=input_spec,
        files=files,
        metrics=dict(metrics or {}),
        outputs=tuple(outputs),
        extra={**dict(extra or {}), "backends": list(backends)},
    )
    out_uri = uris.normalize(out_uri)
    same_place = not uris.is_remote(out_uri) and os.path.realpath(out_uri) == os.path.realpath(
        local_dir
    )
    if not same_place:
        if uris.is_remote(out_uri) or os.path.exists(out_uri):
            uris.delete_prefix(out_uri)
        uris.copy_tree(local_dir, out_uri, names=sorted(files))
    uris.write_text(uris.join(out_uri, MODEL_JSON), meta.to_json(), mime_type="application/json")
    return meta
