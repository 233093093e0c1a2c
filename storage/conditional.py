"""Small objects written only if absent, or only if unchanged: compare-and-swap by URI.

What a lease on a run folder (run_folder/lease.py) needs from a store, for one object:

* `read(uri)` -> (bytes, version) or None: the version is what `replace` compares with
  (S3: the ETag; GCS: the generation; local: the bytes themselves);
* `create(uri, data)` -> version, or `Conflict` when the object exists (S3
  `If-None-Match: *`, GCS `ifGenerationMatch=0`, local: the bytes written to a file of
  their own with `O_CREAT | O_EXCL`, then hard-linked to the name, which fails if it
  exists: never seen empty);
* `replace(uri, data, version)` -> new version, or `Conflict` when the object is no longer
  at `version` (S3 `If-Match`, GCS `ifGenerationMatch`, local: an atomic rename of the old
  file aside, then a hard link of the new one, which fails if a file is there);
* `delete(uri)`: gone (no error when it already was).

Stores that ignore the conditions (gcp-storage-emulator ignores `ifGenerationMatch`; the
SeaweedFS of the tests honours `If-None-Match` and `If-Match`) make these plain writes:
callers read before they write and read back a moment after (run_folder/lease.py), which
narrows the race between two writers there but cannot close it. Reads are retried within the storage
budget; writes are not (a create retried after its first attempt went through would answer
Conflict): a caller that wants retries repeats the whole read-then-write.
"""

from __future__ import annotations

import os
import secrets
from typing import Optional

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
    _link_new(uri, data)
    return data


def _link_new(path: str, data: bytes) -> None:
    """Make `path` hold `data`, only if there is no `path`: the bytes go to a file of their
    own (O_CREAT|O_EXCL), then a hard link names it `path` (which fails if it exists). So no
    reader ever sees `path` empty or half written."""
    fresh = f"{path}.{secrets.token_hex(4)}.new"
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.link(fresh, path)
    except FileExistsError:
        raise Conflict(path) from None
    finally:
        os.unlink(fresh)


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
    # A rename is atomic and only one of two renamers of the same file succeeds; a hard
    # link fails if the name exists. So: move the current file aside, check it is the one
    # we read, link the new one in.
    aside = f"{path}.{secrets.token_hex(4)}.old"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        raise Conflict(path) from None
    try:
        with open(aside, "rb") as f:
            found = f.read()
        if found != version:  # someone rewrote it between our read and our rename
            try:
                os.link(aside, path)  # put it back
            except FileExistsError:
                pass
            raise Conflict(path)
        _link_new(path, data)
        return data
    finally:
        os.unlink(aside)


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
