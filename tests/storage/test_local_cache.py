"""storage.local_cache: where the cache lives ($BUCKETSCORE_CACHE_DIR, else $XDG_CACHE_HOME,
else ~/.cache), the size of an entry, and prune keeping the most recently used entries within
a count and a size (times set with os.utime), never the protected ones or work in progress.
"""

from __future__ import annotations

import os

import pytest

from bucketscore.storage.local_cache import CACHE_ENV, cache_root, entry_size, prune
from tests.support.helpers import write_file


def test_cache_root_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_root() == str(tmp_path / "home" / ".cache" / "bucketscore")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root("bundles") == str(tmp_path / "xdg" / "bucketscore" / "bundles")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_root("runs", "logs") == str(tmp_path / "mine" / "runs" / "logs")
    monkeypatch.setenv(CACHE_ENV, "")  # empty: not set
    assert cache_root() == str(tmp_path / "xdg" / "bucketscore")
    for made in ("home/.cache/bucketscore", "xdg/bucketscore/bundles", "mine/runs/logs"):
        assert (tmp_path / made).is_dir(), made


def test_entry_size_of_a_file_and_of_a_folder(tmp_path):
    write_file(str(tmp_path / "f.bin"), b"x" * 10)
    write_file(str(tmp_path / "d" / "a"), b"x" * 3)
    write_file(str(tmp_path / "d" / "e" / "b"), b"x" * 4)
    (tmp_path / "d" / "empty").mkdir()
    assert entry_size(str(tmp_path / "f.bin")) == 10
    assert entry_size(str(tmp_path / "d")) == 7
    assert entry_size(str(tmp_path / "missing")) == 0


def _entries(folder, sizes: dict[str, int]) -> None:
    """Entries named by age: the first in `sizes` is the oldest (one hour apart); names
    ending with / are folders."""
    for age, (name, size) in enumerate(reversed(list(sizes.items()))):
        path = os.path.join(folder, name.rstrip("/"))
        if name.endswith("/"):
            write_file(os.path.join(path, "data"), b"x" * size)
        else:
            write_file(path, b"x" * size)
        stamp = 1_700_000_000 - 3600 * age
        os.utime(path, (stamp, stamp))


def test_prune_keeps_the_most_recently_used(tmp_path):
    _entries(tmp_path, {"old": 1, "older/": 1, "mid": 1, "new/": 1, "newest": 1})
    assert sorted(prune(str(tmp_path), keep=2)) == ["mid", "old", "older"]
    assert sorted(os.listdir(tmp_path)) == ["new", "newest"]
    assert prune(str(tmp_path), keep=2) == []


def test_prune_by_size_keeps_the_newest_even_when_it_alone_is_too_big(tmp_path):
    _entries(tmp_path, {"a": 40, "b/": 30, "c": 20, "d": 100})  # d newest
    assert sorted(prune(str(tmp_path), max_bytes=149)) == ["a", "b"]  # 100 + 20 fit, + 30 not
    assert sorted(prune(str(tmp_path), max_bytes=50)) == ["c"]
    assert os.listdir(tmp_path) == ["d"]


def test_prune_never_deletes_protected_entries_or_work_in_progress(tmp_path):
    _entries(tmp_path, {".partial/": 5, "pinned": 5, "old": 5, "new": 5})
    assert prune(str(tmp_path), keep=1, protect=("pinned",)) == ["old"]
    assert sorted(os.listdir(tmp_path)) == [".partial", "new", "pinned"]


@pytest.mark.parametrize("keep,max_bytes", [(None, None), (10, None), (None, 10**6)])
def test_prune_within_the_limits_deletes_nothing(tmp_path, keep, max_bytes):
    _entries(tmp_path, {"a": 1, "b": 2})
    assert prune(str(tmp_path), keep=keep, max_bytes=max_bytes) == []
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_prune_of_a_missing_folder(tmp_path):
    assert prune(str(tmp_path / "missing"), keep=0) == []
