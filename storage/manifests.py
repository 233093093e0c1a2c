"""Manifest inputs: `--input manifest:URI` names a file that lists the images to score.

Three formats, told apart by the first line (any extension):

* JSON Lines: one object per line, `{"uri": "s3://b/x.jpg", "label": "cat"}` (label
  optional);
* CSV: a header naming a `uri` column (and optionally `label`), then one row per image;
* text: one URI per line.

Blank lines are skipped. URIs may point into any bucket; a relative one is relative to the
manifest's folder. A manifest is read in byte ranges (`byte_ranges`), each by whichever
worker gets it, one line at a time (`read_entries`): a manifest of 100M lines is never
held whole. A line belongs to the range its first byte is in. A malformed line (not JSON,
no `uri`) raises ManifestError naming the manifest and the line's byte offset. Objects
named but missing are not checked here: reading them fails, and the run reports them as
errors rows (stage `read`).
"""

from __future__ import annotations

import csv
import json
import posixpath
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Optional

from bucketscore.storage import uris

PREFIX = "manifest:"
CHUNK_BYTES = 16 << 20  # per range: ~200,000 lines of 80 bytes
SNIFF_BYTES = 64 << 10  # the first line is looked for in this much


class ManifestError(ValueError):
    """A manifest cannot be read or has a malformed line."""


@dataclass(frozen=True)
class ManifestFormat:
    """How a manifest's lines are read: `kind` text | csv | jsonl; for CSV, the position of
    the `uri` and `label` columns in its header."""

    kind: str
    uri_column: int = 0
    label_column: Optional[int] = None


@dataclass(frozen=True)
class ManifestEntry:
    uri: str
    label: Optional[str] = None


def is_manifest(uri: str) -> bool:
    return uri.startswith(PREFIX)


def target(uri: str) -> str:
    """`manifest:URI` -> URI (local paths absolute)."""
    return uris.normalize(uri[len(PREFIX) :])


def normalize(uri: str) -> str:
    """`manifest:relative/list.txt` -> `manifest:/abs/relative/list.txt`."""
    return PREFIX + target(uri) if is_manifest(uri) else uri


def _open(uri: str) -> BinaryIO:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(
        uri, mime_type="application/octet-stream", compression_type="uncompressed"
    )


def _first_line(uri: str) -> str:
    try:
        with _open(uri) as f:
            head = f.read(SNIFF_BYTES)
    except Exception as e:  # noqa: BLE001 - any storage error: the manifest is unreadable
        from bucketscore.errors import described

        raise ManifestError(f"cannot read the manifest {uri}: {described(e)}") from None
    for line in head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines():
        if line.strip():
            return line.strip()
    return ""


def sniff(uri: str) -> ManifestFormat:
    """The format of the manifest at `uri`, from its first non-blank line."""
    line = _first_line(uri)
    if line.startswith("{"):
        return ManifestFormat("jsonl")
    header = [cell.strip().lower() for cell in next(csv.reader([line]), [])]
    if "uri" in header:
        label = header.index("label") if "label" in header else None
        return ManifestFormat("csv", header.index("uri"), label)
    return ManifestFormat("text")


def byte_ranges(size: int, chunk: int = CHUNK_BYTES) -> list[tuple[int, int]]:
    """[start, end) ranges covering a file of `size` bytes."""
    return [(start, min(size, start + chunk)) for start in range(0, max(size, 1), chunk)]


def _lines(f: BinaryIO, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of every line whose first byte is in [start, end)."""
    if start > 0:
        f.seek(start - 1)
        start += len(f.readline()) - 1  # the rest of a line that began before start
    else:
        f.seek(0)
    offset = start
    while offset < end:
        line = f.readline()
        if not line:
            return
        yield offset, line
        offset += len(line)


def _resolve(entry_uri: str, folder: str) -> str:
    """An entry's URI: as written if absolute, else relative to the manifest's folder."""
    if uris.is_remote(entry_uri) or entry_uri.startswith("/"):
        return uris.normalize(entry_uri)
    if uris.is_remote(folder):
        scheme, rest = folder.split("://", 1)
        bucket, _, key = rest.partition("/")
        return f"{scheme}://{bucket}/{posixpath.normpath(posixpath.join(key, entry_uri))}"
    return uris.normalize(uris.join(folder, entry_uri))


def _label(value) -> Optional[str]:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_line(fmt: ManifestFormat, text: str) -> Optional[tuple[str, Optional[str]]]:
    """(uri, label) of one line as written, None for a line without one (blank, the CSV
    header); raises ValueError for a malformed line."""
    text = text.strip().lstrip("\ufeff")
    if not text:
        return None
    if fmt.kind == "jsonl":
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise ValueError(f"not JSON ({e})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("uri"), str) or not doc["uri"]:
            raise ValueError('not a JSON object with a "uri" string')
        return doc["uri"], _label(doc.get("label"))
    if fmt.kind == "csv":
        row = next(csv.reader([text]), [])
        if len(row) <= fmt.uri_column or not row[fmt.uri_column].strip():
            raise ValueError("no uri in this row")
        if row[fmt.uri_column].strip().lower() == "uri":
            return None  # the header
        label = None
        if fmt.label_column is not None and len(row) > fmt.label_column:
            label = _label(row[fmt.label_column])
        return row[fmt.uri_column].strip(), label
    return text, None


def read_entries(uri: str, fmt: ManifestFormat, start: int, end: int) -> Iterator[ManifestEntry]:
    """The entries of the manifest `uri` whose lines start in [start, end)."""
    folder = uri[: uri.rfind("/") + 1]
    with _open(uri) as f:
        for offset, raw in _lines(f, start, end):
            try:
                found = parse_line(fmt, raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise ManifestError(f"manifest {uri}, line at byte {offset}: {e}") from None
            if found is not None:
                yield ManifestEntry(_resolve(found[0], folder), found[1])
