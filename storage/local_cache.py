"""Where bucketscore keeps files between runs on this machine: fetched model bundles and
run logs, never in TMPDIR (an hourly job must not fill /tmp).

`cache_root()` is $BUCKETSCORE_CACHE_DIR, else $XDG_CACHE_HOME/bucketscore, else
~/.cache/bucketscore. `prune(folder, keep)` bounds a folder of entries by count or size.
"""

from __future__ import annotations

import os
import shutil
from typing import Optional

CACHE_ENV = "BUCKETSCORE_CACHE_DIR"


def cache_root(*parts: str) -> str:
    """The cache folder (made if missing), or a sub-folder of it."""
    base = os.environ.get(CACHE_ENV)
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "bucketscore")
    path = os.path.join(base, *parts)
    os.makedirs(path, exist_ok=True)
    return path


def entry_size(path: str) -> int:
    """Bytes under a file or folder."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def prune(
    folder: str,
    keep: Optional[int] = None,
    max_bytes: Optional[int] = None,
    protect: tuple[str, ...] = (),
) -> list[str]:
    """Delete the least recently used entries of `folder` (by mtime) until at most `keep`
    entries and `max_bytes` bytes remain; entries named in `protect` and names starting
    with '.' (work in progress) stay. Returns the names deleted."""
    try:
        names = [n for n in os.listdir(folder) if not n.startswith(".")]
    except FileNotFoundError:
        return []
    entries = []
    for name in names:
        path = os.path.join(folder, name)
        try:
            entries.append((os.path.getmtime(path), name, path))
        except OSError:
            continue
    entries.sort(reverse=True)  # newest first
    kept, size, deleted = 0, 0, []
    for _mtime, name, path in entries:
        this = entry_size(path) if max_bytes is not None else 0
        over = (keep is not None and kept >= keep) or (
            max_bytes is not None and size + this > max_bytes and kept > 0
        )
        if over and name not in protect:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except OSError:
                    pass
            deleted.append(name)
            continue
        kept += 1
        size += this
    return deleted
