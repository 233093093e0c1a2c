"""transforms.prediction_rows: ToPredictionRows in a pipeline with a run id known at launch
(the row itself: tests/transforms/test_per_image.py)."""

import apache_beam as beam
import numpy as np
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.transforms.launch_values import Derived
from bucketscore.transforms.prediction_rows import ToPredictionRows
from bucketscore.transforms.records import ImageExample, ListedImage, ModelOutput

LABELS = ["cat", "dog", "owl", "fox"]


def _output(probs, true=None):
    ex = ImageExample(
        ListedImage("mem://x.png", "mem://", true_label=true), np.zeros((1, 1, 1), np.uint8), 7, 9
    )
    return ModelOutput(ex, np.asarray(probs, np.float32))


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
