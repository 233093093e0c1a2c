"""Read, write, list, copy and delete objects by URI (local path, s3://, gs://).

Thin wrappers over `apache_beam.io.filesystems.FileSystems` (s3:// reads: `storage.s3`,
cheaper per object than Beam's S3 reader); they add what the callers
need everywhere: absolute local paths, "prefix" semantics (everything below a folder) and
whole-tree copies. Beam is imported on first use, not with this module: the command line
builds its parser (and answers `--help`) without loading Beam, and local paths never load
it (plain file operations: a local run in the in-process executor, pipelines/inline_run.py,
runs without Beam).
"""

from __future__ import annotations

import glob
import os
from typing import TYPE_CHECKING, Iterable, Iterator, NamedTuple, Optional

from bucketscore.storage.errors import set_retry_seconds, with_retries

if TYPE_CHECKING:
    from apache_beam.options.pipeline_options import PipelineOptions


class FileMetadata(NamedTuple):
    """An object found by `match` or `list_prefix` (the attribute names of Beam's
    FileMetadata, which callers used before)."""

    path: str
    size_in_bytes: int
    last_updated_in_seconds: float


REMOTE_SCHEMES = ("s3://", "gs://")
GLOB_CHARS = "*?["


def _filesystems():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def prepare_process(retry_seconds: Optional[float] = None, beam: bool = True) -> None:
    """Set up this process (the launcher, or a worker: DoFns call it in setup) for storage:
    the run's retry budget (storage.errors) and, with `beam`, one shared boto3 Session for
    Beam's own S3 filesystem (bucketscore.private_apis.share_beam_s3_session: no service
    models re-read per call; False: a run that touches no bucket, which loads no Beam)."""
    set_retry_seconds(retry_seconds)
    if not beam:
        return
    from bucketscore.private_apis import share_beam_s3_session

    try:
        share_beam_s3_session()
    except ImportError:  # Beam without its AWS extra: no S3 filesystem to speed up
        pass


def set_options(options: "PipelineOptions | list[str] | None") -> None:
    """Make Beam's filesystems (S3 endpoint and keys, GCS project) use these options."""
    if options is None or (isinstance(options, list) and not options):
        return  # nothing to set (and no Beam to load for it)
    from apache_beam.options.pipeline_options import PipelineOptions

    if not isinstance(options, PipelineOptions):
        options = PipelineOptions(list(options))
    _filesystems().set_options(options)


def is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_SCHEMES)


def normalize(uri: str) -> str:
    """Local paths become absolute (workers may run in another directory); URIs stay."""
    if is_remote(uri) or "://" in uri:
        return uri
    trailing = uri.endswith(("/", os.sep))
    path = os.path.abspath(os.path.expanduser(uri))
    return path + os.sep if trailing and not path.endswith(os.sep) else path


def join(base: str, *parts: str) -> str:
    """Join path parts, keeping one separator between them (works for URIs and paths)."""
    out = base
    for part in parts:
        if not out.endswith("/"):
            out += "/"
        out += part.lstrip("/")
    return out


def as_prefix(uri: str) -> str:
    """`uri` with exactly one trailing slash: the folder whose contents it names."""
    return uri.rstrip("/") + "/"


def has_glob(uri: str) -> bool:
    return any(c in uri for c in GLOB_CHARS)


def exists(uri: str) -> bool:
    if uri.startswith("s3://"):  # one HEAD through bucketscore's client (see list_prefix)
        from bucketscore.storage.pages import object_entry

        return object_entry(uri) is not None
    if is_remote(uri):
        return with_retries(lambda: _filesystems().exists(uri), uri)
    return os.path.exists(uri)


def read_bytes(uri: str, max_bytes: int | None = None) -> bytes:
    """The object's bytes (at most `max_bytes`). s3:// goes through `storage.s3` (one
    client per process, one GET), everything else through Beam's FileSystems. Remote reads
    are retried within the storage retry budget (storage.errors.with_retries)."""
    if not is_remote(uri):
        return _read_once(uri, max_bytes)
    return with_retries(lambda: _read_once(uri, max_bytes), uri)


