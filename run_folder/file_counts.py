"""Count the rows in a run's final files and check them against the run's counts.

The pipeline's counts (listed, scored, failed, ...) come from combiners; what a user
downloads are the files the sinks wrote. `verify_files` is the bridge, run by finish_run
before `_SUCCESS`: it counts the rows actually present in the files the sinks named and
returns the problems (as one line each) plus the counts it found.

In: `written` (the final files' URIs, local, s3:// or gs://, as the sinks return them) and
`Expected` (the run's counts). Out: `FileCounts` (rows per table, per file, and the lines
that say what does not add up). Tables, by file name (run_folder.layout):

    predictions-*.parquet (+ predictions-carried-*.parquet)  == scored (carried included)
    predictions-carried-*.parquet                            == carried
    errors.csv (or errors*.parquet when there is one)        == failed + missing
    objects-*.parquet                                        == listed
    embeddings-*.parquet                                     == scored - carried
    each *.csv                                               == its *.parquet twin's rows

Cost: a Parquet file's rows are read from its footer (one ranged read of its last 64 KiB,
no data pages). A CSV file is streamed once in 1 MiB chunks and its line breaks counted
outside quoted cells (no CSV parsing, nothing held): URIs and error messages may hold line
breaks, which csv.writer quotes. Files are counted concurrently (remote stores are
latency-bound). No Beam here: the finishing step calls this with plain values.
"""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Optional

from bucketscore.run_folder import layout
from bucketscore.storage import uris
from bucketscore.storage.errors import with_retries

PARQUET_MAGIC = b"PAR1"
FOOTER_READ = 64 * 1024  # most footers fit: one read; a larger one takes a second
CSV_CHUNK = 1 << 20
THREADS = 16
NAMED_FILES = 4  # files named in a mismatch line; the rest are counted ("and 3 more")

# Tables in the order their lines are reported; a file belongs to the first that matches.
CARRIED, PREDICTIONS, ERRORS, OBJECTS, EMBEDDINGS = (
    "carried",
    "predictions",
    "errors",
    "objects",
    "embeddings",
)
PREFIXES = (
    (CARRIED, layout.CARRIED_PREDICTIONS),
    (PREDICTIONS, layout.PREDICTIONS),
    (ERRORS, layout.ERRORS),
    (OBJECTS, layout.OBJECTS),
    (EMBEDDINGS, layout.EMBEDDINGS),
)
# A run's sinks always write these (an empty table is one file with no rows): none named
# in a non-empty `written` means a sink's files went missing.
REQUIRED = (PREDICTIONS, ERRORS, OBJECTS)


class UnreadableFile(ValueError):
    """A final file that is missing or is not what its name says (a cut Parquet file)."""


@dataclass
class Expected:
    """The run's own counts (run_folder.summary.build_summary's `counts`): `scored`
    includes the `carried` rows of an --incremental run; `missing`: labels-CSV rows that
    name no listed image (rows of errors.csv, not listed images)."""

    listed: int
    scored: int
    failed: int
    missing: int = 0
    carried: int = 0


@dataclass
class FileCounts:
    """What verify_files found: {table: {"csv"|"parquet": {file URI: rows}}} and the lines
    saying what does not add up (empty: the files hold what the run counted)."""

    files: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def rows(self, table: str, kind: Optional[str] = None) -> Optional[int]:
        """Rows of `table` in its Parquet files (or CSV ones when it has none, or `kind`);
        None when no file of it was written."""
        found = self.files.get(table) or {}
        kind = kind or ("parquet" if found.get("parquet") else "csv")
        return sum(found[kind].values()) if found.get(kind) else None

    def summary(self) -> dict:
        """For summary.json: {table: {"rows": n, "files": k[, "csv_rows": n]}}."""
        out = {}
        for table, kinds in self.files.items():
            entry = {"rows": self.rows(table), "files": sum(len(f) for f in kinds.values())}
            if kinds.get("csv") and kinds.get("parquet"):
                entry["csv_rows"] = self.rows(table, "csv")
            out[table] = entry
        return out


def table_of(uri: str) -> Optional[tuple[str, str]]:
    """(table, "csv"|"parquet") of a final file by its name, or None (not a table)."""
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    kind = "csv" if name.endswith(".csv") else "parquet" if name.endswith(".parquet") else None
    if kind is None:
        return None
    for table, prefix in PREFIXES:
        if name.startswith(prefix):
            return table, kind
    return None


