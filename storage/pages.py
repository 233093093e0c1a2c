"""Listing one page at a time, with a delimiter and key ranges: S3, GCS and local folders.

Beam's filesystems list a whole prefix at once, with neither a delimiter nor a key range.
The listing stage (storage/listing.py plans it, transforms/listing.py runs it) needs both:
a delimiter to find sub-prefixes (`2026-11-30/`, class folders, hashed prefixes) that
other workers can list, and key ranges to split a flat prefix. So this module calls the
stores directly:

* S3: `list_objects_v2` through the client of `storage.s3.client()` (the `--s3_*` options
  Beam's S3 filesystem uses), `StartAfter` for a range's start;
* GCS: google-cloud-storage's `list_blobs` through the client Beam's GCS filesystem would
  make (`apache_beam.io.gcp.gcsio.create_storage_client`), `start_offset`/`end_offset`;
* local folders: `os.scandir`, one folder at a time.

A range is open at both ends: keys k with `after < k < before` (None: unbounded), the same
on every store (bounds are applied again here, whatever the server did with them: the GCS
emulator ignores offsets). A key equal to a bound is never returned, so callers split at
bounds that are not keys they want (sub-prefixes `x/`, names without an image extension).
Bounds and keys are compared as full URIs (or absolute paths), i.e. in S3's and GCS's
order (UTF-8 byte order is code point order); a store that orders keys folder by folder
(SeaweedFS) agrees with it on the bounds storage.listing chooses. Each page request goes
through `storage.errors.with_retries`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator, Optional

from bucketscore.storage.errors import status_code, with_retries

PAGE_SIZE = 1000  # keys per request: the most S3 and GCS return
DELIMITER = "/"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One object: its URI (absolute path for local files), size and modification time."""

    uri: str
    size: int = 0
    mtime: float = 0.0


@dataclass
class Page:
    """What one request returned: objects, sub-prefixes (with a delimiter) and whether the
    store has more after it."""

    objects: list[Entry] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    more: bool = False

    def __len__(self) -> int:
        return len(self.objects) + len(self.prefixes)


def in_range(key: str, after: Optional[str], before: Optional[str]) -> bool:
    """after < key < before (None: no bound)."""
    return (after is None or key > after) and (before is None or key < before)


def subtree_in_range(prefix: str, after: Optional[str], before: Optional[str]) -> bool:
    """Whether some key below `prefix` (keys that start with it) can be in the range."""
    if before is not None and before <= prefix:
        return False  # every key below prefix is >= prefix >= before
    # after above every key below prefix: it differs from prefix within prefix's length,
    # with a greater character.
    return after is None or after < prefix or after.startswith(prefix)


def updated_seconds(updated) -> float:
    """A store's modification time (datetime) as seconds, computed exactly as Beam's S3 and
    GCS filesystems compute it (`_updated_to_seconds`), so that the object index
    `--incremental` compares with is the same whichever lister wrote it."""
    return time.mktime(updated.timetuple()) - time.timezone + updated.microsecond / 1000000.0


def split_bucket(uri: str) -> tuple[str, str, str]:
    """s3://bucket/key -> ("s3://", "bucket", "key")."""
    scheme, rest = uri[:5], uri[5:]
    bucket, _, key = rest.partition("/")
    return scheme, bucket, key


# -- S3 ------------------------------------------------------------------------------------
def _s3_pages(
    prefix: str, delimiter: bool, after: Optional[str], before: Optional[str], page_size: int
) -> Iterator[Page]:
    from bucketscore.storage import s3

    scheme, bucket, key_prefix = split_bucket(prefix)
    root = f"{scheme}{bucket}/"
    kwargs = {"Bucket": bucket, "Prefix": key_prefix, "MaxKeys": page_size}
    if delimiter:
        kwargs["Delimiter"] = DELIMITER
    if after is not None and after > prefix:
        kwargs["StartAfter"] = after[len(root) :]
    client = s3.client()
    while True:
        answer = with_retries(lambda: client.list_objects_v2(**kwargs), uri=prefix)
        page = Page(
            objects=[
                Entry(root + o["Key"], int(o["Size"]), updated_seconds(o["LastModified"]))
                for o in answer.get("Contents", ())
            ],
            prefixes=[root + p["Prefix"] for p in answer.get("CommonPrefixes", ())],
        )
        token = answer.get("NextContinuationToken") if answer.get("IsTruncated") else None
        done = token is None or _past(page, before)
        page.more = not done
        yield _clip(page, after, before)
        if done:
            return
        kwargs["ContinuationToken"] = token


# -- GCS -----------------------------------------------------------------------------------
_gcs_lock = threading.Lock()
_gcs: tuple = (None, None)  # (Beam's options object, the client made for it)


def gcs_client():
    """This process's google-cloud-storage client, made as Beam's GCS filesystem makes its
    own (credentials and project from Beam's current pipeline options), once per options
    object."""
    global _gcs
    from apache_beam.options.pipeline_options import PipelineOptions

    from bucketscore.private_apis import beam_filesystem_options

    options = beam_filesystem_options()
    with _gcs_lock:
        seen, client = _gcs
        if client is None or options is not seen:
            from apache_beam.io.gcp.gcsio import create_storage_client

            client = create_storage_client(options or PipelineOptions([]))
            _gcs = (options, client)
    return client


def _gcs_page(client, bucket: str, kwargs: dict):
    """One page of list_blobs: (blobs, prefixes, next page token)."""
    iterator = client.list_blobs(bucket, **kwargs)
    page = next(iterator.pages, None)
    if page is None:
        return [], [], None
    blobs = list(page)
    return blobs, sorted(page.prefixes), iterator.next_page_token


