"""A run's tables (run_folder.schemas): CSV cells as written and read back with the csv
module, the columns, and the Parquet schemas written and read back with pyarrow.
"""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bucketscore.run_folder.schemas import (
    ERROR_COLUMNS,
    LIST_COLUMNS,
    OBJECTS_SCHEMA,
    PER_CLASS_COLUMNS,
    PREDICTION_COLUMNS,
    PREDICTIONS_SCHEMA,
    cell,
    csv_line,
    csv_text,
    embeddings_schema,
    error_csv_line,
    optional_float,
    parse_csv,
    parse_prediction_cell,
    parse_predictions_csv,
    prediction_csv_line,
)

ROWS = [
    {
        "uri": 's3://b/a, "quoted" name.png',
        "true_label": "cat",
        "predicted_label": "dog",
        "confidence": 0.75,
        "correct": False,
        "top_k_labels": ["dog", "cat"],
        "top_k_scores": [0.75, 0.25],
        "below_threshold": False,
        "width": 640,
        "height": 480,
        "model_version": "abc123",
        "run_id": "r1",
        "true_label_score": 0.25,
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    },
    {
        "uri": "/local/naïve.jpg",
        "true_label": None,
        "predicted_label": None,
        "confidence": 0.125,
        "correct": None,
        "top_k_labels": ["fox"],
        "top_k_scores": [0.125],
        "below_threshold": True,
        "width": 1,
        "height": 1,
        "model_version": "abc123",
        "run_id": "r1",
        "true_label_score": None,
        "sha256": None,
    },
]


@pytest.mark.parametrize(
    "value,text",
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0.1, "0.1"),
        (1 / 3, "0.333333333"),
        (1e-12, "1e-12"),
        (42, "42"),
        (["a", "b"], "a;b"),
        ((0.5, None, True), "0.5;;true"),
        ([], ""),
        ("text", "text"),
    ],
)
def test_cells(value, text):
    assert cell(value) == text


def test_csv_lines_quote_what_needs_quoting():
    line = csv_line(["a,b", 'say "hi"', "plain", None, 1.5])
    assert next(csv.reader([line])) == ["a,b", 'say "hi"', "plain", "", "1.5"]
    assert not line.endswith(("\n", "\r"))
    text = csv_text(["x", "y"], [[1, "a,b"], [None, True]])
    assert text.endswith("\n")
    assert list(csv.reader(io.StringIO(text))) == [["x", "y"], ["1", "a,b"], ["", "true"]]


def test_a_line_break_in_a_value_stays_inside_its_cell():
    """An S3 key (or a folder name) may hold a line break: the row stays one CSV record."""
    row = dict(ROWS[0], uri="s3://b/two\nlines\r.png", true_label="a\r\nb")
    text = csv_text(PREDICTION_COLUMNS, []) + prediction_csv_line(row) + "\n"
    assert list(parse_predictions_csv(text)) == [row]
    line = error_csv_line(SimpleNamespace(uri="/x\ny.png", stage="read", error="gone"))
    assert parse_csv(csv_text(ERROR_COLUMNS, []) + line + "\n") == [
        {"uri": "/x\ny.png", "stage": "read", "error": "gone"}
    ]


def test_predictions_round_trip_through_csv():
    text = csv_text(PREDICTION_COLUMNS, ([r[c] for c in PREDICTION_COLUMNS] for r in ROWS))
    assert text.splitlines()[1] == prediction_csv_line(ROWS[0])
    assert list(parse_predictions_csv(text)) == ROWS


def test_empty_cells_read_back_as_none():
    for column in ("confidence", "width", "height", "correct", "below_threshold", "true_label"):
        assert parse_prediction_cell(column, "") is None, column
    assert parse_prediction_cell("top_k_labels", "") == []
    assert parse_prediction_cell("top_k_scores", "0.5;0.25") == [0.5, 0.25]
    assert parse_prediction_cell("uri", "") == ""
    assert optional_float("") is None and optional_float(None) is None
    assert optional_float("2.5") == 2.5


def test_error_rows_and_small_files():
    line = error_csv_line(SimpleNamespace(uri="/x,y.png", stage="decode", error='Err: "bad"'))
    text = csv_text(ERROR_COLUMNS, []) + line + "\n"
    assert parse_csv(text) == [{"uri": "/x,y.png", "stage": "decode", "error": 'Err: "bad"'}]
    assert PER_CLASS_COLUMNS[0] == "label" and "abstained" in PER_CLASS_COLUMNS


def test_the_prediction_columns_are_the_parquet_schema_and_the_csv_header():
    assert tuple(PREDICTIONS_SCHEMA.names) == PREDICTION_COLUMNS
    assert all(pa.types.is_list(PREDICTIONS_SCHEMA.field(c).type) for c in LIST_COLUMNS)


def test_predictions_round_trip_through_parquet(tmp_path):
    path = str(tmp_path / "p.parquet")
    pq.write_table(pa.Table.from_pylist(ROWS, schema=PREDICTIONS_SCHEMA), path)
    table = pq.read_table(path)
    assert table.schema.equals(PREDICTIONS_SCHEMA)
    assert table.to_pylist() == ROWS  # 0.75, 0.25, 0.125: exact in float32


def test_objects_and_embeddings_round_trip_through_parquet(tmp_path):
    objects = [{"uri": "s3://b/a.png", "size": 2**40, "mtime": 1_700_000_000.123456}]
    pq.write_table(pa.Table.from_pylist(objects, schema=OBJECTS_SCHEMA), str(tmp_path / "o"))
    assert pq.read_table(str(tmp_path / "o")).to_pylist() == objects  # int64, float64
    schema = embeddings_schema(3)
    rows = [{"uri": "a", "true_label": None, "embedding": [0.5, -1.0, 2.0]}]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), str(tmp_path / "e"))
    back = pq.read_table(str(tmp_path / "e"))
    assert back.to_pylist() == rows
    assert back.schema.field("embedding").type == pa.list_(pa.float32(), 3)
    with pytest.raises((pa.ArrowInvalid, ValueError)):
        pa.Table.from_pylist([{"uri": "b", "true_label": None, "embedding": [1.0]}], schema=schema)
