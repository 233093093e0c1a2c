"""The --incremental stage: split the listing into images to score and rows carried over.

One join by URI of the current listing, the base run's object index (what it listed:
`objects-*.parquet`) and its prediction rows; the rule for each URI is
run_folder/carry_over.py. The two outputs stay apart all the way to the sinks: a Flatten of
carried rows with scored ones would be held whole in memory by Beam's local runners, which
materialise every Flatten (docs/decisions.md, "No Flatten of prediction rows").
"""

from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from bucketscore.run_folder import layout
from bucketscore.run_folder.carry_over import carried_row, listing_key, read_base, unchanged
from bucketscore.storage import uris
from bucketscore.transforms import counters

CARRIED_TAG = "carried"


class _CarryOrScore(beam.DoFn):
    """(uri, {current, previous, row}) -> the image to score, or its carried-over row
    (counted as `carried`: live progress and beam_counters)."""

    def __init__(self):
        self._carried = counters.counter("carried")

    def process(self, item) -> Iterator:
        _uri, grouped = item
        previous = list(grouped["previous"])
        rows = list(grouped["row"])
        for image in grouped["current"]:
            if unchanged(image.size, image.mtime, previous, rows):
                self._carried.inc()
                yield beam.pvalue.TaggedOutput(CARRIED_TAG, carried_row(rows[0], image.true_label))
            else:
                yield image


class CarryOverUnchanged(beam.PTransform):
    """ListedImage -> (images to score: main, prediction rows carried over: `carried`)."""

    def __init__(self, base_run: str):
        super().__init__()
        self._base = base_run

    def expand(self, images):
        p = images.pipeline
        previous = (
            p
            | "ReadBaseObjects"
            >> beam.io.ReadFromParquet(uris.join(self._base, f"{layout.OBJECTS}*.parquet"))
            | "KeyBaseObjects" >> beam.Map(lambda r: (r["uri"], listing_key(r["size"], r["mtime"])))
        )
        base_rows = (
            p
            | "ReadBasePredictions"
            >> beam.io.ReadFromParquet(uris.join(self._base, f"{layout.PREDICTIONS}*.parquet"))
            | "KeyBaseRows" >> beam.Map(lambda r: (r["uri"], r))
        )
        current = images | "KeyCurrent" >> beam.Map(lambda i: (i.uri, i))
        out = (
            {"current": current, "previous": previous, "row": base_rows}
            | "JoinByUri" >> beam.CoGroupByKey()
            | "CarryOrScore"
            >> beam.ParDo(_CarryOrScore()).with_outputs(CARRIED_TAG, main="to_score")
        )
        return out.to_score, out[CARRIED_TAG]


class _CarryOrScoreFromMemory(beam.DoFn):
    """ListedImage -> the image to score, or its carried-over row, looking the image up in
    the base run held in memory (read once per worker: run_folder.carry_over.read_base)."""

    def __init__(self, base_run: str):
        self._base_run = base_run
        self._carried = counters.counter("carried")
        self._base = None

    def setup(self) -> None:
        self._base = read_base(self._base_run)

    def process(self, image) -> Iterator:
        key_and_row = self._base.get(image.uri)
        if key_and_row and unchanged(image.size, image.mtime, [key_and_row[0]], [key_and_row[1]]):
            self._carried.inc()
            yield beam.pvalue.TaggedOutput(
                CARRIED_TAG, carried_row(key_and_row[1], image.true_label)
            )
        else:
            yield image


class CarryOverFromMemory(beam.PTransform):
    """ListedImage -> (images to score, rows carried over), as CarryOverUnchanged, for a base
    run small enough to hold in each worker's memory: no join, no shuffle (a small
    --incremental run costs what a full run of its new images costs)."""

    def __init__(self, base_run: str):
        super().__init__()
        self._base = base_run

    def expand(self, images):
        out = images | "CarryOrScore" >> beam.ParDo(
            _CarryOrScoreFromMemory(self._base)
        ).with_outputs(CARRIED_TAG, main="to_score")
        return out.to_score, out[CARRIED_TAG]
