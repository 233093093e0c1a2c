"""run_folder/table_files.py: tables written as Beam's sinks write them (one file, same name,
header, columns and row groups bounded), locally and in a bucket; a discarded table leaves
nothing."""

from __future__ import annotations

import os

import pyarrow.parquet as pq
import pytest

from bucketscore.run_folder.schemas import (
    ERROR_COLUMNS,
    OBJECTS_SCHEMA,
    csv_line,
    error_csv_line,
)
from bucketscore.run_folder.table_files import CsvTable, ParquetTable, shard_uri
from bucketscore.storage import uris
from bucketscore.transforms.records import ErrorRow
from tests.support.storage_servers import unique_bucket_name


@pytest.fixture()
def bucket(s3_server):
    name = s3_server.create_bucket(unique_bucket_name("tables"))
    uris.set_options(s3_server.beam_options())
    return name


def _objects(n):
    return [{"uri": f"/d/{i:05d}.jpg", "size": i, "mtime": float(i) / 2} for i in range(n)]


def _write(run: str, rows, row_group_bytes: int):
    table = ParquetTable(shard_uri(run, "objects", ".parquet"), OBJECTS_SCHEMA, row_group_bytes)
    for row in rows:
        table.write(row)
    errors = CsvTable(uris.join(run, "errors.csv"), csv_line(ERROR_COLUMNS))
    errors.write(error_csv_line(ErrorRow("/d/x, y.jpg", "decode", 'says "no"')))
    return table.close(), errors.close()


def test_local_tables_have_beams_names_rows_and_bounded_row_groups(tmp_path):
    run = str(tmp_path / "run")
    rows = _objects(5000)
    parquet, csv = _write(run, rows, row_group_bytes=20_000)
    assert parquet == os.path.join(run, "objects-00000-of-00001.parquet")
    read = pq.ParquetFile(parquet)
    assert read.read().to_pylist() == rows and read.schema_arrow.equals(OBJECTS_SCHEMA)
    # 1,000-row batches (~20 kB each) close a row group once 20,000 bytes are held.
    assert read.metadata.num_row_groups == 5
    assert open(csv).read() == 'uri,stage,error\n"/d/x, y.jpg",decode,"says ""no"""\n'
    empty = ParquetTable(shard_uri(run, "predictions", ".parquet"), OBJECTS_SCHEMA).close()
    assert pq.read_table(empty).num_rows == 0


def test_a_discarded_table_leaves_nothing(tmp_path):
    table = ParquetTable(str(tmp_path / "t.parquet"), OBJECTS_SCHEMA)
    table.write(_objects(1)[0])
    csv = CsvTable(str(tmp_path / "e.csv"), "uri")
    csv.write("x")
    table.discard()
    csv.discard()
    assert os.listdir(tmp_path) == []


def test_tables_in_a_bucket_are_uploaded_on_close(bucket, tmp_path):
    run = f"s3://{bucket}/runs/r"
    rows = _objects(1200)
    parquet, csv = _write(run, rows, row_group_bytes=1 << 20)
    assert parquet == f"{run}/objects-00000-of-00001.parquet" and csv == f"{run}/errors.csv"
    local = uris.download(parquet, str(tmp_path / "copy.parquet"))
    assert pq.read_table(local).to_pylist() == rows
    assert uris.read_text(csv).startswith("uri,stage,error\n")
    table = CsvTable(f"{run}/gone.csv", "uri")
    table.close()
    table.discard()
    assert not uris.exists(f"{run}/gone.csv")
