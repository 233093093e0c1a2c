"""Small objects written only if absent, or only if unchanged: compare-and-swap by URI.

What a lease on a run folder (run_folder/lease.py) needs from a store, for one object:

* `read(uri)` -> (bytes, version) or None: the version is what `replace` compares with
  (S3: the ETag; GCS: the generation; local: the bytes themselves);
* `create(uri, data)` -> version, or `Conflict` when the object exists (S3
  `If-None-Match: *`, GCS `ifGenerationMatch=0`);
* `replace(uri, data, version)` -> new version, or `Conflict` when the object is no longer
  at `version` (S3 `If-Match`, GCS `ifGenerationMatch`);
* `delete(uri)`: gone (no error when it already was).

Local files: the check and the write happen under an exclusive `flock` on the object's
folder (nothing extra is left in the folder), and the bytes reach the name by an atomic
`os.replace` of a file of their own: a reader sees the old bytes or the new, never a missing
or half-written file (an earlier rename-aside-then-link scheme left the name missing for a
moment, and a launch reading then could take a live run's lease).

Stores that ignore the conditions (gcp-storage-emulator ignores `ifGenerationMatch`; the
SeaweedFS of the tests honours `If-None-Match` and `If-Match`) make these plain writes:
callers read before they write and read back a moment after (run_folder/lease.py), which
narrows the race between two writers there but cannot close it. Reads are retried within the storage
budget; writes are not (a create retried after its first attempt went through would answer
Conflict): a caller that wants retries repeats the whole read-then-write.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from typing import Iterator, Optional

from bucketscore.storage.errors import status_code, with_retries
from bucketscore.storage.uris import is_remote


class Conflict(Exception):
    """The object exists (create) or changed since it was read (replace)."""


def read(uri: str) -> Optional[tuple[bytes, object]]:
    """The object's bytes and version, or None when there is no such object. Remote reads
    are retried within the storage budget (storage.errors.with_retries): a read changes
    nothing, so repeating it is always safe."""
    if is_remote(uri):
        return with_retries(lambda: _read_once(uri), uri)
    return _read_once(uri)


def _read_once(uri: str) -> Optional[tuple[bytes, object]]:
    if uri.startswith("s3://"):
        from bucketscore.storage import s3

        bucket, key = s3.split(uri)
        try:
            answer = s3.client().get_object(Bucket=bucket, Key=key)
        except Exception as e:
            if status_code(e) == 404 or "NoSuchKey" in str(e):
                return None
            raise
        return answer["Body"].read(), answer["ETag"]
    if uri.startswith("gs://"):
        bucket, key = _gcs_split(uri)
        blob = _gcs_bucket(bucket).get_blob(key)
        if blob is None:
            return None
        return blob.download_as_bytes(), blob.generation
    try:
        with open(uri, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    return data, data


def create(uri: str, data: bytes) -> object:
    """Write the object only if there is none; returns its version. Raises Conflict."""
    if uri.startswith("s3://"):
        from bucketscore.storage import s3

        bucket, key = s3.split(uri)
        try:
            return s3.client().put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")[
                "ETag"
            ]
        except Exception as e:
            if status_code(e) in (409, 412):  # 409: a concurrent conditional write
                raise Conflict(uri) from None
            raise
    if uri.startswith("gs://"):
        bucket, key = _gcs_split(uri)
        blob = _gcs_bucket(bucket).blob(key)
        try:
            blob.upload_from_string(data, if_generation_match=0)
        except Exception as e:
            if status_code(e) == 412 or type(e).__name__ == "PreconditionFailed":
                raise Conflict(uri) from None
            raise
        return blob.generation
    os.makedirs(os.path.dirname(uri) or ".", exist_ok=True)
    with _folder_locked(uri):
        if os.path.exists(uri):
            raise Conflict(uri)
        _write_in_place(uri, data)
    return data


@contextlib.contextmanager
def _folder_locked(path: str) -> Iterator[None]:
    """Hold an exclusive flock on the folder of `path` (released on close, and by the
    kernel if the process dies): the check-then-write of create/replace is one step for
    every process on this host that uses this module."""
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _write_in_place(path: str, data: bytes) -> None:
    """Give `path` the bytes `data` at once: a file of their own, then an atomic rename."""
    fresh = f"{path}.{secrets.token_hex(4)}.new"
    try:
        with open(fresh, "xb") as f:
            f.write(data)
        os.replace(fresh, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(fresh)
        raise


def replace(uri: str, data: bytes, version: object) -> object:
    """Rewrite the object only if it is still at `version`; returns the new version.
    Raises Conflict when it changed or is gone."""
    if uri.startswith("s3://"):
        from bucketscore.storage import s3

        bucket, key = s3.split(uri)
        try:
            return s3.client().put_object(Bucket=bucket, Key=key, Body=data, IfMatch=version)[
                "ETag"
            ]
        except Exception as e:
            if status_code(e) in (404, 409, 412) or "NoSuchKey" in str(e):
                raise Conflict(uri) from None
            raise
    if uri.startswith("gs://"):
        bucket, key = _gcs_split(uri)
        blob = _gcs_bucket(bucket).blob(key)
        try:
            blob.upload_from_string(data, if_generation_match=version)
        except Exception as e:
            if status_code(e) in (404, 412) or type(e).__name__ in (
                "PreconditionFailed",
                "NotFound",
            ):
                raise Conflict(uri) from None
            raise
        return blob.generation
    return _replace_local(uri, data, version)


def _replace_local(path: str, data: bytes, version: object) -> object:
    try:
        with _folder_locked(path):
            try:
                with open(path, "rb") as f:
                    found = f.read()
            except FileNotFoundError:
                raise Conflict(path) from None
            if found != version:  # someone rewrote it between our read and now
                raise Conflict(path)
            _write_in_place(path, data)
    except FileNotFoundError:  # the folder itself is gone
        raise Conflict(path) from None
    return data


def delete(uri: str) -> None:
    """Delete the object; nothing when it is already gone."""
    if uri.startswith("s3://"):
        from bucketscore.storage import s3

        bucket, key = s3.split(uri)
        s3.client().delete_object(Bucket=bucket, Key=key)
        return
    if uri.startswith("gs://"):
        bucket, key = _gcs_split(uri)
        try:
            _gcs_bucket(bucket).blob(key).delete()
        except Exception as e:
            if status_code(e) != 404 and type(e).__name__ != "NotFound":
                raise
        return
    try:
        os.unlink(uri)
    except FileNotFoundError:
        pass


def _gcs_split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("gs://") :].partition("/")
    return bucket, key


def _gcs_bucket(name: str):
    from bucketscore.storage.pages import gcs_client

    return gcs_client().bucket(name)
