"""The columns of a run's tables, as CSV and as Parquet, and how a cell is written and read.

One definition for the pipeline's sinks (writing), `bucketscore runs/compare` and the
Python API (reading back), and the tests.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Iterator, Optional

import pyarrow as pa

PREDICTION_COLUMNS = (
    "uri",
    "true_label",
    "predicted_label",
    "confidence",
    "correct",
    "top_k_labels",
    "top_k_scores",
    "below_threshold",
    "width",
    "height",
    "model_version",
    "run_id",
    "true_label_score",
    "sha256",
)
ERROR_COLUMNS = ("uri", "stage", "error")
PER_CLASS_COLUMNS = (
    "label",
    "precision",
    "recall",
    "f1",
    "support",
    "predicted",
    "abstained",
    "ece",
    "mce",
)
LIST_COLUMNS = ("top_k_labels", "top_k_scores")  # CSV: `;`-joined; Parquet: list columns
LIST_SEPARATOR = ";"

PREDICTIONS_SCHEMA = pa.schema(
    [
        ("uri", pa.string()),
        ("true_label", pa.string()),
        ("predicted_label", pa.string()),
        ("confidence", pa.float32()),
        ("correct", pa.bool_()),
        ("top_k_labels", pa.list_(pa.string())),
        ("top_k_scores", pa.list_(pa.float32())),
        ("below_threshold", pa.bool_()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("model_version", pa.string()),
        ("run_id", pa.string()),
        ("true_label_score", pa.float32()),
        ("sha256", pa.string()),
    ]
)
OBJECTS_SCHEMA = pa.schema([("uri", pa.string()), ("size", pa.int64()), ("mtime", pa.float64())])


def embeddings_schema(dim: int) -> pa.Schema:
    """`uri, true_label, embedding` (a fixed-size list of `dim` float32)."""
    return pa.schema(
        [
            ("uri", pa.string()),
            ("true_label", pa.string()),
            ("embedding", pa.list_(pa.float32(), dim)),
        ]
    )


# --------------------------------------------------------------------------------------
# Writing CSV
# --------------------------------------------------------------------------------------
def cell(value: Any) -> str:
    """One CSV cell: None empty, booleans true/false, floats to 9 digits, lists `;`-joined."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, ".9g")
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATOR.join(cell(v) for v in value)
    return str(value)


def csv_line(values: Iterable[Any]) -> str:
    """One CSV line (no newline), quoting as needed: URIs may hold commas, quotes and line
    breaks (the writer quotes the characters of its line terminator: CR LF, then cut off)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([cell(v) for v in values])
    return buf.getvalue()[:-2]


def csv_text(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> str:
    """A whole small CSV file: header, rows, a final newline."""
    return "\n".join([csv_line(header)] + [csv_line(r) for r in rows]) + "\n"


def prediction_csv_line(row: dict) -> str:
    """A prediction row as a CSV line; a column the row lacks (true_label_score, sha256 of
    a row written by an older version) is empty."""
    return csv_line(row.get(c) for c in PREDICTION_COLUMNS)


def error_csv_line(error) -> str:
    """An ErrorRow (or anything with uri, stage, error) as a line of errors.csv."""
    return csv_line((error.uri, error.stage, error.error))


# --------------------------------------------------------------------------------------
# Reading CSV back
# --------------------------------------------------------------------------------------
def parse_prediction_cell(column: str, text: str) -> Any:
    """A predictions CSV cell back to its value (the inverse of `cell`)."""
    if column == "top_k_labels":
        return text.split(LIST_SEPARATOR) if text else []
    if column == "top_k_scores":
        return [float(x) for x in text.split(LIST_SEPARATOR)] if text else []
    if column in ("confidence", "true_label_score"):
        return float(text) if text else None
    if column in ("width", "height"):
        return int(text) if text else None
    if column in ("correct", "below_threshold"):
        return None if text == "" else text == "true"
    if column in ("true_label", "predicted_label", "sha256"):
        return text or None
    return text


def parse_predictions_csv(text: str) -> Iterator[dict]:
    """The rows of one predictions CSV file, with typed values (lists as lists)."""
    for row in csv.DictReader(io.StringIO(text)):
        yield {k: parse_prediction_cell(k, v) for k, v in row.items()}


def parse_csv(text: str) -> list[dict]:
    """Rows of a small CSV file (errors.csv, per_class.csv), as strings."""
    return list(csv.DictReader(io.StringIO(text)))


def optional_float(text: Optional[str]) -> Optional[float]:
    return float(text) if text not in (None, "") else None
