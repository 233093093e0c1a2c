"""Incremental runs: score only images that are new or changed since the last completed run.

State lives beside the runs, in the results prefix:

* `<run>/objects-*.parquet`: `uri, size, mtime` of every image a run listed;
* `<output>/_state/<model_version>.json`: `{"run_id": ...}` of the last *completed* run with
  that model version, written by the finishing step after `_SUCCESS`, so a run that died
  never becomes the base of the next one.

An image is unchanged when its URI, size and modification time are those of the base run's
listing; it then keeps the base run's prediction row (its `run_id` says which run scored
it; its true label and `correct` follow the current labels). Everything else is scored.
Images that failed last time are scored again.
"""
from __future__ import annotations

import json
from typing import Iterator, Optional

import apache_beam as beam
import pyarrow as pa

from storage import uris
from transforms.launch_values import Derived, join
from transforms.records import ListedImage

STATE_DIR = "_state"
OBJECTS = "objects"
OBJECTS_SCHEMA = pa.schema([("uri", pa.string()), ("size", pa.int64()),
                            ("mtime", pa.float64())])
RESCORE_TAG = "rescore"


def pointer_uri(output: str, model_version: str) -> str:
    return uris.join(output, STATE_DIR, f"{model_version}.json")


def write_pointer(output: str, model_version: str, run_id: str, finished_at: str) -> None:
    uris.write_text(pointer_uri(output, model_version),
                    json.dumps({"run_id": run_id, "finished_at": finished_at}) + "\n",
                    "application/json")


def last_completed_run(output: str, model_version: str) -> Optional[str]:
    """The run folder URI of the last completed run with this model version, or None."""
    pointer = pointer_uri(output, model_version)
    if not uris.exists(pointer):
        return None
    try:
        run_id = json.loads(uris.read_text(pointer))["run_id"]
    except (ValueError, KeyError):
        return None
    run = uris.as_prefix(uris.join(output, run_id))
    # The pointer is written after _SUCCESS; still, never build on a folder without it.
    if not uris.exists(uris.join(run, "_SUCCESS")):
        return None
    return run


def _object_record(image: ListedImage) -> dict:
    return {"uri": image.uri, "size": int(image.size), "mtime": float(image.mtime)}


class WriteObjectIndex(beam.PTransform):
    """ListedImage -> `<run>/objects-*.parquet` (the state the next incremental run reads)."""

    def __init__(self, run_uri):
        super().__init__()
        self._prefix = Derived(join, run_uri, OBJECTS)  # run_uri: str or ValueProvider

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
                        uris.join(self._base, f"{OBJECTS}*.parquet"))
                    | "KeyBaseObjects" >> beam.Map(
                        lambda r: (r["uri"], (int(r["size"]), float(r["mtime"])))))
        current = images | "KeyCurrent" >> beam.Map(lambda i: (i.uri, i))
        split = ({"current": current, "previous": previous}
                 | "JoinListings" >> beam.CoGroupByKey()
                 | "SplitChanged" >> beam.FlatMap(_split).with_outputs("unchanged",
                                                                      main="changed"))
        base_rows = (p
                     | "ReadBasePredictions" >> beam.io.ReadFromParquet(
                         uris.join(self._base, "predictions*.parquet"))
                     | "KeyBaseRows" >> beam.Map(lambda r: (r["uri"], r)))
        unchanged = split.unchanged | "KeyUnchanged" >> beam.Map(lambda i: (i.uri, i))
        carried = ({"image": unchanged, "row": base_rows}
                   | "JoinRows" >> beam.CoGroupByKey()
                   | "CarryRows" >> beam.FlatMap(_carry).with_outputs(RESCORE_TAG,
                                                                     main="carried"))
        return split.changed, carried.carried, carried[RESCORE_TAG]
