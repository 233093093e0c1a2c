"""transforms.prediction_rows: a model output's prediction row (top-k, threshold,
correctness), ToPredictionRows in a pipeline with a run id known at launch, and embedding
rows."""

import apache_beam as beam
import numpy as np
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.transforms.launch_values import Derived
from bucketscore.transforms.prediction_rows import (
    ToPredictionRows,
    embedding_row,
    prediction_row,
    top_k,
)
from bucketscore.transforms.records import ImageExample, ListedImage, ModelOutput

LABELS = ["cat", "dog", "owl", "fox"]


def _output(probs, true=None):
    ex = ImageExample(
        ListedImage("mem://x.png", "mem://", true_label=true), np.zeros((1, 1, 1), np.uint8), 7, 9
    )
    return ModelOutput(ex, np.asarray(probs, np.float32))


def test_top_k_orders_and_caps():
    labels, scores = top_k(np.array([0.1, 0.5, 0.15, 0.25], np.float32), LABELS, 3)
    assert labels == ["dog", "fox", "owl"]
    np.testing.assert_allclose(scores, [0.5, 0.25, 0.15])
    assert len(top_k(np.array([0.1, 0.5, 0.15, 0.25]), LABELS, 10)[0]) == 4


def test_prediction_row_threshold_and_correctness():
    row = prediction_row(
        _output([0.1, 0.6, 0.2, 0.1], "dog"),
        LABELS,
        k=2,
        min_confidence=0.5,
        model_version="v",
        run_id="r",
    )
    assert row["predicted_label"] == "dog" and row["correct"] is True
    assert row["below_threshold"] is False and (row["width"], row["height"]) == (7, 9)
    row = prediction_row(
        _output([0.1, 0.4, 0.3, 0.2], "dog"),
        LABELS,
        k=2,
        min_confidence=0.5,
        model_version="v",
        run_id="r",
    )
    assert row["predicted_label"] is None and row["below_threshold"] is True
    assert row["correct"] is False and row["top_k_labels"] == ["dog", "owl"]
    row = prediction_row(
        _output([0.1, 0.4, 0.3, 0.2]),
        LABELS,
        k=2,
        min_confidence=0.0,
        model_version="v",
        run_id="r",
    )
    assert row["correct"] is None


def _row_key(row):
    return (
        row["uri"],
        row["predicted_label"],
        row["top_k_labels"],
        round(row["confidence"], 6),
        row["correct"],
        row["run_id"],
        row["model_version"],
    )


def test_to_prediction_rows_in_a_pipeline_reads_the_run_id_when_it_runs():
    outputs = [
        _output([0.7, 0.1, 0.1, 0.1], "cat"),
        ModelOutput(
            ImageExample(
                ListedImage("mem://y.png", "mem://", true_label="owl"), np.zeros((1, 1, 1)), 3, 4
            ),
            np.asarray([0.2, 0.3, 0.4, 0.1], np.float32),
        ),
    ]
    run_id = Derived(str.upper, StaticValueProvider(str, "nightly"))  # a launch value
    with TestPipeline() as p:
        rows = (
            p
            | beam.Create(outputs)
            | beam.ParDo(
                ToPredictionRows(LABELS, k=2, min_confidence=0.5, model_version="v7", run_id=run_id)
            )
        )
        assert_that(
            rows | beam.Map(_row_key),
            equal_to(
                [
                    ("mem://x.png", "cat", ["cat", "dog"], 0.7, True, "NIGHTLY", "v7"),
                    ("mem://y.png", None, ["owl", "dog"], 0.4, False, "NIGHTLY", "v7"),
                ]
            ),
        )


def test_embedding_row():
    out = ModelOutput(
        ImageExample(
            ListedImage("mem://e.png", "mem://", true_label="fox"), np.zeros((1, 1, 1)), 1, 1
        ),
        np.asarray([1.0], np.float32),
        embedding=np.array([0.5, -1.25, 3.0], np.float64),
    )
    row = embedding_row(out)
    assert row == {"uri": "mem://e.png", "true_label": "fox", "embedding": [0.5, -1.25, 3.0]}
    assert all(type(v) is float for v in row["embedding"])
