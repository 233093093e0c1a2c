"""transforms.summarising: SummaryFn (a CombineFn over prediction rows) against scikit-learn,
and SummariseRows: one summary over scored and carried-over rows that equals the summary of
their union, computed independently."""

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from bucketscore.transforms.prediction_rows import prediction_row
from bucketscore.transforms.records import ImageExample, ListedImage, ModelOutput
from bucketscore.transforms.summarising import SummariseRows, SummaryFn
from tests.support.helpers import check_summary_against_sklearn

LABELS = ["cat", "dog", "owl", "fox"]


def _output(probs, true=None):
    ex = ImageExample(
        ListedImage("mem://x.png", "mem://", true_label=true), np.zeros((1, 1, 1), np.uint8), 7, 9
    )
    return ModelOutput(ex, np.asarray(probs, np.float32))


def _random_rows(n, seed, prefix, run_id="r"):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        probs = rng.dirichlet(np.ones(4))
        true = [None, "cat", "dog", "owl", "fox", "yak"][rng.integers(0, 6)]
        row = prediction_row(
            _output(probs, true), LABELS, k=2, min_confidence=0.35, model_version="v", run_id=run_id
        )
        row["uri"] = f"mem://{prefix}{i}.png"
        rows.append(row)
    return rows


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


def test_one_summary_over_scored_and_carried_rows_is_the_summary_of_their_union():
    scored = _random_rows(150, seed=4, prefix="new")
    carried = _random_rows(90, seed=5, prefix="old", run_id="base")
    union = scored + carried

    def check(summaries):
        (summary,) = summaries
        check_summary_against_sklearn(summary, union, LABELS)
        c = summary["counts"]
        assert c["scored"] == 240
        assert c["unlabelled"] == sum(r["true_label"] is None for r in union)
        assert c["unknown_label"] == sum(r["true_label"] == "yak" for r in union)
        assert c["below_threshold"] == sum(r["below_threshold"] for r in union)

    with TestPipeline() as p:
        both = (
            p | "Scored" >> beam.Create(scored, reshuffle=True),
            p | "Carried" >> beam.Create(carried, reshuffle=True),
        )
        assert_that(both | SummariseRows(LABELS), check)


def test_nothing_carried_over_is_the_summary_of_the_scored_rows():
    scored = _random_rows(60, seed=6, prefix="new")

    def check(summaries):
        (summary,) = summaries
        check_summary_against_sklearn(summary, scored, LABELS)
        assert summary["counts"]["scored"] == 60

    with TestPipeline() as p:
        both = (p | "Scored" >> beam.Create(scored), p | "Carried" >> beam.Create([]))
        assert_that(both | SummariseRows(LABELS), check)
