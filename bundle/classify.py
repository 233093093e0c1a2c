"""A few images through a bundle, answered at once: what `bucketscore classify` does.

No pipeline: each image is read (a local file with open(), `s3://` and `gs://` through
storage.uris, `-` from the stream given as `stdin`), decoded and preprocessed exactly as
scoring does (bundle.images.decode_image with the bundle's model.json input spec),
and run through the bundle's predictor (bundle.predictor: ONNX Runtime when the
bundle has model.onnx). Local files and local bundles never touch Beam's filesystems, and
TensorFlow is imported only when the TensorFlow backend is used, so one image is answered
in well under a second.

    model = open_model("models/digits")            # meta + predictor, bundle verified
    for answer in classify(model, ["a.png", "s3://b/c.jpg"], k=3):
        print(answer.line())

Every image gets one Answer, in input order: its top-k labels and probabilities (best
first) and its size, or the stage (read, decode, inference) and error that stopped it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable, Iterator, Optional, Sequence

import numpy as np

from bucketscore.bundle.images import DecodeError, decode_image
from bucketscore.bundle.meta import DEFAULT_MAX_PIXELS, BundleMeta
from bucketscore.bundle.predictor import ONNXPredictor, TFPredictor, load_predictor, top_k
from bucketscore.errors import error_message
from bucketscore.storage import uris
from bucketscore.storage.errors import status_code

STDIN = "-"  # the image is read from standard input
BATCH = 16  # images read, decoded and predicted together (bounded memory for long lists)
READ_THREADS = 8  # bucket reads in flight (latency, not CPU)


@dataclass
class Answer:
    """One image's answer: top-k labels and scores, or where and why it failed."""

    uri: str
    top_k_labels: list[str] = field(default_factory=list)
    top_k_scores: list[float] = field(default_factory=list)
    width: Optional[int] = None
    height: Optional[int] = None
    stage: Optional[str] = None  # read | decode | inference, when it failed
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict:
        """The JSON object: uri, top_k_labels, top_k_scores, width, height; or uri, stage,
        error (the columns of the predictions and errors files)."""
        if not self.ok:
            return {"uri": self.uri, "stage": self.stage, "error": self.error}
        return {
            "uri": self.uri,
            "top_k_labels": self.top_k_labels,
            "top_k_scores": self.top_k_scores,
            "width": self.width,
            "height": self.height,
        }

    def line(self) -> str:
        """`URI<TAB>label score<TAB>label score ...` (best first), or
        `URI<TAB>error (stage): message`."""
        if not self.ok:
            return f"{self.uri}\terror ({self.stage}): {self.error}"
        return "\t".join(
            [self.uri]
            + [f"{label} {score:.4f}" for label, score in zip(self.top_k_labels, self.top_k_scores)]
        )


@dataclass
class Model:
    """A bundle loaded for classify: its model.json and its predictor."""

    meta: BundleMeta
    predictor: TFPredictor | ONNXPredictor
    backend: str


def open_model(bundle_uri: str, backend: str = "auto", device: str = "auto") -> Model:
    """Read, verify and load a bundle. BundleError when it is missing, modified or lacks the
    backend (predictor.choose_backend); devices.DeviceError for a GPU that is not there.
    A local bundle is verified and loaded where it is; a remote one through the machine's
    bundle cache (bundle.verified.fetch_verified), so asking again does not download it again."""
    predictor = load_predictor(bundle_uri, backend, device)
    return Model(meta=predictor.meta, predictor=predictor, backend=predictor.backend)


def read_image(uri: str, stdin: Optional[BinaryIO] = None) -> bytes:
    """The bytes of one image: `-` from `stdin`, a bucket object through storage.uris, a
    local file with open() (no Beam)."""
    if uri == STDIN:
        if stdin is None:
            raise ValueError("'-' (standard input) given, but there is no input stream")
        return stdin.read()
    if uris.is_remote(uri):
        if uri.endswith("/"):
            raise IsADirectoryError(f"{uri} is a prefix")
        return uris.read_bytes(uri)
    with open(os.path.expanduser(uri), "rb") as f:
        return f.read()


def read_error(e: BaseException) -> str:
    """Why an image could not be read, in words (storage answers and local files alike)."""
    if isinstance(e, IsADirectoryError):
        return (
            "a folder or prefix, not an image file (classify takes image files; score "
            "a folder with bucketscore score)"
        )
    if isinstance(e, FileNotFoundError):
        return "no such file"
    code = status_code(e)
    words = {
        401: "not authorised (401)",
        403: "permission denied (403)",
        404: "not found (404)",
    }.get(code)
    return f"{words}: {error_message(e)}" if words else error_message(e)


def classify(
    model: Model,
    sources: Iterable[str],
    *,
    k: int = 5,
    stdin: Optional[BinaryIO] = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Iterator[Answer]:
    """One Answer per source (a path, an s3:// or gs:// URI, or `-`), in order, BATCH at a
    time: read (concurrently), decode, one inference call per batch."""
    batch: list[str] = []
    for uri in sources:
        batch.append(uri)
        if len(batch) == BATCH:
            yield from _classify_batch(model, batch, k, stdin, max_pixels)
            batch = []
    if batch:
        yield from _classify_batch(model, batch, k, stdin, max_pixels)


def _read_all(batch: Sequence[str], stdin: Optional[BinaryIO]) -> list:
    """bytes or the exception, per URI, in order."""

    def one(uri: str):
        try:
            return read_image(uri, stdin)
        except Exception as e:  # noqa: BLE001 - every failure is this image's read error
            return e

    if len(batch) == 1 or not any(uris.is_remote(u) for u in batch):
        return [one(u) for u in batch]
    with ThreadPoolExecutor(min(READ_THREADS, len(batch))) as pool:
        return list(pool.map(one, batch))


def _classify_batch(
    model: Model, batch: Sequence[str], k: int, stdin: Optional[BinaryIO], max_pixels: int
) -> list[Answer]:
    answers = [Answer(uri) for uri in batch]
    pixels: dict[int, np.ndarray] = {}
    for i, data in enumerate(_read_all(batch, stdin)):
        if isinstance(data, BaseException):
            answers[i].stage, answers[i].error = "read", read_error(data)
            continue
        try:
            pixels[i], answers[i].width, answers[i].height = decode_image(
                data, model.meta.input, max_pixels
            )
        except DecodeError as e:
            answers[i].stage, answers[i].error = "decode", str(e)
        except Exception as e:  # noqa: BLE001 - anything Pillow raises is this image's
            answers[i].stage, answers[i].error = "decode", error_message(e)
    if pixels:
        for i, probs in _predict(model, pixels).items():
            if isinstance(probs, BaseException):
                answers[i].stage, answers[i].error = "inference", error_message(probs)
            else:
                answers[i].top_k_labels, answers[i].top_k_scores = top_k(
                    probs, model.meta.labels, k
                )
    return answers


def _predict(model: Model, pixels: dict[int, np.ndarray]) -> dict:
    """index -> probabilities, or the exception; a failing batch is retried image by image,
    so only the culprit fails (as in the scoring pipeline)."""
    order = sorted(pixels)
    try:
        probs = model.predictor.predict(np.stack([pixels[i] for i in order])).probabilities
        return dict(zip(order, probs))
    except Exception:  # noqa: BLE001 - find the image that fails, below
        pass
    out: dict = {}
    for i in order:
        try:
            out[i] = model.predictor.predict(pixels[i][None]).probabilities[0]
        except Exception as e:  # noqa: BLE001 - this image's inference error
            out[i] = e
    return out
