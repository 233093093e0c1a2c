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

from typing import Iterator

import apache_beam as beam

from bucketscore.run_folder import layout
from bucketscore.run_folder.schemas import OBJECTS_SCHEMA
from bucketscore.storage import uris
from bucketscore.transforms.launch_values import Derived, join
from bucketscore.transforms.records import ListedImage

RESCORE_TAG = "rescore"


def _object_record(image: ListedImage) -> dict:
    return {"uri": image.uri, "size": int(image.size), "mtime": float(image.mtime)}


class WriteObjectIndex(beam.PTransform):
    """ListedImage -> `<run>/objects-*.parquet` (the state the next incremental run reads)."""

    def __init__(self, run_uri):
        super().__init__()
        self._prefix = Derived(join, run_uri, layout.OBJECTS)  # run_uri: str or ValueProvider

    def expand(self, images):
        return (images
                | "ToRecords" >> beam.Map(_object_record)
                | "WriteParquet" >> beam.io.WriteToParquet(
                    self._prefix, OBJECTS_SCHEMA, file_name_suffix=".parquet"))


def _split(item) -> Iterator:
    _uri, grouped = item
    previous = list(grouped["previous"])
    for image in grouped["current"]:
        if previous and previous[0] == (int(image.size), float(image.mtime)):
            yield beam.pvalue.TaggedOutput("unchanged", image)
        else:
            yield image


def _carry(item) -> Iterator:
    _uri, grouped = item
    rows = list(grouped["row"])
    for image in grouped["image"]:
        if not rows:
            yield beam.pvalue.TaggedOutput(RESCORE_TAG, image)  # failed last time
            continue
        row = dict(rows[0])
        row["true_label"] = image.true_label
        row["correct"] = (None if image.true_label is None
                          else row["predicted_label"] == image.true_label)
        yield row


class CarryOverUnchanged(beam.PTransform):
    """ListedImage -> (changed images: main, prediction rows: `carried`, `rescore` images).

    Joins the current listing with the base run's object index (by URI, comparing size and
    mtime), then the unchanged images with the base run's prediction rows.
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
        current = images | "KeyCurrent" >> beam.Map(lambda i: (i.uri, i))
        split = ({"current": current, "previous": previous}
                 | "JoinListings" >> beam.CoGroupByKey()
                 | "SplitChanged" >> beam.FlatMap(_split).with_outputs("unchanged",
                                                                      main="changed"))
        base_rows = (p
                     | "ReadBasePredictions" >> beam.io.ReadFromParquet(
                         uris.join(self._base, f"{layout.PREDICTIONS}*.parquet"))
                     | "KeyBaseRows" >> beam.Map(lambda r: (r["uri"], r)))
        unchanged = split.unchanged | "KeyUnchanged" >> beam.Map(lambda i: (i.uri, i))
        carried = ({"image": unchanged, "row": base_rows}
                   | "JoinRows" >> beam.CoGroupByKey()
                   | "CarryRows" >> beam.FlatMap(_carry).with_outputs(RESCORE_TAG,
                                                                     main="carried"))
        return split.changed, carried.carried, carried[RESCORE_TAG]