def _read_once(uri: str, max_bytes: int | None) -> bytes:
    if uri.startswith("s3://"):
        from bucketscore.storage import s3

        return s3.read_object(uri, max_bytes)
    if not is_remote(uri):
        with open(uri, "rb") as f:
            return f.read(max_bytes) if max_bytes else f.read()
    with _filesystems().open(
        uri, mime_type="application/octet-stream", compression_type="uncompressed"
    ) as f:
        return f.read(max_bytes) if max_bytes else f.read()


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


def read_tail(uri: str, n: int) -> bytes:
    """The object's last `n` bytes (all of it when smaller): one ranged read, retried for
    remote objects as read_bytes is. What a Parquet footer is read with."""
    if not is_remote(uri):
        return _read_tail_once(uri, n)
    return with_retries(lambda: _read_tail_once(uri, n), uri)


def _read_tail_once(uri: str, n: int) -> bytes:
    if uri.startswith("s3://"):
        from bucketscore.storage import s3

        bucket, key = s3.split(uri)
        try:
            body = s3.client().get_object(Bucket=bucket, Key=key, Range=f"bytes=-{n}")["Body"]
        except Exception as e:
            from apache_beam.io.aws.clients.s3.boto3_client import get_http_error_code
            from apache_beam.io.aws.clients.s3.messages import S3ClientError

            if get_http_error_code(e) == 416:  # a suffix range of an empty object
                return b""
            raise S3ClientError(str(e), get_http_error_code(e)) from e
        return body.read()
    with open_stream(uri) as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - n))
        return f.read()


def open_stream(uri: str):
    """A binary file object reading the object from its start (`read(n)` in chunks; use it
    in a `with`): for reading a large object without holding it whole. Not retried: a
    caller that wants retries repeats its whole read (storage.errors.with_retries)."""
    if not is_remote(uri):
        return open(uri, "rb")
    if uri.startswith("s3://"):
        from contextlib import closing

        from bucketscore.storage import s3

        bucket, key = s3.split(uri)
        return closing(s3.client().get_object(Bucket=bucket, Key=key)["Body"])
    return _filesystems().open(
        uri, mime_type="application/octet-stream", compression_type="uncompressed"
    )


def write_bytes(uri: str, data: bytes, mime_type: str = "application/octet-stream") -> None:
    """Write one object whole; remote writes are retried (the object is rewritten whole)."""
    if not is_remote(uri):
        os.makedirs(os.path.dirname(uri) or ".", exist_ok=True)
        with open(uri, "wb") as f:
            f.write(data)
        return

    def write():
        with _filesystems().create(uri, mime_type=mime_type, compression_type="uncompressed") as f:
            f.write(data)

    with_retries(write, uri)


def upload(path: str, uri: str, mime_type: str = "application/octet-stream") -> None:
    """Copy the local file `path` to `uri` (streamed, in 8 MiB chunks; a remote write is
    retried whole)."""
    if not is_remote(uri):
        import shutil

        os.makedirs(os.path.dirname(uri) or ".", exist_ok=True)
        shutil.copyfile(path, uri)
        return

    def write():
        with (
            open(path, "rb") as src,
            _filesystems().create(uri, mime_type=mime_type, compression_type="uncompressed") as dst,
        ):
            while chunk := src.read(8 << 20):
                dst.write(chunk)

    with_retries(write, uri)


def write_text(uri: str, text: str, mime_type: str = "text/plain") -> None:
    write_bytes(uri, text.encode("utf-8"), mime_type=mime_type)


def match(pattern: str) -> "list[FileMetadata]":
    """Every object matching one glob; an empty list (not an error) when none does."""
    if not is_remote(pattern):
        found = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        return [_local_metadata(p) for p in found]
    result = with_retries(lambda: _filesystems().match([pattern])[0], pattern)
    return [
        FileMetadata(m.path, m.size_in_bytes, m.last_updated_in_seconds)
        for m in result.metadata_list
    ]


def _local_metadata(path: str) -> FileMetadata:
    st = os.stat(path)
    return FileMetadata(path, st.st_size, st.st_mtime)


