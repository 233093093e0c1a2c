"""Model probabilities -> prediction rows: top-k labels and scores, threshold, correctness."""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

import apache_beam as beam
import numpy as np

from bucketscore.bundle.predictor import top_k
from bucketscore.run_folder.accuracy import is_correct
from bucketscore.transforms import counters
from bucketscore.transforms.launch_values import value_of
from bucketscore.transforms.records import ModelOutput


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


class ToPredictionRows(beam.DoFn):
    """ModelOutput -> prediction row dict."""

    def __init__(
        self,
        labels: Sequence[str],
        *,
        k: int,
        min_confidence: float,
        model_version: str,
        run_id: str,
    ):
        self._labels = list(labels)
        self._index = {label: i for i, label in enumerate(self._labels)}
        self._k = k
        self._min_confidence = min_confidence
        self._model_version = model_version
        self._run_id = run_id  # a str or a ValueProvider (transforms.launch_values)
        self._scored = counters.counter("scored")

    def process(self, out: ModelOutput) -> Iterator[dict]:
        self._scored.inc()
        yield prediction_row(
            out,
            self._labels,
            k=self._k,
            min_confidence=self._min_confidence,
            model_version=self._model_version,
            run_id=value_of(self._run_id),
            label_index=self._index,
        )


def embedding_row(out: ModelOutput) -> dict:
    """uri, true_label, embedding (float32 list) for `--embeddings`."""
    return {
        "uri": out.example.uri,
        "true_label": out.example.image.true_label,
        "embedding": np.asarray(out.embedding, dtype=np.float32).tolist(),
    }
