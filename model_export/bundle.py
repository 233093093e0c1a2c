"""The model bundle: `model.json` + `saved_model/` (+ optional `model.onnx`, `model.keras`).

`model.json` fixes everything scoring needs to reproduce training's preprocessing: the label
order, the input size and channels, the resize mode and interpolation. `files` holds the
sha256 of every other file, and `version` is a digest of those digests, so a bundle's version
changes exactly when its content does. Loading verifies every digest before the model is
used: a bundle that was tampered with or copied half-way is refused.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

from bucketscore.errors import described, first_line
from bucketscore.storage import uris

FORMAT_VERSION = 1
MODEL_JSON = "model.json"
SAVED_MODEL_DIR = "saved_model"
RESIZE_MODES = ("squash", "crop", "fill")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")
# Larger images are errors rows, not decoded (model_export.images; --max_pixels).
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: a 20 MP photo passes, a decompression bomb does not


class BundleError(Exception):
    """The bundle is missing, malformed, or its files do not match their digests."""


@dataclass(frozen=True)
class InputSpec:
    """What the model's serving signature takes: uint8 images [N, height, width, channels]."""

    height: int
    width: int
    channels: int
    resize: str = "squash"
    interpolation: str = "bilinear"

    def __post_init__(self):
        if self.channels not in (1, 3):
            raise BundleError(f"input.channels must be 1 or 3, not {self.channels}")
        if self.height < 1 or self.width < 1:
            raise BundleError(f"input size must be positive, not {self.height}x{self.width}")
        if self.resize not in RESIZE_MODES:
            raise BundleError(f"input.resize must be one of {RESIZE_MODES}, not {self.resize!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise BundleError(
                f"input.interpolation must be one of {INTERPOLATIONS}, not {self.interpolation!r}")


@dataclass(frozen=True)
class BundleMeta:
    """The parsed `model.json`."""

    name: str
    version: str
    labels: tuple[str, ...]
    input: InputSpec
    files: dict[str, str]
    metrics: dict[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] = ("probabilities",)
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_onnx(self) -> bool:
        return "model.onnx" in self.files

    @property
    def has_embeddings(self) -> bool:
        return "embeddings" in self.outputs

    def to_json(self) -> str:
        doc = {
            "format_version": self.format_version,
            "name": self.name,
            "version": self.version,
            "labels": list(self.labels),
            "input": dataclasses.asdict(self.input),
            "outputs": list(self.outputs),
            "files": dict(sorted(self.files.items())),
            "metrics": self.metrics,
        }
        doc.update(self.extra)
        return json.dumps(doc, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "model.json") -> "BundleMeta":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise BundleError(f"{where} is not valid JSON: {e}") from None
        if not isinstance(doc, dict):
            raise BundleError(f"{where} must hold a JSON object")
        missing = [k for k in ("format_version", "name", "version", "labels", "input", "files")
                   if k not in doc]
        if missing:
            raise BundleError(f"{where} lacks {', '.join(missing)}")
        if doc["format_version"] != FORMAT_VERSION:
            raise BundleError(f"{where} has format_version {doc['format_version']}; "
                              f"this bucketscore reads version {FORMAT_VERSION}")
        labels = doc["labels"]
        if (not isinstance(labels, list) or not labels
                or not all(isinstance(x, str) and x for x in labels)):
            raise BundleError(f"{where}: labels must be a non-empty list of non-empty strings")
        if len(set(labels)) != len(labels):
            raise BundleError(f"{where}: labels must be unique")
        try:
            spec = InputSpec(**doc["input"])
        except TypeError as e:
            raise BundleError(f"{where}: bad input section: {e}") from None
        known = {"format_version", "name", "version", "labels", "input", "outputs", "files",
                 "metrics"}
        return cls(
            name=str(doc["name"]),
            version=str(doc["version"]),
            labels=tuple(labels),
            input=spec,
            files=dict(doc["files"]),
            metrics=dict(doc.get("metrics") or {}),
            outputs=tuple(doc.get("outputs") or ("probabilities",)),
            format_version=doc["format_version"],
            extra={k: v for k, v in doc.items() if k not in known},
        )


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_version(files: dict[str, str]) -> str:
    """A short digest of all file digests: the bundle's version."""
    h = hashlib.sha256()
    for path, digest in sorted(files.items()):
        h.update(f"{path}\0{digest}\n".encode())
    return h.hexdigest()[:16]


