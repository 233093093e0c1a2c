"""transforms.sinks: a run's tables as Beam file sinks, read back with pyarrow and csv:
predictions (CSV and Parquet), errors.csv (header always there), embeddings and the object
index (WriteObjectIndex / object_record), each returning the names it wrote."""

import csv
import glob
import io
import os

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.run_folder.schemas import PREDICTION_COLUMNS, csv_line
from bucketscore.transforms.records import ErrorRow, ListedImage
from bucketscore.transforms.sinks import (
    WriteEmbeddings,
    WriteErrors,
    WriteObjectIndex,
    WritePredictions,
    object_record,
)

ROWS = [
    {
        "uri": 's3://b/in/a, "b".png',
        "true_label": "cat",
        "predicted_label": "cat",
        "confidence": 0.75,
        "correct": True,
        "top_k_labels": ["cat", "dog"],
        "top_k_scores": [0.75, 0.25],
        "below_threshold": False,
        "width": 640,
        "height": 480,
        "model_version": "v1",
        "run_id": "r1",
        "true_label_score": 0.75,
        "sha256": "ab" * 32,
    },
    {
        "uri": "s3://b/in/c.png",
        "true_label": None,
        "predicted_label": None,
        "confidence": 0.5,
        "correct": None,
        "top_k_labels": ["dog", "cat"],
        "top_k_scores": [0.5, 0.5],
        "below_threshold": True,
        "width": 10,
        "height": 20,
        "model_version": "v1",
        "run_id": "r1",
        "true_label_score": None,
        "sha256": None,
    },
]


def test_csv_line_quotes_and_joins():
    line = csv_line(['s3://b/a, "b".png', None, True, 0.5, ["x", "y"], [0.25, 0.125]])
    assert next(csv.reader(io.StringIO(line))) == [
        's3://b/a, "b".png',
        "",
        "true",
        "0.5",
        "x;y",
        "0.25;0.125",
    ]


def _names(folder):
    return sorted(os.listdir(folder))


def test_predictions_as_csv_and_parquet(tmp_path):
    run = str(tmp_path / "run") + "/"
    with TestPipeline() as p:
        written = p | beam.Create(ROWS) | WritePredictions(run, num_shards=1)
        assert_that(
            written | beam.Map(os.path.basename),
            equal_to(["predictions-00000-of-00001.csv", "predictions-00000-of-00001.parquet"]),
        )
    assert _names(run) == ["predictions-00000-of-00001.csv", "predictions-00000-of-00001.parquet"]
    with open(run + "predictions-00000-of-00001.csv", newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0] == list(PREDICTION_COLUMNS)
    assert sorted(lines[1:]) == sorted(
        [
            [
                's3://b/in/a, "b".png',
                "cat",
                "cat",
                "0.75",
                "true",
                "cat;dog",
                "0.75;0.25",
                "false",
                "640",
                "480",
                "v1",
                "r1",
                "0.75",
                "ab" * 32,
            ],
            [
                "s3://b/in/c.png",
                "",
                "",
                "0.5",
                "",
                "dog;cat",
                "0.5;0.5",
                "true",
                "10",
                "20",
                "v1",
                "r1",
                "",
                "",
            ],
        ]
    )
    table = pq.read_table(run + "predictions-00000-of-00001.parquet")
    assert table.column_names == list(PREDICTION_COLUMNS)
    assert sorted(table.to_pylist(), key=lambda r: r["uri"]) == ROWS


def test_errors_csv_is_one_file_with_its_header_even_when_empty(tmp_path):
    run, empty = str(tmp_path / "run") + "/", str(tmp_path / "empty") + "/"
    errors = [
        ErrorRow("s3://b/x.png", "decode", "not an image, really"),
        ErrorRow("y", "read", "404"),
    ]
    with TestPipeline() as p:
        written = p | "Some" >> beam.Create(errors) | "WriteSome" >> WriteErrors(run)
        none = (
            p
            | "None" >> beam.Create([]).with_output_types(ErrorRow)
            | "WriteNone" >> WriteErrors(empty)
        )
        assert_that(
            written | "Name1" >> beam.Map(os.path.basename), equal_to(["errors.csv"]), label="some"
        )
        assert_that(
            none | "Name2" >> beam.Map(os.path.basename), equal_to(["errors.csv"]), label="none"
        )
    with open(run + "errors.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["uri", "stage", "error"]
    assert sorted(rows[1:]) == [
        ["s3://b/x.png", "decode", "not an image, really"],
        ["y", "read", "404"],
    ]
    with open(empty + "errors.csv") as f:
        assert f.read() == "uri,stage,error\n"


def test_embeddings_are_fixed_size_float32_vectors(tmp_path):
    import pyarrow as pa

    run = str(tmp_path / "run") + "/"
    rows = [
        {"uri": "a", "true_label": "cat", "embedding": [0.5, 1.5, -2.0]},
        {"uri": "b", "true_label": None, "embedding": [0.0, 0.25, 1e-3]},
    ]
    with TestPipeline() as p:
        p | beam.Create(rows) | WriteEmbeddings(run, dim=3, num_shards=1)
    (path,) = glob.glob(run + "embeddings-*.parquet")
    table = pq.read_table(path)
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 3)
    got = sorted(table.to_pylist(), key=lambda r: r["uri"])
    assert [(r["uri"], r["true_label"]) for r in got] == [("a", "cat"), ("b", None)]
    assert got[0]["embedding"] == [0.5, 1.5, -2.0]
    assert got[1]["embedding"] == pytest.approx([0.0, 0.25, 1e-3], rel=1e-6)


def test_the_object_index_holds_what_was_listed(tmp_path):
    images = [
        ListedImage("s3://b/in/a.png", "s3://b/in/", size=123, mtime=1700000000.25, true_label="x"),
        ListedImage("s3://b/in/d/b.png", "s3://b/in/", size=0, mtime=0.0),
    ]
    assert object_record(images[0]) == {
        "uri": "s3://b/in/a.png",
        "size": 123,
        "mtime": 1700000000.25,
    }
    run = str(tmp_path / "run") + "/"
    with TestPipeline() as p:
        written = p | beam.Create(images) | WriteObjectIndex(run, num_shards=2)
        assert_that(
            written | beam.Map(lambda f: os.path.basename(f)[:8]), equal_to(["objects-"] * 2)
        )
    paths = sorted(glob.glob(run + "objects-*.parquet"))
    assert [os.path.basename(x) for x in paths] == [
        "objects-00000-of-00002.parquet",
        "objects-00001-of-00002.parquet",
    ]
    rows = sorted((r for x in paths for r in pq.read_table(x).to_pylist()), key=lambda r: r["uri"])
    assert rows == [
        {"uri": "s3://b/in/a.png", "size": 123, "mtime": 1700000000.25},
        {"uri": "s3://b/in/d/b.png", "size": 0, "mtime": 0.0},
    ]
