"""The model bundle: `model.json` + `saved_model/` and/or `model.onnx` (+ optional
`model.keras`).

`model.json` fixes everything scoring needs to reproduce training's preprocessing: the label
order, the input size and channels, the resize mode and interpolation. `files` holds the
sha256 of every other file, and `version` is a digest of those digests, so a bundle's version
changes exactly when its content does. Loading verifies every digest before the model is
used: a bundle that was tampered with or copied half-way is refused.

`backends` says which inference backends the bundle has: `tf` (its `saved_model/`) and
`onnx` (its `model.onnx`). Bundles made from Keras or a SavedModel have both (or `tf` alone
with --no-onnx); a bundle imported from an ONNX file (`export --onnx`) has `onnx` alone.
Bundles written before the key existed say it through their files.

`int8` (optional, `bucketscore quantize`): `model.int8.onnx`, a statically quantized twin of
`model.onnx` (QDQ, per-channel int8 weights), with its calibration, its agreement with
model.onnx on held-out images and whether scoring uses it by default. It is listed in
`files` like every other file; `--precision int8` runs it on ONNX Runtime.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from bucketscore.errors import described
from bucketscore.storage import uris

FORMAT_VERSION = 1
MODEL_JSON = "model.json"
SAVED_MODEL_DIR = "saved_model"
ONNX_FILE = "model.onnx"
TORCH_FILE = "model.pt2"  # a torch.export program (bucketscore export --torch)
# The statically quantized twin of model.onnx (bucketscore quantize; `--precision int8`).
INT8_FILE = "model.int8.onnx"
# backend -> what it loads
BACKEND_FILES = {"tf": f"{SAVED_MODEL_DIR}/", "onnx": ONNX_FILE, "torch": TORCH_FILE}
# --precision: fp16/bf16 autocast the torch program on a GPU (bundle/torch_runtime.py); int8
# runs the bundle's INT8_FILE on ONNX Runtime (bundle/predictor.py).
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
RESIZE_MODES = ("squash", "crop", "fill")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")
# Larger images are errors rows, not decoded (bundle.images; --max_pixels).
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
                f"input.interpolation must be one of {INTERPOLATIONS}, not {self.interpolation!r}"
            )


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
        return ONNX_FILE in self.files

    @property
    def has_saved_model(self) -> bool:
        return "tf" in files_backends(self.files)

    @property
    def backends(self) -> tuple[str, ...]:
        """The backends this bundle can be scored with ('tf', 'onnx'), as model.json says
        (bundles written before `backends` existed: as their files say)."""
        declared = self.extra.get("backends")
        if declared is not None:
            return tuple(declared)
        return files_backends(self.files)

    @property
    def int8(self) -> Optional[dict[str, Any]]:
        """model.json's `int8` record (how model.int8.onnx was made and how it agrees with
        model.onnx) when the bundle has that file, else None."""
        record = self.extra.get("int8")
        if INT8_FILE not in self.files or not isinstance(record, dict):
            return None
        return record

    @property
    def int8_default(self) -> bool:
        """Whether scoring runs the int8 twin when no --precision is given."""
        return bool((self.int8 or {}).get("default"))

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
        missing = [
            k
            for k in ("format_version", "name", "version", "labels", "input", "files")
            if k not in doc
        ]
        if missing:
            raise BundleError(f"{where} lacks {', '.join(missing)}")
        if doc["format_version"] != FORMAT_VERSION:
            raise BundleError(
                f"{where} has format_version {doc['format_version']}; "
                f"this bucketscore reads version {FORMAT_VERSION}"
            )
        labels = doc["labels"]
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(x, str) and x for x in labels)
        ):
            raise BundleError(f"{where}: labels must be a non-empty list of non-empty strings")
        if len(set(labels)) != len(labels):
            raise BundleError(f"{where}: labels must be unique")
        try:
            spec = InputSpec(**doc["input"])
        except TypeError as e:
            raise BundleError(f"{where}: bad input section: {e}") from None
        except BundleError as e:  # a value out of range: say which file
            raise BundleError(f"{where}: {e}") from None
        known = {
            "format_version",
            "name",
            "version",
            "labels",
            "input",
            "outputs",
            "files",
            "metrics",
        }
        _check_backends(doc.get("backends"), dict(doc["files"]), where)
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


def files_backends(files: dict[str, str]) -> tuple[str, ...]:
    """The backends whose model files are among `files` (relative paths), in BACKENDS order."""
    return tuple(
        b
        for b, path in BACKEND_FILES.items()
        if any(f == path or (path.endswith("/") and f.startswith(path)) for f in files)
    )


def _check_backends(declared, files: dict[str, str], where: str) -> None:
    """A `backends` list in model.json must name known backends whose files are there."""
    if declared is None:
        return
    if not isinstance(declared, list) or not set(declared) <= set(BACKEND_FILES):
        raise BundleError(
            f"{where}: backends must be a list of {', '.join(BACKEND_FILES)}, not {declared!r}"
        )
    missing = [b for b in declared if b not in files_backends(files)]
    if missing:
        raise BundleError(
            f"{where}: lists backend {', '.join(missing)} but has no "
            f"{', '.join(BACKEND_FILES[b] for b in missing)}"
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


def read_meta(bundle_uri: str) -> BundleMeta:
    """Read and validate `model.json` (no model files are read)."""
    uri = uris.join(uris.normalize(bundle_uri), MODEL_JSON)
    try:
        if "://" in uri:
            text = uris.read_text(uri)
        else:  # a local bundle never needs Beam's filesystems (`classify` stays fast)
            with open(uri, encoding="utf-8") as f:
                text = f.read()
    except Exception as e:  # noqa: BLE001 - every storage error means the same here
        hint = not_a_bundle_hint(bundle_uri)
        if hint:
            raise BundleError(f"{bundle_uri} is {hint}") from None
        raise BundleError(
            f"no model bundle at {bundle_uri}: cannot read {MODEL_JSON} ({described(e)})"
        ) from None
    return BundleMeta.from_json(text, where=uri)


# A model file given where a bundle is expected: what it is, and the export that wraps it.
MODEL_FILES = {
    (".keras", ".h5", ".hdf5"): ("a Keras model file", "--keras"),
    (".onnx",): ("an ONNX model file", "--onnx"),
    (".pt", ".pt2", ".pth"): ("a PyTorch file", None),
    (".tflite",): ("a TensorFlow Lite file", None),
}


def not_a_bundle_hint(uri: str) -> str:
    """When `uri` looks like a model file or a SavedModel rather than a bundle: what it is
    and the command that makes a bundle of it (for the "no bundle" error); else ""."""
    import os

    path = uri.rstrip("/")
    name = path.rsplit("/", 1)[-1].lower()
    example = f"models/{name.rsplit('.', 1)[0] or 'mine'}"
    for suffixes, (what, flag) in MODEL_FILES.items():
        if name.endswith(suffixes):
            if flag is None:
                return (
                    f"{what}, not a model bundle: export it to ONNX (torch.onnx.export), then "
                    f"bucketscore export --onnx FILE.onnx --labels labels.txt --out {example}"
                )
            return (
                f"{what}, not a model bundle (a folder with model.json): wrap it with "
                f"bucketscore export {flag} {uri} --labels labels.txt --out {example}, then "
                f"--model {example}"
            )
    if "://" not in uri and os.path.isfile(os.path.join(path, "saved_model.pb")):
        return (
            f"a TensorFlow SavedModel, not a model bundle: wrap it with bucketscore export "
            f"--saved_model {uri} --labels labels.txt --out {example}, then --model {example}"
        )
    return ""