def write_bundle(local_dir: str, out_uri: str, *, name: str, labels: list[str],
                 input_spec: InputSpec, metrics: dict[str, Any] | None = None,
                 outputs: tuple[str, ...] = ("probabilities",),
                 extra: dict[str, Any] | None = None) -> BundleMeta:
    """Seal a folder that holds `saved_model/` (and optional files) into a bundle at `out_uri`.

    Computes the digests of every file in `local_dir`, writes `model.json` beside them and
    copies the whole folder to `out_uri` (local path, s3:// or gs://), `model.json` last so a
    half-copied bundle has no `model.json` and is never loaded. Returns the metadata.
    """
    if not os.path.isdir(os.path.join(local_dir, SAVED_MODEL_DIR)):
        raise BundleError(f"{local_dir} has no {SAVED_MODEL_DIR}/")
    files = {rel: sha256_file(os.path.join(local_dir, rel))
             for rel in uris.iter_local_files(local_dir) if rel != MODEL_JSON}
    meta = BundleMeta(name=name, version=content_version(files), labels=tuple(labels),
                      input=input_spec, files=files, metrics=dict(metrics or {}),
                      outputs=tuple(outputs), extra=dict(extra or {}))
    out_uri = uris.normalize(out_uri)
    same_place = (not uris.is_remote(out_uri)
                  and os.path.realpath(out_uri) == os.path.realpath(local_dir))
    if not same_place:
        if uris.is_remote(out_uri) or os.path.exists(out_uri):
            uris.delete_prefix(out_uri)
        uris.copy_tree(local_dir, out_uri, names=sorted(files))
    uris.write_text(uris.join(out_uri, MODEL_JSON), meta.to_json(), mime_type="application/json")
    return meta


def read_meta(bundle_uri: str) -> BundleMeta:
    """Read and validate `model.json` (no model files are read)."""
    uri = uris.join(uris.normalize(bundle_uri), MODEL_JSON)
    try:
        text = uris.read_text(uri)
    except Exception as e:  # noqa: BLE001 - every storage error means the same here
        raise BundleError(f"no model bundle at {bundle_uri}: cannot read {MODEL_JSON} "
                          f"({described(e)})") from None
    return BundleMeta.from_json(text, where=uri)


_cache_lock = threading.Lock()
_local_copies: dict[tuple[str, str], str] = {}


def fetch_verified(bundle_uri: str, dest: str | None = None) -> tuple[BundleMeta, str]:
    """Copy a bundle to a local folder, verifying every digest; returns (meta, local folder).

    Copies are cached per process by (uri, version), so a worker that loads the model
    several times downloads it once. Raises BundleError on any mismatch or missing file.
    """
    meta = read_meta(bundle_uri)
    src = uris.normalize(bundle_uri)
    key = (src, meta.version)
    with _cache_lock:
        if dest is None and key in _local_copies and os.path.isdir(_local_copies[key]):
            return meta, _local_copies[key]
        if content_version(meta.files) != meta.version:
            raise BundleError(f"{bundle_uri}: version {meta.version} does not match the file "
                              f"digests in model.json (edited model.json?)")
        local = dest or tempfile.mkdtemp(prefix=f"bundle-{meta.version}-")
        for rel, digest in sorted(meta.files.items()):
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
            actual = sha256_file(target)
            if actual != digest:
                raise BundleError(f"{bundle_uri}: {rel} does not match its digest in model.json "
                                  f"(expected sha256 {digest[:12]}..., found {actual[:12]}...): "
                                  f"the bundle was modified or is incomplete; refusing to load it")
        with open(os.path.join(local, MODEL_JSON), "w") as f:
            f.write(meta.to_json())
        if dest is None:
            _local_copies[key] = local
        return meta, local