def list_prefix(prefix: str) -> "list[FileMetadata]":
    """Every object below a folder/prefix, at any depth."""
    prefix = as_prefix(prefix)
    if not is_remote(prefix):
        # Beam's local `**` does not match files directly in the folder on every version;
        # walk the tree instead, which is also what a prefix means.
        out = []
        for root, _dirs, files in os.walk(prefix):
            for name in files:
                out.append(_local_metadata(os.path.join(root, name)))
        return out
    # Paged, through bucketscore's own clients (one attempt per request, retried within the
    # run's storage budget): Beam's S3 listing retries for minutes by itself on an endpoint
    # that does not answer (docs/decisions.md, "A storage retry budget").
    from bucketscore.storage.pages import pages

    return [FileMetadata(e.uri, e.size, e.mtime) for page in pages(prefix) for e in page.objects]


def delete_prefix(prefix: str) -> int:
    """Delete every object below a prefix; returns how many were deleted."""
    found = [m.path for m in list_prefix(prefix)]
    delete(found)
    if not is_remote(prefix):
        # Remove the now-empty folders too, so a re-run starts from a clean folder.
        remove_empty_dirs(prefix)
    return len(found)


def remove_empty_dirs(folder: str, include_self: bool = False) -> None:
    """Delete the empty local folders below `folder` (and `folder` itself, if asked)."""
    if not os.path.isdir(folder):
        return
    for root, dirs, _files in os.walk(folder, topdown=False):
        for d in dirs:
            try:
                os.rmdir(os.path.join(root, d))
            except OSError:  # not empty
                pass
    if include_self:
        try:
            os.rmdir(folder)
        except OSError:
            pass


def relative_to(uri: str, prefix: str) -> str:
    prefix = as_prefix(prefix)
    if not uri.startswith(prefix):
        raise ValueError(f"{uri} is not below {prefix}")
    return uri[len(prefix) :]


def copy_tree(src_prefix: str, dst_prefix: str, names: Iterable[str] | None = None) -> list[str]:
    """Copy objects (all below `src_prefix`, or just `names`, relative) to `dst_prefix`."""
    if names is None:
        names = [relative_to(m.path, src_prefix) for m in list_prefix(src_prefix)]
    copied = []
    for name in names:
        write_bytes(join(dst_prefix, name), read_bytes(join(src_prefix, name)))
        copied.append(name)
    return copied


def iter_local_files(folder: str) -> Iterator[str]:
    """Relative paths (with '/') of every file below a local folder, sorted."""
    for root, _dirs, files in sorted(os.walk(folder)):
        for name in sorted(files):
            full = os.path.join(root, name)
            yield os.path.relpath(full, folder).replace(os.sep, "/")


def delete(found: list[str]) -> None:
    """Delete these objects (URIs or local paths); nothing when the list is empty. s3://
    objects go through storage.s3 (batched, retried within the budget: Beam's S3 delete
    retries for minutes by itself)."""
    found = list(found)
    s3_objects = [u for u in found if u.startswith("s3://")]
    others = [u for u in found if not u.startswith("s3://")]
    if s3_objects:
        from bucketscore.storage import s3

        s3.delete_objects(s3_objects)
    remote = [u for u in others if is_remote(u)]
    for path in (u for u in others if not is_remote(u)):
        if os.path.isdir(path):
            import shutil

            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
        else:
            raise FileNotFoundError(f"{path}: no such file to delete")
    if remote:
        _filesystems().delete(remote)


class CopyError(ValueError):
    """An object cannot be made available locally; the message names it and says why."""


def download(uri: str, target: str) -> str:
    """Copy one object to the local file `target` (its folder made); returns `target`."""
    data = read_bytes(uri)
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "wb") as f:
        f.write(data)
    return target


def local_file(uri: str, folder: str) -> str:
    """A local path holding the file `uri`: the path itself for a local file, else a copy
    in `folder`. Raises CopyError: "X: no such file" or "cannot read X: why"."""
    from bucketscore.errors import described

    if not is_remote(uri):
        path = os.path.abspath(os.path.expanduser(uri))
        if not os.path.isfile(path):
            raise CopyError(f"{uri}: no such file")
        return path
    try:
        return download(uri, os.path.join(folder, uri.rstrip("/").rsplit("/", 1)[-1]))
    except Exception as e:  # noqa: BLE001 - every storage error means the same here
        raise CopyError(f"cannot read {uri}: {described(e)}") from None
