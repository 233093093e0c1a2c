"""Beam file sinks of a run's tables under `<output>/<run_id>/`.

predictions*.csv / predictions*.parquet, errors.csv, embeddings*.parquet (optional) and the
object index (what the run listed, which the next --incremental run compares with) are Beam
file sinks; each returns the names of the files it wrote, which the finishing step
(transforms/finishing.py) waits for. Columns,
schemas and CSV formatting: run_folder.schemas; file names: run_folder.layout.
"""

from __future__ import annotations

import apache_beam as beam

from bucketscore.run_folder import layout
from bucketscore.run_folder.schemas import (
    ERROR_COLUMNS,
    OBJECTS_SCHEMA,
    PREDICTION_COLUMNS,
    PREDICTIONS_SCHEMA,
    csv_line,
    embeddings_schema,
    error_csv_line,
    prediction_csv_line,
)
from bucketscore.transforms.launch_values import Derived, join
from bucketscore.transforms.per_image import object_record

# Rows a Parquet sink buffers before writing them as one row group (Beam's default: 64 MB,
# which holds a whole shard of a 100,000-image run in memory). 4 MiB keeps the writers'
# memory and a row group read back (the label checks, transforms/label_checks.py) the same
# at any run size: ~9,000 prediction rows a group.
ROW_GROUP_BYTES = 4 * 2**20


class WritePredictions(beam.PTransform):
    """prediction rows -> predictions-*.csv and predictions-*.parquet; returns file names.

    `run_uri` (here and in the other sinks): the run folder, a str or a ValueProvider
    (transforms.launch_values), read when the job runs. `num_shards` (here and in the
    other sharded sinks): 0 = as many files as the runner likes, 1 = one file (small
    runs: pipelines/workers.py SMALL_RUN_IMAGES)."""

    def __init__(self, run_uri, num_shards: int = 0, name: str = layout.PREDICTIONS):
        super().__init__()
        self._prefix = Derived(join, run_uri, name)  # name: predictions, predictions-carried
        self._shards = num_shards

    def expand(self, rows):
        csv_files = (
            rows
            | "FormatCsv" >> beam.Map(prediction_csv_line)
            | "WriteCsv"
            >> beam.io.WriteToText(
                self._prefix,
                file_name_suffix=".csv",
                num_shards=self._shards,
                header=csv_line(PREDICTION_COLUMNS),
            )
        )
        parquet_files = rows | "WriteParquet" >> beam.io.WriteToParquet(
            self._prefix,
            PREDICTIONS_SCHEMA,
            file_name_suffix=".parquet",
            num_shards=self._shards,
            row_group_buffer_size=ROW_GROUP_BYTES,
        )
        return (csv_files, parquet_files) | "AllPredictionFiles" >> beam.Flatten()


class WriteErrors(beam.PTransform):
    """ErrorRow -> errors.csv (one file, header always present); returns its name."""

    def __init__(self, run_uri):
        super().__init__()
        self._path = Derived(join, run_uri, layout.ERRORS)

    def expand(self, errors):
        return (
            errors
            | "FormatCsv" >> beam.Map(error_csv_line)
            | "WriteCsv"
            >> beam.io.WriteToText(
                self._path,
                file_name_suffix=".csv",
                num_shards=1,
                shard_name_template="",
                header=csv_line(ERROR_COLUMNS),
            )
        )


class WriteEmbeddings(beam.PTransform):
    """embedding rows -> embeddings-*.parquet (`uri, true_label, embedding` float32[dim])."""

    def __init__(self, run_uri, dim: int, num_shards: int = 0):
        super().__init__()
        self._prefix = Derived(join, run_uri, layout.EMBEDDINGS)
        self._dim = dim
        self._shards = num_shards

    def expand(self, rows):
        return rows | "WriteParquet" >> beam.io.WriteToParquet(
            self._prefix,
            embeddings_schema(self._dim),
            file_name_suffix=".parquet",
            num_shards=self._shards,
            row_group_buffer_size=ROW_GROUP_BYTES,
        )


class WriteObjectIndex(beam.PTransform):
    """ListedImage -> `<run>/objects-*.parquet`: what the run listed (the state the next
    --incremental run reads, run_folder/state.py)."""

    def __init__(self, run_uri, num_shards: int = 0):
        super().__init__()
        self._prefix = Derived(join, run_uri, layout.OBJECTS)
        self._shards = num_shards

    def expand(self, images):
        return (
            images
            | "ToRecords" >> beam.Map(object_record)
            | "WriteParquet"
            >> beam.io.WriteToParquet(
                self._prefix,
                OBJECTS_SCHEMA,
                file_name_suffix=".parquet",
                num_shards=self._shards,
                row_group_buffer_size=ROW_GROUP_BYTES,
            )
        )
