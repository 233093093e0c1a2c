"""Incremental runs: score only images that are new or changed since the last completed run.

State lives beside the runs, in the results prefix (run_folder/state.py: the pointer to
the last completed run per model version; `<run>/objects-*.parquet`: what it listed,
written here by `WriteObjectIndex`).

An image is unchanged when its URI, size and modification time are those of the base run's
listing; it then keeps the base run's prediction row (its `run_id` says which run scored
it; its true label and `correct` follow the current labels). Everything else is scored.
Images that failed last time are scored again.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import apache_beam as beam

from bucketscore.run_folder import accuracy, layout
from bucketscore.run_folder.report_selection import is_mistake, mistake_key
from bucketscore.run_folder.schemas import OBJECTS_SCHEMA
from bucketscore.storage import uris
from bucketscore.transforms.launch_values import Derived, join
from bucketscore.transforms.records import ListedImage
from bucketscore.transforms.summarising import SummaryFn

CARRIED_TAG = "carried"


def _object_record(image: ListedImage) -> dict:
    return {"uri": image.uri, "size": int(image.size), "mtime": float(image.mtime)}


class WriteObjectIndex(beam.PTransform):
    """ListedImage -> `<run>/objects-*.parquet` (the state the next incremental run reads)."""

    def __init__(self, run_uri, num_shards: int = 0):
        super().__init__()
        self._prefix = Derived(join, run_uri, layout.OBJECTS)  # run_uri: str or ValueProvider
        self._shards = num_shards  # 0: as many as the runner likes; 1: one file

    def expand(self, images):
        return (images
                | "ToRecords" >> beam.Map(_object_record)
                | "WriteParquet" >> beam.io.WriteToParquet(
                    self._prefix, OBJECTS_SCHEMA, file_name_suffix=".parquet",
                    num_shards=self._shards))


CARRIED_PREDICTIONS = f"{layout.PREDICTIONS}-carried"  # predictions-carried-*.csv|parquet


def _carry_or_score(item) -> Iterator:
    """(uri, {current, previous, row}) -> the image to score, or its carried-over row.

    Unchanged = the same size and mtime as in the base run's listing; an unchanged image
    without a base row failed last time and is scored again."""
    _uri, grouped = item
    previous = list(grouped["previous"])
    rows = list(grouped["row"])
    for image in grouped["current"]:
        if not (rows and previous and previous[0] == (int(image.size), float(image.mtime))):
            yield image
            continue
        row = dict(rows[0])
        row["true_label"] = image.true_label
        row["correct"] = (None if image.true_label is None
                          else row["predicted_label"] == image.true_label)
        yield beam.pvalue.TaggedOutput(CARRIED_TAG, row)


class CarryOverUnchanged(beam.PTransform):
    """ListedImage -> (images to score: main, prediction rows carried over: `carried`).

    One join by URI of the current listing, the base run's object index and its prediction
    rows. Its two outputs stay apart all the way to the sinks (the carried rows' own
    predictions-carried-* files, SummariseRows, ReportCandidates): a Flatten of the carried rows with the scored ones is
    held whole in the memory of Beam's local runners, which materialise every Flatten.
    """

    def __init__(self, base_run: str):
        super().__init__()
        self._base = base_run

    def expand(self, images):
        p = images.pipeline
        previous = (p
                    | "ReadBaseObjects" >> beam.io.ReadFromParquet(
                        uris.join(self._base, f"{layout.OBJECTS}*.parquet"))
                    | "KeyBaseObjects" >> beam.Map(
                        lambda r: (r["uri"], (int(r["size"]), float(r["mtime"])))))
        base_rows = (p
                     | "ReadBasePredictions" >> beam.io.ReadFromParquet(
                         uris.join(self._base, f"{layout.PREDICTIONS}*.parquet"))
                     | "KeyBaseRows" >> beam.Map(lambda r: (r["uri"], r)))
        current = images | "KeyCurrent" >> beam.Map(lambda i: (i.uri, i))
        out = ({"current": current, "previous": previous, "row": base_rows}
               | "JoinByUri" >> beam.CoGroupByKey()
               | "CarryOrScore" >> beam.FlatMap(_carry_or_score).with_outputs(
                   CARRIED_TAG, main="to_score"))
        return out.to_score, out[CARRIED_TAG]


class _MergeSummaries(beam.CombineFn):
    """Accumulators of run_folder.accuracy -> one summary dict."""

    def __init__(self, labels: Sequence[str]):
        self._labels = list(labels)

    def create_accumulator(self) -> dict:
        return accuracy.new_accumulator()

    def add_input(self, acc: dict, other: dict) -> dict:
        return accuracy.merge([acc, other])

    def merge_accumulators(self, accumulators) -> dict:
        return accuracy.merge(accumulators)

    def extract_output(self, acc: dict) -> dict:
        return accuracy.summarise(acc, self._labels)


class _AccumulateFn(SummaryFn):
    """prediction rows -> their accuracy accumulator (merged with others' afterwards)."""

    def extract_output(self, acc: dict) -> dict:
        return acc


class SummariseRows(beam.PTransform):
    """(scored rows, carried rows) -> ONE summary dict over both, as SummaryFn would give
    over their union: each side is accumulated apart, only the two accumulators meet."""

    def __init__(self, labels: Sequence[str]):
        super().__init__()
        self._labels = list(labels)

    def expand(self, pcolls):
        scored, carried = pcolls
        parts = [rows | f"Accumulate{name}" >> beam.CombineGlobally(_AccumulateFn(self._labels))
                 for name, rows in (("Scored", scored), ("Carried", carried))]
        return (tuple(parts)
                | "BothAccumulators" >> beam.Flatten()
                | "Merge" >> beam.CombineGlobally(_MergeSummaries(self._labels)))


class ReportCandidates(beam.PTransform):
    """(scored rows, carried rows) -> the rows report.html may show: each side's n most
    confident mistakes (the n of their union are among these 2n)."""

    def __init__(self, n: int, labels: Sequence[str]):
        super().__init__()
        self._n = n
        self._labels = frozenset(labels)

    def expand(self, pcolls):
        tops = [rows
                | f"Mistakes{name}" >> beam.Filter(is_mistake, self._labels)
                | f"Top{name}" >> beam.combiners.Top.Of(self._n, key=mistake_key)
                | f"Each{name}" >> beam.FlatMap(lambda top: top)
                for name, rows in zip(("Scored", "Carried"), pcolls)]
        return tuple(tops) | "Candidates" >> beam.Flatten()