def _gcs_pages(
    prefix: str, delimiter: bool, after: Optional[str], before: Optional[str], page_size: int
) -> Iterator[Page]:
    scheme, bucket, key_prefix = split_bucket(prefix)
    root = f"{scheme}{bucket}/"
    kwargs = {"prefix": key_prefix, "page_size": page_size}
    if delimiter:
        kwargs["delimiter"] = DELIMITER
    if after is not None and after > prefix:
        kwargs["start_offset"] = after[len(root) :]  # inclusive: `after` itself is clipped
    if before is not None:
        kwargs["end_offset"] = before[len(root) :]
    client = gcs_client()
    while True:
        blobs, prefixes, token = with_retries(lambda: _gcs_page(client, bucket, kwargs), uri=prefix)
        page = Page(
            objects=[
                Entry(
                    root + b.name,
                    int(b.size or 0),
                    updated_seconds(b.updated) if b.updated else 0.0,
                )
                for b in blobs
            ],
            prefixes=[root + p for p in prefixes],
        )
        done = not token or _past(page, before)
        page.more = not done
        yield _clip(page, after, before)
        if done:
            return
        kwargs["page_token"] = token


# -- local folders -----------------------------------------------------------------------
def _scan(folder: str) -> Iterator[os.DirEntry]:
    """The entries of one folder; nothing if it is gone, a warning if it cannot be read
    (os.walk's behaviour, which listing had before)."""
    try:
        with os.scandir(folder) as entries:
            yield from entries
    except (FileNotFoundError, NotADirectoryError):
        return
    except PermissionError as e:
        log.warning("cannot list %s: %s", folder, e)


def _local_entry(entry: os.DirEntry, stat: bool) -> Optional[Entry]:
    if not stat:
        return Entry(entry.path)
    try:
        st = entry.stat()
    except OSError:  # removed since the folder was read
        return None
    return Entry(entry.path, st.st_size, st.st_mtime)


def _local_pages(
    prefix: str,
    delimiter: bool,
    after: Optional[str],
    before: Optional[str],
    page_size: int,
    stat: bool,
) -> Iterator[Page]:
    """Pages of at most page_size entries, folder by folder (depth first, unsorted)."""
    page = Page()
    folders = [prefix]
    while folders:
        folder = folders.pop()
        for entry in _scan(folder):
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                sub = entry.path + os.sep
                if not subtree_in_range(sub, after, before):
                    continue
                if delimiter:
                    page.prefixes.append(sub)
                else:
                    folders.append(sub)
            elif in_range(entry.path, after, before):
                found = _local_entry(entry, stat)
                if found is None:
                    continue
                page.objects.append(found)
            else:
                continue
            if len(page) >= page_size:
                page.more = True
                yield page
                page = Page()
    yield page


# -- all stores ----------------------------------------------------------------------------
def _past(page: Page, before: Optional[str]) -> bool:
    """Whether a page reached `before`: the store has nothing more for us (it lists in key
    order, or folder by folder, which places bounds chosen by storage.listing alike)."""
    if before is None:
        return False
    return any(o.uri >= before for o in page.objects)


def _clip(page: Page, after: Optional[str], before: Optional[str]) -> Page:
    page.objects = [o for o in page.objects if in_range(o.uri, after, before)]
    page.prefixes = [p for p in page.prefixes if subtree_in_range(p, after, before)]
    return page


def pages(
    prefix: str,
    *,
    delimiter: bool = False,
    after: Optional[str] = None,
    before: Optional[str] = None,
    page_size: int = PAGE_SIZE,
    stat: bool = True,
) -> Iterator[Page]:
    """The objects below `prefix` (a URI or local folder ending with '/') with
    after < key < before, one page at a time.

    With `delimiter`, objects directly below `prefix` and its sub-prefixes (`prefix` + name
    + '/', each once) instead of everything at any depth. Remote pages come in key order,
    local ones folder by folder (the order of os.scandir). `stat=False` leaves the size and
    time of local files at 0 (no stat call; remote stores always send them). The last page
    has `more` False. A local folder that does not exist has no pages with objects.
    """
    if prefix.startswith("s3://"):
        yield from _s3_pages(prefix, delimiter, after, before, page_size)
    elif prefix.startswith("gs://"):
        yield from _gcs_pages(prefix, delimiter, after, before, page_size)
    else:
        yield from _local_pages(prefix, delimiter, after, before, page_size, stat)


def object_entry(uri: str) -> Optional[Entry]:
    """The object `uri` itself (size, time), or None when there is no such object: one
    HEAD (S3), one metadata GET (GCS) or one stat (local)."""
    if uri.startswith("s3://"):
        from bucketscore.storage import s3

        _scheme, bucket, key = split_bucket(uri)
        client = s3.client()
        try:
            head = with_retries(lambda: client.head_object(Bucket=bucket, Key=key), uri=uri)
        except Exception as e:
            if status_code(e) == 404:
                return None
            raise
        return Entry(uri, int(head["ContentLength"]), updated_seconds(head["LastModified"]))
    if uri.startswith("gs://"):
        _scheme, bucket, key = split_bucket(uri)
        client = gcs_client()
        blob = with_retries(lambda: client.bucket(bucket).get_blob(key), uri=uri)
        if blob is None:
            return None
        return Entry(
            uri, int(blob.size or 0), updated_seconds(blob.updated) if blob.updated else 0.0
        )
    try:
        st = os.stat(uri)
    except OSError:
        return None
    if not os.path.isfile(uri):
        return None
    return Entry(uri, st.st_size, st.st_mtime)
