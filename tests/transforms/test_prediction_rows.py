"""Top-k rows, thresholds, and the SummaryFn CombineFn against scikit-learn."""

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from bucketscore.transforms.prediction_rows import prediction_row, top_k
from bucketscore.transforms.records import ImageExample, ListedImage, ModelOutput
from bucketscore.transforms.summarising import SummaryFn
from tests.support.helpers import check_summary_against_sklearn

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


def test_summary_fn_equals_sklearn_on_random_rows():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(400):
        probs = rng.dirichlet(np.ones(4))
        true = [None, "cat", "dog", "owl", "fox", "yak"][rng.integers(0, 6)]
        row = prediction_row(
            _output(probs, true), LABELS, k=2, min_confidence=0.35, model_version="v", run_id="r"
        )
        row["uri"] = f"mem://{i}.png"
        rows.append(row)

    def check(summaries):
        (summary,) = summaries
        check_summary_against_sklearn(summary, rows, LABELS)
        c = summary["counts"]
        assert c["scored"] == 400
        assert c["unlabelled"] == sum(r["true_label"] is None for r in rows)
        assert c["unknown_label"] == sum(r["true_label"] == "yak" for r in rows)
        assert c["below_threshold"] == sum(r["below_threshold"] for r in rows)

    with TestPipeline() as p:
        # Several bundles and a combiner merge: the accumulators must merge exactly.
        summary = p | beam.Create(rows, reshuffle=True) | beam.CombineGlobally(SummaryFn(LABELS))
        assert_that(summary, check)


def test_summary_of_nothing():
    with TestPipeline() as p:
        summary = p | beam.Create([]) | beam.CombineGlobally(SummaryFn(LABELS))
        assert_that(summary, lambda s: _empty(s[0]))


def _empty(summary):
    assert summary["counts"]["scored"] == 0 and summary["accuracy"] is None
    assert summary["confusion_matrix"]["matrix"] == [[0] * 4] * 4