def parquet_rows(uri: str) -> int:
    """Rows of one Parquet file, from its footer alone (its data pages are never read).
    Raises UnreadableFile for a file without a whole footer (cut short, or not Parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tail = uris.read_tail(uri, FOOTER_READ)
    if len(tail) < 12 or tail[-4:] != PARQUET_MAGIC:
        raise UnreadableFile(f"{uri} is not a whole Parquet file (no footer at its end)")
    (length,) = struct.unpack("<I", tail[-8:-4])
    if length + 8 > len(tail):
        tail = uris.read_tail(uri, length + 8)
        if len(tail) < length + 8:
            raise UnreadableFile(f"{uri} is not a whole Parquet file (footer cut short)")
    # The footer alone, behind a leading magic, is a "file" pyarrow reads the metadata of:
    # it checks the magic at both ends and parses the footer, and reads no data page.
    try:
        meta = pq.read_metadata(pa.BufferReader(PARQUET_MAGIC + tail[-(length + 8) :]))
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise UnreadableFile(f"{uri} is not a whole Parquet file ({e})") from e
    return meta.num_rows


def csv_rows(uri: str) -> int:
    """Rows of one CSV file with a header line: its line breaks outside quoted cells
    (csv.writer quotes a cell holding one; a doubled quote inside a cell toggles twice,
    so it changes nothing), plus an unterminated last line, less the header."""
    records, quoted, last = 0, False, b"\n"
    with uris.open_stream(uri) as f:
        while chunk := f.read(CSV_CHUNK):
            parts = chunk.split(b'"')
            for i, part in enumerate(parts):
                if not quoted:
                    records += part.count(b"\n")
                if i < len(parts) - 1:
                    quoted = not quoted
            last = chunk[-1:]
    if last != b"\n":
        records += 1  # a last line without its line break is a row too
    return max(records - 1, 0)


def _count(uri: str, kind: str) -> int:
    count = parquet_rows if kind == "parquet" else csv_rows
    try:
        return with_retries(lambda: count(uri), uri) if uris.is_remote(uri) else count(uri)
    except FileNotFoundError as e:
        raise UnreadableFile(f"{uri} was written by its sink but is not there") from e
    except Exception as e:
        if getattr(e, "code", None) == 404:  # Beam's S3ClientError and GCS's NotFound
            raise UnreadableFile(f"{uri} was written by its sink but is not there") from e
        raise


def _named(counted: dict[str, int]) -> str:
    """`file: rows, ...` for a mismatch line, the first NAMED_FILES files by name."""
    names = sorted(counted)
    text = ", ".join(f"{uri}: {counted[uri]}" for uri in names[:NAMED_FILES])
    more = len(names) - NAMED_FILES
    return text + (f" and {more} more file(s)" if more > 0 else "")


def verify_files(written: Iterable[str], expected: Expected) -> FileCounts:
    """Count the rows of every table file in `written` and compare them with `expected`;
    see the module docstring. An empty `written` verifies nothing (no sink ran). Raises
    nothing for a mismatch: each is a line of the result's `problems`."""
    tables = [(uri, t) for uri in dict.fromkeys(written) if (t := table_of(uri))]
    result = FileCounts()
    if not tables:
        return result
    with ThreadPoolExecutor(min(THREADS, len(tables))) as pool:
        futures = [
            (uri, table, kind, pool.submit(_count, uri, kind)) for uri, (table, kind) in tables
        ]
        for uri, table, kind, future in futures:
            try:
                rows = future.result()
            except UnreadableFile as e:
                result.problems.append(str(e))
                continue
            result.files.setdefault(table, {}).setdefault(kind, {})[uri] = rows
    problems = result.problems
    for table in REQUIRED:
        if not any(t == table for _uri, (t, _kind) in tables):
            problems.append(f"no {table} file was written")

    def check(table: str, want: int, what: str) -> None:
        found = result.files.get(table) or {}
        kind = "parquet" if found.get("parquet") else "csv"
        if found.get(kind) and sum(found[kind].values()) != want:
            problems.append(
                f"{table} files hold {sum(found[kind].values())} rows but {what} "
                f"({_named(found[kind])})"
            )

    fresh = expected.scored - expected.carried
    check(PREDICTIONS, fresh, f"{fresh} images were scored in this run")
    check(CARRIED, expected.carried, f"{expected.carried} rows were carried over")
    check(
        ERRORS,
        expected.failed + expected.missing,
        f"{expected.failed} images failed + {expected.missing} labels-CSV rows name no image",
    )
    check(OBJECTS, expected.listed, f"{expected.listed} images were listed")
    check(EMBEDDINGS, fresh, f"{fresh} images were scored in this run")
    for table, kinds in result.files.items():
        if kinds.get("csv") and kinds.get("parquet"):
            in_csv, in_parquet = sum(kinds["csv"].values()), sum(kinds["parquet"].values())
            if in_csv != in_parquet:
                problems.append(
                    f"{table} CSV files hold {in_csv} rows but their Parquet twins "
                    f"{in_parquet} ({_named(kinds['csv'])}; {_named(kinds['parquet'])})"
                )
    return result
