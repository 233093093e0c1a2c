"""Fetched model bundles, kept once per version on this machine, shared by processes and runs.

A bundle's version is the digest of its files' digests (bundle.meta.content_version), so one
folder per version holds it whatever URI it came from: `<cache>/bundles/<version>/`
(storage.local_cache.cache_root). `cached(version, fill)`:

* returns the folder when it is there and intact (every file still has the size and
  modification time recorded when it was verified; a changed file makes it fetched again);
* else fills a temporary folder beside it with `fill(folder)` (which copies and verifies
  every digest), records what it verified and renames it into place: a reader never sees a
  half-copied bundle, and a crash leaves only a `.tmp-*` folder that the next fill removes;
* serialises fills of one version across processes with a lock file, and keeps a shared
  lock on each version the process uses for as long as it lives, so that pruning (the
  cache is bounded to MAX_BYTES, least recently used first) never deletes a bundle a
  running worker is using.

Why one cache per machine: docs/decisions.md, "One bundle cache per machine".
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import uuid
from typing import Callable

from bucketscore.storage.local_cache import cache_root, entry_size

MAX_BYTES_ENV = "BUCKETSCORE_BUNDLE_CACHE_BYTES"
MAX_BYTES = 10 * 2**30  # 10 GiB of bundles; the bundle being used is always kept
RECORD = ".verified.json"

_lock = threading.Lock()
_held: dict[str, int] = {}  # version -> fd of its lock file, held shared by this process


def folder() -> str:
    return cache_root("bundles")


def max_bytes() -> int:
    try:
        return int(os.environ.get(MAX_BYTES_ENV, MAX_BYTES))
    except ValueError:
        return MAX_BYTES


def _lock_path(root: str, version: str, kind: str) -> str:
    """`use`: held shared by every process using the version (pruning needs it exclusive);
    `fill`: held exclusive while one process copies the version in."""
    return os.path.join(root, f".{kind}-{version}")


def _record(path: str) -> dict[str, list[int]]:
    out = {}
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            if name == RECORD:
                continue
            full = os.path.join(dirpath, name)
            st = os.stat(full)
            out[os.path.relpath(full, path)] = [st.st_size, st.st_mtime_ns]
    return out


def intact(path: str) -> bool:
    """Whether the cached bundle at `path` is exactly what was verified."""
    try:
        with open(os.path.join(path, RECORD)) as f:
            recorded = json.load(f)
        return recorded == _record(path)
    except (OSError, ValueError):
        return False


def cached(version: str, fill: Callable[[str], None]) -> str:
    """The local folder holding bundle `version`, filled by `fill(folder)` if needed."""
    root = folder()
    final = os.path.join(root, version)
    with _lock:
        if version not in _held:  # from now on, while this process lives: not pruned
            fd = os.open(_lock_path(root, version, "use"), os.O_CREAT | os.O_RDWR, 0o644)
            fcntl.flock(fd, fcntl.LOCK_SH)
            _held[version] = fd
        if not intact(final):
            fd = os.open(_lock_path(root, version, "fill"), os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # one process copies, the others wait
                if not intact(final):
                    _fill(root, version, final, fill)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        os.utime(final)  # most recently used
    prune(keep=version)
    return final


def _fill(root: str, version: str, final: str, fill: Callable[[str], None]) -> None:
    for name in os.listdir(root):  # what crashed fills of this version left
        if name.startswith(f".tmp-{version}-"):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    tmp = os.path.join(root, f".tmp-{version}-{uuid.uuid4().hex[:8]}")
    os.makedirs(tmp)
    try:
        fill(tmp)
        with open(os.path.join(tmp, RECORD), "w") as f:
            json.dump(_record(tmp), f)
        if os.path.exists(final):  # there, but not intact: replaced whole
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def prune(keep: str = "", limit: int | None = None) -> list[str]:
    """Delete the least recently used bundles until the cache holds at most `limit` bytes
    (default max_bytes()); `keep` and bundles another process holds a lock on stay."""
    root = folder()
    limit = max_bytes() if limit is None else limit
    entries = []
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(path):
            continue
        entries.append((os.path.getmtime(path), name, path, entry_size(path)))
    entries.sort(reverse=True)  # newest first
    total, deleted = 0, []
    for _mtime, name, path, size in entries:
        total += size
        if total <= limit or name == keep or name in _held:
            continue
        fd = os.open(_lock_path(root, name, "use"), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # in use by a running process
            os.close(fd)
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
            deleted.append(name)
            total -= size
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
    return deleted
