"""storage.pages: a page at a time, with a delimiter and open key ranges, on local folders,
SeaweedFS and the GCS emulator, compared with each store's own full listing."""

import os

import pytest

from bucketscore.storage import uris
from bucketscore.storage.pages import object_entry, pages
from tests.support.helpers import write_file
from tests.support.storage_servers import unique_bucket_name

KEYS = [f"p/{i:04d}.png" for i in range(1200)] + ["p/a/x.png", "p/b/c/y.png", "p/z.txt"]


def _all(prefix, **kw):
    got = list(pages(prefix, **kw))
    assert got and not got[-1].more and all(p.more for p in got[:-1])
    return (
        got,
        sorted(o.uri for p in got for o in p.objects),
        sorted(q for p in got for q in p.prefixes),
    )


def _check(root, listing):
    """The same answers from any store: `root` is its p/ prefix, `listing` its keys."""
    deep_pages, deep, _ = _all(root)
    assert deep == sorted(root + k[2:] for k in listing)
    _, level, subs = _all(root, delimiter=True)
    assert level == sorted(root + k[2:] for k in listing if "/" not in k[2:])
    assert subs == [root + "a/", root + "b/"]
    # Open at both ends: neither bound itself comes back.
    after, before = root + "0100.png", root + "0200.png"
    _, ranged, _ = _all(root, after=after, before=before)
    assert ranged == [root + f"{i:04d}.png" for i in range(101, 200)]
    _, tail, _ = _all(root, delimiter=True, after=root + "1199.png")
    assert tail == [root + "z.txt"]
    return deep_pages


def test_local_folders(tmp_path):
    for k in KEYS:
        write_file(str(tmp_path / k), b"xy")
    root = str(tmp_path / "p") + "/"
    got = _check(root, KEYS)
    assert sum(len(p) for p in got) == len(KEYS)
    small, _, _ = _all(root, page_size=100)
    assert len(small) == 13  # 1,203 entries, 100 a page
    first = next(pages(root, stat=False)).objects[0]
    assert (first.size, first.mtime) == (0, 0.0)
    entry = object_entry(root + "0007.png")
    assert entry.size == 2 and entry.mtime == os.stat(root + "0007.png").st_mtime
    assert object_entry(root + "nope.png") is None and object_entry(root + "a") is None
    assert [len(p) for p in pages(str(tmp_path / "missing") + "/")] == [0]


def test_s3_pages(s3_server):
    bucket = unique_bucket_name("pages")
    s3_server.create_bucket(bucket)
    client = s3_server.boto3_client()
    for k in KEYS:
        client.put_object(Bucket=bucket, Key=k, Body=b"xy")
    uris.set_options(s3_server.beam_options())
    got = _check(f"s3://{bucket}/p/", KEYS)
    assert [len(p) for p in got] == [1000, 203]  # the store's own pages
    entry = object_entry(f"s3://{bucket}/p/0007.png")
    assert entry.size == 2 and entry.mtime > 0
    assert object_entry(f"s3://{bucket}/p/nope.png") is None


def test_gcs_pages(gcs_server):
    bucket = unique_bucket_name("pages")
    gcs_server.create_bucket(bucket)
    blobs = gcs_server.client().bucket(bucket)
    for k in KEYS:
        blobs.blob(k).upload_from_string(b"xy")
    _check(f"gs://{bucket}/p/", KEYS)
    entry = object_entry(f"gs://{bucket}/p/0007.png")
    assert entry.size == 2 and entry.mtime > 0
    assert object_entry(f"gs://{bucket}/p/nope.png") is None


@pytest.mark.parametrize("prefix", ["s3://", "gs://"])
def test_a_missing_bucket_is_an_error(s3_server, gcs_server, prefix):
    uris.set_options(s3_server.beam_options())
    with pytest.raises(Exception) as e:
        list(pages(f"{prefix}{unique_bucket_name('gone')}/p/"))
    assert "404" in str(e.value) or "NoSuchBucket" in str(e.value) or "Not Found" in str(e.value)
