"""Model probabilities -> prediction rows: top-k labels and scores, threshold, correctness
(the row itself: transforms/per_image.py `prediction_row`)."""

from __future__ import annotations

from typing import Iterator, Sequence

import apache_beam as beam

from bucketscore.transforms import counters
from bucketscore.transforms.launch_values import value_of
from bucketscore.transforms.per_image import embedding_row, prediction_row
from bucketscore.transforms.records import ModelOutput

__all__ = ["ToPredictionRows", "embedding_row", "prediction_row"]


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
