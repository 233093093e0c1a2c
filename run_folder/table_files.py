"""A run's tables written as one file each, without Beam: what the in-process executor
(pipelines/inline_run.py) writes where Beam's file sinks (transforms/sinks.py) write theirs,
with the same names, columns and formats:

* `CsvTable(uri, header)`: a header line, then one line per `write(line)` (UTF-8, `\\n`),
  as Beam's WriteToText writes them;
* `ParquetTable(uri, schema)`: rows (dicts) in record batches of 1,000 and row groups of
  at most ROW_GROUP_BYTES, uncompressed, as Beam's WriteToParquet writes them with the
  sinks' settings;
* `shard_uri(run, name, suffix)`: `<run>/<name>-00000-of-00001<suffix>`, the name Beam gives
  the one file of a table written as one shard.

A local table is written in place; a remote one to a local temporary file, uploaded on
`close()`. `close()` returns the file's URI (what the finishing step counts rows in);
`discard()` removes what was written (a run that failed before its tables were complete).
"""

from __future__ import annotations

import os
import tempfile
from typing import Optional

from bucketscore.storage import uris

# As transforms/sinks.py: a row group holds at most this many bytes of rows.
ROW_GROUP_BYTES = 4 * 2**20
RECORD_BATCH_ROWS = 1000  # Beam's WriteToParquet default


def shard_uri(run: str, name: str, suffix: str) -> str:
    """The URI of a table written as one file (Beam's shard name for 1 of 1)."""
    return uris.join(run, f"{name}-00000-of-00001{suffix}")


class _TableFile:
    """A file at `uri`, written locally (in place, or in a temporary file to upload)."""

    def __init__(self, uri: str, mime_type: str):
        self.uri = uri
        self._mime = mime_type
        if uris.is_remote(uri):
            handle, self._path = tempfile.mkstemp(prefix="bucketscore-table-")
            os.close(handle)
        else:
            os.makedirs(os.path.dirname(uri) or ".", exist_ok=True)
            self._path = uri
        self._uploaded = False

    def _finish(self) -> str:
        if uris.is_remote(self.uri):
            try:
                uris.upload(self._path, self.uri, self._mime)
                self._uploaded = True
            finally:
                os.remove(self._path)
        return self.uri

    def discard(self) -> None:
        """Remove the file (local, or the temporary copy and what was uploaded)."""
        if self._path != self.uri and os.path.exists(self._path):
            os.remove(self._path)
        try:
            if not uris.is_remote(self.uri) and os.path.exists(self.uri):
                os.remove(self.uri)
            elif self._uploaded:
                uris.delete([self.uri])
        except OSError:  # best effort: the run has failed already
            pass


class CsvTable(_TableFile):
    """Lines of a CSV table, after its header."""

    def __init__(self, uri: str, header: str):
        super().__init__(uri, "text/plain")
        self._file = open(self._path, "w", encoding="utf-8", newline="")
        self._file.write(header + "\n")

    def write(self, line: str) -> None:
        self._file.write(line + "\n")

    def close(self) -> str:
        self._file.close()
        return self._finish()

    def discard(self) -> None:
        self._file.close()
        super().discard()


class ParquetTable(_TableFile):
    """Rows (dicts with the schema's columns) of a Parquet table."""

    def __init__(self, uri: str, schema, row_group_bytes: int = ROW_GROUP_BYTES):
        import pyarrow.parquet as pq

        super().__init__(uri, "application/x-parquet")
        self._schema = schema
        self._columns: list[list] = [[] for _ in schema.names]
        self._batches: list = []
        self._batch_bytes = 0
        self._row_group_bytes = row_group_bytes
        self._writer: Optional[pq.ParquetWriter] = pq.ParquetWriter(
            self._path, schema, compression="none", use_compliant_nested_type=False
        )

    def write(self, row: dict) -> None:
        for column, name in zip(self._columns, self._schema.names):
            column.append(row.get(name))
        if len(self._columns[0]) >= RECORD_BATCH_ROWS:
            self._flush_batch()
            if self._batch_bytes >= self._row_group_bytes:
                self._flush_group()

    def _flush_batch(self) -> None:
        import pyarrow as pa

        if not self._columns[0]:
            return
        arrays = [pa.array(c, type=t) for c, t in zip(self._columns, self._schema.types)]
        self._columns = [[] for _ in self._schema.names]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self._schema)
        self._batches.append(batch)
        self._batch_bytes += batch.nbytes

    def _flush_group(self) -> None:
        import pyarrow as pa

        if self._batches:
            self._writer.write_table(pa.Table.from_batches(self._batches, schema=self._schema))
        self._batches, self._batch_bytes = [], 0

    def close(self) -> str:
        self._flush_batch()
        self._flush_group()
        self._writer.close()
        self._writer = None
        return self._finish()

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        super().discard()
