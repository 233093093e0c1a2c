"""The labels stage: attach each listed image's true label, and report labels-CSV rows that
name no listed image.

The rules per label source (`folder`, `regex:PATTERN`, `csv:URI`, `none`) live in
`bucketscore.bundle.label_sources`, shared with training.
"""

from __future__ import annotations

import re
from typing import Iterator

import apache_beam as beam

from bucketscore.bundle.label_sources import (
    LabelSource,
    csv_candidates,
    label_of,
    read_labels_csv,
)
from bucketscore.transforms.launch_values import value_of
from bucketscore.transforms.per_image import csv_row_without_image
from bucketscore.transforms.records import ListedImage


class AttachLabels(beam.DoFn):
    """ListedImage -> ListedImage with `true_label` set according to the label source."""

    def __init__(self, source: LabelSource):
        self._source = source
        self._pattern = None
        self._table: dict[str, str] = {}

    def setup(self):
        if self._source.kind == "regex":
            self._pattern = re.compile(self._source.argument)
        elif self._source.kind == "csv":
            self._table = read_labels_csv(self._source.argument)

    def process(self, image: ListedImage) -> Iterator[ListedImage]:
        yield image.with_label(label_of(self._source, image, self._pattern, self._table))


class _CsvRowsFn(beam.DoFn):
    """csv uri -> (candidate uri, row path) for every row of the labels CSV."""

    def __init__(self, bases):
        self._bases = bases  # a list, or a ValueProvider of one (a template's inputs)

    def process(self, csv_uri: str):
        bases = value_of(self._bases)
        for path in read_labels_csv(csv_uri):
            for candidate in csv_candidates(path, bases):
                yield candidate, path


def _found_or_not(item):
    _uri, grouped = item
    found = bool(list(grouped["listed"]))
    for path in grouped["csv"]:
        yield path, found


def _missing_error(item, csv_uri: str):
    path, found = item
    if not any(found):
        yield csv_row_without_image(path, csv_uri)


class FindCsvRowsWithoutImage(beam.PTransform):
    """PCollection[ListedImage] -> ErrorRow(stage="label") per CSV row naming no listed image.

    Two shuffles (by URI, then by row), so neither the listing nor the CSV has to fit in
    one worker's memory for this check.
    """

    def __init__(self, csv_uri: str, bases):
        super().__init__()
        self._csv_uri = csv_uri
        self._bases = bases

    def expand(self, images):
        rows = (
            images.pipeline
            | "CreateCsvUri" >> beam.Create([self._csv_uri])
            | "ReadCsvRows" >> beam.ParDo(_CsvRowsFn(self._bases))
        )
        listed = images | "KeyListed" >> beam.Map(lambda image: (image.uri, True))
        return (
            {"csv": rows, "listed": listed}
            | "JoinByUri" >> beam.CoGroupByKey()
            | "FoundOrNot" >> beam.FlatMap(_found_or_not)
            | "GroupByRow" >> beam.GroupByKey()
            | "MissingRows" >> beam.FlatMap(_missing_error, self._csv_uri)
        )
