"""Bundles fetched once per version into the machine's cache, shared by processes and runs,
verified, bounded; local bundles used where they are (no copy anywhere)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from bucketscore.bundle import cache as bundle_cache
from bucketscore.bundle.verified import fetch_verified
from tests.support.helpers import REPO
from tests.support.storage_servers import unique_bucket_name

FETCH = (
    "import json, sys, time\n"
    "from bucketscore.storage import uris\n"
    "from bucketscore.bundle.verified import fetch_verified\n"
    "uris.set_options(json.loads(sys.argv[2]))\n"
    "meta, local = fetch_verified(sys.argv[1])\n"
    "print(json.dumps([meta.version, local]))\n"
    "time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 0)\n"
)


@pytest.fixture()
def s3_bundle(s3_server, demo_bundle):
    client = s3_server.boto3_client()
    bucket = unique_bucket_name("cache")
    s3_server.create_bucket(bucket)
    for root, _dirs, files in os.walk(demo_bundle.model):
        for name in files:
            path = os.path.join(root, name)
            key = "model/" + os.path.relpath(path, demo_bundle.model)
            client.put_object(Bucket=bucket, Key=key, Body=open(path, "rb").read())
    return f"s3://{bucket}/model"


def _env(cache):
    return dict(os.environ, BUCKETSCORE_CACHE_DIR=str(cache))


def _fetch_in_processes(uri, options, cache, n, hold=0.0):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FETCH, uri, json.dumps(options), str(hold)],
            cwd=REPO,
            env=_env(cache),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(n)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs


def test_remote_bundle_is_fetched_once_for_all_processes(
    s3_server, s3_bundle, tmp_path, demo_bundle
):
    cache = tmp_path / "cache"
    outs = _fetch_in_processes(s3_bundle, s3_server.beam_options(), cache, 4)
    versions, folders = {v for v, _ in outs}, {f for _, f in outs}
    assert versions == {demo_bundle.meta.version} and len(folders) == 1
    (folder,) = folders
    assert folder == str(cache / "bundles" / demo_bundle.meta.version)
    entries = sorted(os.listdir(cache / "bundles"))
    assert entries == sorted(
        [
            demo_bundle.meta.version,
            f".use-{demo_bundle.meta.version}",
            f".fill-{demo_bundle.meta.version}",
        ]
    )  # no .tmp-* left
    assert bundle_cache.intact(folder)
    stamp = os.stat(os.path.join(folder, "model.json")).st_mtime_ns
    # A later run reuses it: nothing is copied again.
    _fetch_in_processes(s3_bundle, s3_server.beam_options(), cache, 1)
    assert os.stat(os.path.join(folder, "model.json")).st_mtime_ns == stamp


def test_a_damaged_cached_copy_is_fetched_again(s3_server, s3_bundle, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    ((_, folder),) = _fetch_in_processes(s3_bundle, s3_server.beam_options(), cache, 1)
    onnx = os.path.join(folder, "model.onnx")
    with open(onnx, "ab") as f:
        f.write(b"garbage")
    assert not bundle_cache.intact(folder)
    ((_, again),) = _fetch_in_processes(s3_bundle, s3_server.beam_options(), cache, 1)
    assert again == folder and bundle_cache.intact(folder)
    from bucketscore.bundle.meta import read_meta, sha256_file

    monkeypatch.setenv("BUCKETSCORE_CACHE_DIR", str(cache))
    assert sha256_file(onnx) == read_meta(folder).files["model.onnx"]


def test_local_bundles_are_used_in_place(demo_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("BUCKETSCORE_CACHE_DIR", str(tmp_path / "cache"))
    meta, local = fetch_verified(demo_bundle.model)
    assert local == demo_bundle.model.rstrip("/")
    assert not os.path.exists(tmp_path / "cache" / "bundles" / meta.version)


def test_cache_is_bounded_but_never_drops_a_bundle_in_use(tmp_path, monkeypatch):
    monkeypatch.setenv("BUCKETSCORE_CACHE_DIR", str(tmp_path / "cache"))
    root = bundle_cache.folder()

    def make(version, size):
        def fill(folder):
            with open(os.path.join(folder, "blob"), "wb") as f:
                f.write(b"x" * size)

        return bundle_cache.cached(version, fill)

    for i, version in enumerate(["v1", "v2", "v3"]):
        make(version, 1000)
        os.utime(os.path.join(root, version), (time.time() - 100 + i,) * 2)
    # Another live process holds v1 (the oldest): pruning must skip it.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_SH)\nprint('held', flush=True)\ntime.sleep(60)\n",
            os.path.join(root, ".use-v1"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        # as if the processes that fetched them ended: drop this process's shared locks
        held = bundle_cache._held  # noqa: SLF001 - the lock table the cache keeps per process
        for fd in held.values():
            os.close(fd)
        held.clear()
        deleted = bundle_cache.prune(keep="v3", limit=1500)
    finally:
        holder.kill()
        holder.wait()
    assert deleted == ["v2"]  # v3 kept (newest, asked for), v1 in use elsewhere
    assert sorted(n for n in os.listdir(root) if not n.startswith(".")) == ["v1", "v3"]
