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
    assemble_items,
    failure_dict,
    failure_key,
    is_mistake,
    mistake_key,
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
    """(prediction rows, ErrorRow) -> ONE element {"mistakes": [...], "failures": [...]}.

    mistakes: up to n prediction rows (see `is_mistake`), most confident first, each with
    `thumbnail`. failures: up to n `{uri, stage, error, thumbnail}`, the first n by URI.
    Memory: two `Top` combiners of size n; the data set is never gathered. `labels`: the
    model's labels (rows whose true label is not one of them are not mistakes).

        items = (rows, errors) | "CollectReportItems" >> CollectReportItems(24, meta.labels)
    """

    def __init__(self, n: int = DEFAULT_REPORT_ITEMS, labels: Optional[Sequence[str]] = None,
                 thumbnail_size: int = THUMBNAIL_SIZE):
        super().__init__()
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        self._n = n
        self._labels = None if labels is None else frozenset(labels)
        self._size = thumbnail_size

    def expand(self, pcolls):
        rows, errors = pcolls
        mistakes = (rows
                    | "KeepMistakes" >> beam.Filter(is_mistake, self._labels)
                    | "MostConfidentMistakes" >> beam.combiners.Top.Of(self._n, key=mistake_key))
        failures = (errors
                    | "FailureDicts" >> beam.Map(failure_dict)
                    | "FirstFailures" >> beam.combiners.Top.Of(self._n, key=failure_key,
                                                               reverse=True))
        return (mistakes
                | "Assemble" >> beam.Map(assemble_items,
                                         failures=beam.pvalue.AsSingleton(failures))
                | "AddThumbnails" >> beam.ParDo(AddThumbnails(self._size)))
