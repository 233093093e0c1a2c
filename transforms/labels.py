"""Attach the true label to each listed image: `folder`, `regex:PATTERN`, `csv:URI` or `none`.

An image may end up without a label (regex did not match, not in the CSV): it is still
scored, its `true_label` is empty and it does not count towards accuracy.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Iterator, Optional

import apache_beam as beam

from storage import uris
from transforms.launch_values import value_of
from transforms.records import ListedImage

LABEL_SOURCES = ("folder", "regex:PATTERN", "csv:URI", "none")


class LabelSourceError(ValueError):
    """--labels is malformed, or its CSV cannot be read."""


@dataclass(frozen=True)
class LabelSource:
    """A parsed `--labels` value."""

    kind: str  # folder | regex | csv | none
    argument: str = ""

    @classmethod
    def parse(cls, text: str) -> "LabelSource":
        text = (text or "folder").strip()
        if text in ("folder", "none"):
            return cls(text)
        if text.startswith("regex:"):
            pattern = text[len("regex:"):]
            try:
                compiled = re.compile(pattern)
            except re.error as e:
                raise LabelSourceError(f"--labels regex:{pattern}: not a valid pattern: {e}")
            if compiled.groups < 1:
                raise LabelSourceError(f"--labels regex:{pattern}: the pattern needs a group "
                                       f"(parentheses) around the label, e.g. (.+)_pic_\\d+")
            return cls("regex", pattern)
        if text.startswith("csv:"):
            uri = text[len("csv:"):]
            if not uri:
                raise LabelSourceError("--labels csv:URI needs the URI of a CSV file")
            return cls("csv", uris.normalize(uri))
        raise LabelSourceError(f"--labels {text!r}: expected one of {', '.join(LABEL_SOURCES)}")

    @property
    def has_labels(self) -> bool:
        return self.kind != "none"


def folder_label(image: ListedImage) -> Optional[str]:
    """The name of the folder that holds the image."""
    parts = image.uri.rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 and parts[-2] else None


def regex_label(pattern: re.Pattern, image: ListedImage) -> Optional[str]:
    """The first group of `pattern` searched in the file name."""
    m = pattern.search(image.uri.rsplit("/", 1)[-1])
    return m.group(1) if m and m.group(1) else None


def read_labels_csv(uri: str) -> dict[str, str]:
    """A CSV with `path,label` columns -> {path as written: label}."""
    try:
        text = uris.read_text(uri)
    except Exception as e:  # noqa: BLE001
        raise LabelSourceError(f"cannot read the labels CSV {uri}: {e}") from None
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "path" not in fields or "label" not in fields:
        raise LabelSourceError(f"the labels CSV {uri} needs a header with `path` and `label` "
                               f"columns; found {reader.fieldnames}")
    reader.fieldnames = fields
    out = {}
    for row in reader:
        path, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
        if path and label:
            out[path] = label
    return out


def csv_key(image: ListedImage) -> list[str]:
    """The keys under which a CSV may name this image: full URI or relative to its input."""
    keys = [image.uri]
    if image.uri.startswith(image.base):
        keys.append(image.uri[len(image.base):])
    return keys


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

    def label_of(self, image: ListedImage) -> Optional[str]:
        kind = self._source.kind
        if kind == "folder":
            return folder_label(image)
        if kind == "regex":
            return regex_label(self._pattern, image)
        if kind == "csv":
            for key in csv_key(image):
                if key in self._table:
                    return self._table[key]
        return None

    def process(self, image: ListedImage) -> Iterator[ListedImage]:
        yield image.with_label(self.label_of(image))


def csv_candidates(path: str, bases: list[str]) -> list[str]:
    """The URIs a CSV `path` may name: itself if it is a full URI, else below each input."""
    if uris.is_remote(path) or path.startswith("/"):
        return [path]
    return [uris.join(base, path) for base in bases]


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
    from transforms.records import ErrorRow

    path, found = item
    if not any(found):
        yield ErrorRow(path, "label", f"named in the labels CSV {csv_uri} but not found under "
                                      f"the input")


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
        rows = (images.pipeline
                | "CreateCsvUri" >> beam.Create([self._csv_uri])
                | "ReadCsvRows" >> beam.ParDo(_CsvRowsFn(self._bases)))
        listed = images | "KeyListed" >> beam.Map(lambda image: (image.uri, True))
        return (
            {"csv": rows, "listed": listed}
            | "JoinByUri" >> beam.CoGroupByKey()
            | "FoundOrNot" >> beam.FlatMap(_found_or_not)
            | "GroupByRow" >> beam.GroupByKey()
            | "MissingRows" >> beam.FlatMap(_missing_error, self._csv_uri)
        )
