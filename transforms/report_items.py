"""The few rows report.html shows, chosen in the pipeline with bounded memory.

`CollectReportItems(n)` turns (prediction rows, error rows) into ONE element
`{"mistakes": [...], "failures": [...]}`: the n most confident wrong predictions and n
failed images (deterministically: the first n by URI), each with a small PNG thumbnail.
Only those 2n images are read again; the data set is never held in memory (two bounded
`Top` combiners). Which rows count and how they are ordered: run_folder.report_selection.
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

import apache_beam as beam

from bucketscore.run_folder.report_selection import (
    DEFAULT_REPORT_ITEMS,
    PER_CLASS_ITEMS,
    assemble_items,
    by_predicted_label,
    failure_dict,
    failure_key,
    has_prediction,
    is_mistake,
    least_confident_key,
    mistake_key,
    per_class_items,
)
from bucketscore.run_folder.thumbnails import THUMBNAIL_SIZE, add_thumbnails
from bucketscore.transforms.counters import NAMESPACE


class AddThumbnails(beam.DoFn):
    """{"mistakes", "failures"} -> the same with a `thumbnail` (PNG bytes or None) per item.

    Runs on the single element CollectReportItems produces, so at most 2n images are read.
    """

    def __init__(self, size: int = THUMBNAIL_SIZE):
        self._size = size
        self._made = beam.metrics.Metrics.counter(NAMESPACE, "report_thumbnails")

    def process(self, items: dict) -> Iterator[dict]:
        with_thumbnails, made = add_thumbnails(items, self._size)
        self._made.inc(made)
        yield with_thumbnails


class CollectReportItems(beam.PTransform):
    """(prediction rows, ErrorRow) -> ONE element (run_folder.report_selection.assemble_items):

    * mistakes: up to n prediction rows (see `is_mistake`), most confident first;
    * failures: up to n `{uri, stage, error}`, the first n by URI;
    * least_confident: up to n prediction rows, least confident first (labelled or not);
    * most_confident: per predicted class (model label order, at most MAX_CLASSES_SHOWN),
      its `per_class` most confident rows;

    each with a `thumbnail`. Memory: bounded `Top` combiners; the data set is never
    gathered. `labels`: the model's labels (rows whose true label is not one of them are
    not mistakes; the order of the per-class section).

        items = (rows, errors) | "CollectReportItems" >> CollectReportItems(24, meta.labels)
    """

    def __init__(
        self,
        n: int = DEFAULT_REPORT_ITEMS,
        labels: Optional[Sequence[str]] = None,
        thumbnail_size: int = THUMBNAIL_SIZE,
        per_class: int = PER_CLASS_ITEMS,
    ):
        super().__init__()
        if n < 0 or per_class < 0:
            raise ValueError(f"n and per_class must be >= 0, not {n}, {per_class}")
        self._n = n
        self._per_class = per_class
        self._order = None if labels is None else list(labels)
        self._labels = None if labels is None else frozenset(labels)
        self._size = thumbnail_size

    def expand(self, pcolls):
        rows, errors = pcolls
        mistakes = (
            rows
            | "KeepMistakes" >> beam.Filter(is_mistake, self._labels)
            | "MostConfidentMistakes" >> beam.combiners.Top.Of(self._n, key=mistake_key)
        )
        failures = (
            errors
            | "FailureDicts" >> beam.Map(failure_dict)
            | "FirstFailures" >> beam.combiners.Top.Of(self._n, key=failure_key, reverse=True)
        )
        least = rows | "LeastConfident" >> beam.combiners.Top.Of(self._n, key=least_confident_key)
        best = (
            rows
            | "WithPrediction" >> beam.Filter(has_prediction)
            | "ByPredictedLabel" >> beam.Map(by_predicted_label)
            | "MostConfidentPerClass" >> beam.combiners.Top.PerKey(self._per_class, key=mistake_key)
        )
        return (
            mistakes
            | "Assemble"
            >> beam.Map(
                _assemble,
                failures=beam.pvalue.AsSingleton(failures),
                least=beam.pvalue.AsSingleton(least),
                best=beam.pvalue.AsList(best),
                labels=self._order,
            )
            | "AddThumbnails" >> beam.ParDo(AddThumbnails(self._size))
        )


def _assemble(mistakes, failures, least, best, labels):
    return assemble_items(mistakes, failures, least, per_class_items(best, labels))


class ReportCandidates(beam.PTransform):
    """(scored rows, carried rows) -> the rows report.html may show of an --incremental run:
    each side's n most confident mistakes (the n of their union are among these 2n)."""

    def __init__(self, n: int, labels: Sequence[str]):
        super().__init__()
        self._n = n
        self._labels = frozenset(labels)

    def expand(self, pcolls):
        tops = [
            rows
            | f"Mistakes{name}" >> beam.Filter(is_mistake, self._labels)
            | f"Top{name}" >> beam.combiners.Top.Of(self._n, key=mistake_key)
            | f"Each{name}" >> beam.FlatMap(lambda top: top)
            for name, rows in zip(("Scored", "Carried"), pcolls)
        ]
        return tuple(tops) | "Candidates" >> beam.Flatten()
