"""What the stages do to one image, without Beam: the Beam stages (this package's other
modules) and the in-process executor (pipelines/inline_run.py) both call these, so a run
gives the same rows whichever executes it.

* `listed_pages(task)`: a listing task -> pages of ListedImage (a manifest's labels kept);
  `keep_one(uri, images)`: one ListedImage for a URI named several times;
* `decode_example(item, spec, max_pixels)`: ImageBytes -> ImageExample, or ErrorRow;
* `predict_batch(model, batch, embeddings)`: ImageExamples -> ModelOutputs (a failed batch
  is retried image by image: only the image that breaks the model gets an error);
* `prediction_row`, `embedding_row`, `object_record`: the rows of the run's tables;
* `normalize_input(uri)`: an input as listing takes it; `csv_row_without_image(path,
  csv_uri)`: the errors row of a labels-CSV row that names no listed image.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from bucketscore.bundle.images import DecodeError, decode_image
from bucketscore.bundle.meta import InputSpec
from bucketscore.bundle.predictor import top_k
from bucketscore.errors import error_message
from bucketscore.run_folder.accuracy import is_correct
from bucketscore.storage import manifests, uris
from bucketscore.storage.listing import MANIFEST, ListTask, list_task, manifest_pages
from bucketscore.transforms.records import (
    ErrorRow,
    ImageBytes,
    ImageExample,
    ListedImage,
    ModelOutput,
)


def normalize_input(uri: str) -> str:
    """Local paths absolute, `manifest:` kept in front of its (normalized) URI."""
    return manifests.normalize(uri) if manifests.is_manifest(uri) else uris.normalize(uri)


def csv_row_without_image(path: str, csv_uri: str) -> ErrorRow:
    """The errors row (stage `label`) of a labels-CSV row naming no listed image."""
    return ErrorRow(
        path, "label", f"named in the labels CSV {csv_uri} but not found under the input"
    )


def listed_pages(task: ListTask) -> Iterator[list[ListedImage]]:
    """The images of one listing task, a page at a time (a manifest's entries with their
    labels; listed objects with their size and modification time)."""
    if task.kind == MANIFEST:
        for page in manifest_pages(task):
            yield [ListedImage(o.uri, o.base, true_label=label) for o, label in page]
        return
    for found in list_task(task):
        yield [ListedImage(o.uri, o.base, o.size, o.mtime) for o in found]


def keep_one(uri: str, images: Iterable[ListedImage]) -> ListedImage:
    """One ListedImage for a URI named by several inputs or manifest lines: the base that
    sorts first, the size and time a listing found (a manifest gives none), and the label
    that sorts first among those given."""
    images = list(images)
    first = min(images, key=lambda i: i.base)
    listed = next((i for i in images if i.size or i.mtime), first)
    labels = sorted(i.true_label for i in images if i.true_label is not None)
    return ListedImage(
        uri, first.base, listed.size, listed.mtime, true_label=labels[0] if labels else None
    )


def decode_example(
    item: ImageBytes, spec: InputSpec, max_pixels: int
) -> Union[ImageExample, ErrorRow]:
    """The model's input pixels of one image (with the SHA-256 of its bytes), or an
    ErrorRow(stage="decode") saying why it cannot be decoded."""
    try:
        pixels, w, h = decode_image(item.data, spec, max_pixels)
    except Exception as e:  # noqa: BLE001 - any decoder failure is this image's error
        msg = str(e) if isinstance(e, DecodeError) else error_message(e)
        return ErrorRow(item.image.uri, "decode", msg)
    # The bytes are here anyway: their hash costs ~0.1 ms per 50 kB image (~1% of a
    # CPU inference), and finds exact duplicates (run_folder/duplicates.py).
    digest = hashlib.sha256(item.data).hexdigest()
    return ImageExample(image=item.image, pixels=pixels, width=w, height=h, sha256=digest)


def predict_batch(model, batch: Sequence[ImageExample], embeddings: bool) -> list[ModelOutput]:
    """One model call on a batch -> a ModelOutput per example, in order. If the call fails,
    each image is tried alone: the ones that still fail get `error` set."""
    try:
        pred = model.predict(np.stack([ex.pixels for ex in batch]), embeddings)
    except Exception:  # noqa: BLE001 - find the culprit below
        return [_predict_one(model, ex, embeddings) for ex in batch]
    vectors = pred.embeddings
    return [
        ModelOutput(ex, pred.probabilities[i], None if vectors is None else vectors[i])
        for i, ex in enumerate(batch)
    ]


def _predict_one(model, ex: ImageExample, embeddings: bool) -> ModelOutput:
    try:
        pred = model.predict(ex.pixels[None], embeddings)
    except Exception as e:  # noqa: BLE001
        return ModelOutput(ex, error=error_message(e))
    return ModelOutput(
        ex, pred.probabilities[0], None if pred.embeddings is None else pred.embeddings[0]
    )


def prediction_row(
    out: ModelOutput,
    labels: Sequence[str],
    *,
    k: int,
    min_confidence: float,
    model_version: str,
    run_id: str,
    label_index: Optional[dict] = None,
) -> dict:
    """One prediction row (run_folder.schemas.PREDICTION_COLUMNS) for one model output.
    `label_index`: {label: position in `labels`} (made here when not given)."""
    top_labels, top_scores = top_k(out.probabilities, labels, k)
    confidence = top_scores[0]
    below = confidence < min_confidence
    predicted: Optional[str] = None if below else top_labels[0]
    true = out.example.image.true_label
    if label_index is None:
        label_index = {label: i for i, label in enumerate(labels)}
    # The probability of the given label, whether or not it is in the top k: what suspect
    # labels are judged on (run_folder/suspects.py).
    position = label_index.get(true) if true else None
    true_score = None if position is None else float(out.probabilities[position])
    return {
        "uri": out.example.uri,
        "true_label": true,
        "predicted_label": predicted,
        "confidence": confidence,
        "correct": is_correct(predicted, true),
        "top_k_labels": top_labels,
        "top_k_scores": top_scores,
        "below_threshold": below,
        "width": out.example.width,
        "height": out.example.height,
        "model_version": model_version,
        "run_id": run_id,
        "true_label_score": true_score,
        "sha256": out.example.sha256 or None,
    }


def embedding_row(out: ModelOutput) -> dict:
    """uri, true_label, embedding (float32 list) for `--embeddings`."""
    return {
        "uri": out.example.uri,
        "true_label": out.example.image.true_label,
        "embedding": np.asarray(out.embedding, dtype=np.float32).tolist(),
    }


def object_record(image: ListedImage) -> dict:
    """A ListedImage -> its object index row (run_folder.schemas.OBJECTS_SCHEMA)."""
    return {"uri": image.uri, "size": int(image.size), "mtime": float(image.mtime)}
