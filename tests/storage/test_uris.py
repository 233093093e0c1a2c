"""storage.uris: path and URI arithmetic (normalize, join, as_prefix, has_glob, relative_to),
then reading, writing, listing, matching, copying and deleting objects on a local folder, on
S3 (SeaweedFS) and on GCS (the emulator), each checked against the store's own view (os,
boto3, google-cloud-storage).
"""

from __future__ import annotations

import os

import pytest

from bucketscore.storage import uris
from bucketscore.storage.uris import CopyError
from tests.support.helpers import write_file
from tests.support.storage_servers import unique_bucket_name


# --------------------------------------------------------------------------------------
# URI arithmetic
# --------------------------------------------------------------------------------------
def test_normalize_makes_local_paths_absolute_and_leaves_uris(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert uris.normalize("images") == str(tmp_path / "images")
    assert uris.normalize("images/") == str(tmp_path / "images") + "/"
    assert uris.normalize("./a/../b") == str(tmp_path / "b")
    assert uris.normalize("~/x/") == str(tmp_path / "home" / "x") + "/"
    for uri in ("s3://b/rel/../x", "gs://b/p/", "file:///srv/x", "hdfs://n/p"):
        assert uris.normalize(uri) == uri


def test_join_keeps_one_separator():
    assert uris.join("s3://b", "a", "b.png") == "s3://b/a/b.png"
    assert uris.join("s3://b/", "/a/", "/b.png") == "s3://b/a/b.png"
    assert uris.join("/data/out", "r1/", "x") == "/data/out/r1/x"
    assert uris.join("gs://b/p") == "gs://b/p"


def test_prefixes_globs_and_relative_names():
    assert uris.as_prefix("s3://b/p") == "s3://b/p/"
    assert uris.as_prefix("s3://b/p///") == "s3://b/p/"
    assert [uris.has_glob(u) for u in ("a/*.png", "a/?.png", "a/[ab].png", "a/b.png")] == [
        True,
        True,
        True,
        False,
    ]
    assert uris.is_remote("s3://b") and uris.is_remote("gs://b") and not uris.is_remote("/s3://")
    assert uris.relative_to("s3://b/p/x/y.png", "s3://b/p") == "x/y.png"
    with pytest.raises(ValueError, match="s3://b/q/y.png is not below s3://b/p/"):
        uris.relative_to("s3://b/q/y.png", "s3://b/p")
    with pytest.raises(ValueError):
        uris.relative_to("s3://b/px/y.png", "s3://b/p")  # a sibling that shares the start


# --------------------------------------------------------------------------------------
# A local folder
# --------------------------------------------------------------------------------------
def test_local_write_read_exists(tmp_path):
    target = str(tmp_path / "new" / "deeper" / "a.bin")
    uris.write_bytes(target, bytes(range(256)))  # its folders are made
    with open(target, "rb") as f:
        assert f.read() == bytes(range(256))
    assert uris.read_bytes(target) == bytes(range(256))
    assert uris.read_bytes(target, max_bytes=3) == b"\x00\x01\x02"
    uris.write_text(str(tmp_path / "t.txt"), "naïve ✓")
    assert uris.read_text(str(tmp_path / "t.txt")) == "naïve ✓"
    assert uris.exists(target) and not uris.exists(str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError):
        uris.read_bytes(str(tmp_path / "gone"))


def _tail_and_stream(uri: str) -> None:
    """read_tail and open_stream on `uri`, which holds bytes(range(256)) * 4."""
    data = bytes(range(256)) * 4
    assert uris.read_tail(uri, 3) == data[-3:]
    assert uris.read_tail(uri, 5000) == data  # more than there is: all of it
    with uris.open_stream(uri) as f:
        assert f.read(10) == data[:10]
        assert f.read() == data[10:]


def test_local_tail_and_stream(tmp_path):
    target = str(tmp_path / "a.bin")
    uris.write_bytes(target, bytes(range(256)) * 4)
    _tail_and_stream(target)
    uris.write_bytes(str(tmp_path / "empty"), b"")
    assert uris.read_tail(str(tmp_path / "empty"), 8) == b""
    with pytest.raises(FileNotFoundError):
        uris.read_tail(str(tmp_path / "gone"), 8)


def test_local_listing_matching_and_deleting(tmp_path):
    for name in ("top.png", "a/1.png", "a/b/2.png", "a/b/c/3.txt"):
        write_file(str(tmp_path / "d" / name), name.encode())
    listed = uris.list_prefix(str(tmp_path / "d"))
    walked = {
        os.path.join(r, n): os.path.getsize(os.path.join(r, n))
        for r, _d, files in os.walk(tmp_path / "d")
        for n in files
    }
    assert {m.path: m.size_in_bytes for m in listed} == walked  # files at the top too
    assert uris.list_prefix(str(tmp_path / "missing")) == []
    assert sorted(m.path for m in uris.match(str(tmp_path / "d" / "a" / "*" / "*.png"))) == [
        str(tmp_path / "d" / "a" / "b" / "2.png")
    ]
    assert uris.match(str(tmp_path / "d" / "*.jpg")) == []
    # Folder by folder (a folder's own files first), names sorted within each.
    assert list(uris.iter_local_files(str(tmp_path / "d"))) == [
        "top.png",
        "a/1.png",
        "a/b/2.png",
        "a/b/c/3.txt",
    ]
    assert uris.delete_prefix(str(tmp_path / "d" / "a")) == 3
    # The folders below the prefix went too; the prefix's own folder stays, empty.
    assert sorted(os.listdir(tmp_path / "d")) == ["a", "top.png"]
    assert os.listdir(tmp_path / "d" / "a") == []
    uris.delete([])  # nothing to delete: no error


def test_remove_empty_dirs_keeps_folders_with_files(tmp_path):
    (tmp_path / "x" / "e1" / "e2").mkdir(parents=True)
    write_file(str(tmp_path / "x" / "full" / "f.txt"), b"1")
    uris.remove_empty_dirs(str(tmp_path / "x"))
    assert sorted(os.listdir(tmp_path / "x")) == ["full"]
    os.remove(tmp_path / "x" / "full" / "f.txt")
    uris.remove_empty_dirs(str(tmp_path / "x"), include_self=True)
    assert not (tmp_path / "x").exists()
    uris.remove_empty_dirs(str(tmp_path / "x"))  # gone: nothing to do


def test_local_file_and_download(tmp_path):
    write_file(str(tmp_path / "m" / "labels.txt"), b"cat\ndog\n")
    assert uris.local_file(str(tmp_path / "m" / "labels.txt"), str(tmp_path / "c")) == str(
        tmp_path / "m" / "labels.txt"
    )  # a local file is used where it is
    with pytest.raises(CopyError, match=r"/gone\.txt: no such file$"):
        uris.local_file(str(tmp_path / "gone.txt"), str(tmp_path / "c"))
    with pytest.raises(CopyError):
        uris.local_file(str(tmp_path / "m"), str(tmp_path / "c"))  # a folder is no file
    got = uris.download(str(tmp_path / "m" / "labels.txt"), str(tmp_path / "d" / "e" / "l.txt"))
    assert got == str(tmp_path / "d" / "e" / "l.txt")
    assert (tmp_path / "d" / "e" / "l.txt").read_bytes() == b"cat\ndog\n"


# --------------------------------------------------------------------------------------
# S3 (SeaweedFS)
# --------------------------------------------------------------------------------------
@pytest.fixture()
def s3_bucket(s3_server):
    bucket = s3_server.create_bucket(unique_bucket_name("uris"))
    uris.set_options(s3_server.beam_options())
    client = s3_server.boto3_client()

    def keys(prefix=""):
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    return bucket, client, keys


def test_s3_write_read_exists(s3_bucket):
    bucket, client, keys = s3_bucket
    uris.write_bytes(f"s3://{bucket}/a b/c.bin", b"\x00\x01payload")
    uris.write_text(f"s3://{bucket}/t.txt", "naïve ✓")
    assert keys() == ["a b/c.bin", "t.txt"]
    assert client.get_object(Bucket=bucket, Key="a b/c.bin")["Body"].read() == b"\x00\x01payload"
    assert uris.read_bytes(f"s3://{bucket}/a b/c.bin", max_bytes=2) == b"\x00\x01"
    assert uris.read_text(f"s3://{bucket}/t.txt") == "naïve ✓"
    assert uris.exists(f"s3://{bucket}/t.txt")
    assert not uris.exists(f"s3://{bucket}/t.tx")
    assert not uris.exists(f"s3://{bucket}/a b")  # a "folder" is no object


def test_s3_tail_and_stream(s3_bucket):
    bucket, client, _keys = s3_bucket
    client.put_object(Bucket=bucket, Key="t/a.bin", Body=bytes(range(256)) * 4)
    client.put_object(Bucket=bucket, Key="t/empty", Body=b"")
    _tail_and_stream(f"s3://{bucket}/t/a.bin")
    assert uris.read_tail(f"s3://{bucket}/t/empty", 8) == b""


def test_s3_listing_matching_and_deleting(s3_bucket):
    bucket, client, keys = s3_bucket
    for key in ("d/top.png", "d/a/1.png", "d/a/b/2.png", "d2/x.png"):
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = uris.list_prefix(f"s3://{bucket}/d")  # d/, not d2/
    assert {m.path: m.size_in_bytes for m in listed} == {
        f"s3://{bucket}/{k}": len(k) for k in ("d/top.png", "d/a/1.png", "d/a/b/2.png")
    }
    assert all(m.last_updated_in_seconds > 0 for m in listed)
    assert [m.path for m in uris.match(f"s3://{bucket}/d/a/*.png")] == [f"s3://{bucket}/d/a/1.png"]
    assert uris.match(f"s3://{bucket}/d/*.jpg") == []
    assert uris.delete_prefix(f"s3://{bucket}/d/a/") == 2
    assert keys() == ["d/top.png", "d2/x.png"]
    uris.delete([f"s3://{bucket}/d/top.png", f"s3://{bucket}/never-there.png"])
    assert keys() == ["d2/x.png"]


def test_s3_deletes_more_objects_than_one_request_takes(s3_bucket):
    from concurrent.futures import ThreadPoolExecutor

    bucket, client, keys = s3_bucket
    names = [f"many/{i:05d}" for i in range(1003)]  # DeleteObjects takes at most 1,000
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b""), names))
    assert uris.delete_prefix(f"s3://{bucket}/many/") == 1003
    assert keys("many/") == []


def test_copy_tree_between_a_folder_and_s3(s3_bucket, tmp_path):
    bucket, _client, keys = s3_bucket
    for name in ("model.json", "saved/variables/v.data", "labels.txt"):
        write_file(str(tmp_path / "bundle" / name), name.encode())
    copied = uris.copy_tree(str(tmp_path / "bundle"), f"s3://{bucket}/models/m1/")
    assert sorted(copied) == ["labels.txt", "model.json", "saved/variables/v.data"]
    assert keys() == [f"models/m1/{n}" for n in sorted(copied)]
    back = uris.copy_tree(f"s3://{bucket}/models/m1", str(tmp_path / "back"), names=["model.json"])
    assert back == ["model.json"] and os.listdir(tmp_path / "back") == ["model.json"]
    assert (tmp_path / "back" / "model.json").read_bytes() == b"model.json"


def test_local_file_of_an_s3_object_is_a_copy(s3_bucket, tmp_path):
    bucket, client, _keys = s3_bucket
    client.put_object(Bucket=bucket, Key="m/labels.txt", Body=b"cat\n")
    path = uris.local_file(f"s3://{bucket}/m/labels.txt", str(tmp_path / "cache"))
    assert path == str(tmp_path / "cache" / "labels.txt")
    assert open(path, "rb").read() == b"cat\n"
    with pytest.raises(CopyError) as e:
        uris.local_file(f"s3://{bucket}/m/gone.txt", str(tmp_path / "cache"))
    assert str(e.value).startswith(f"cannot read s3://{bucket}/m/gone.txt: ")
    assert "404" in str(e.value)


# --------------------------------------------------------------------------------------
# GCS (the emulator)
# --------------------------------------------------------------------------------------
def test_gcs_write_read_list_delete(gcs_server):
    bucket = gcs_server.create_bucket(unique_bucket_name("uris"))
    blobs = gcs_server.client().bucket(bucket)
    uris.write_text(f"gs://{bucket}/p/a.txt", "alpha")
    blobs.blob("p/q/b.txt").upload_from_string(b"beta")
    assert blobs.blob("p/a.txt").download_as_bytes() == b"alpha"
    assert uris.read_bytes(f"gs://{bucket}/p/q/b.txt") == b"beta"
    assert uris.exists(f"gs://{bucket}/p/a.txt") and not uris.exists(f"gs://{bucket}/p/c.txt")
    assert sorted(m.path for m in uris.list_prefix(f"gs://{bucket}/p")) == [
        f"gs://{bucket}/p/a.txt",
        f"gs://{bucket}/p/q/b.txt",
    ]
    assert uris.delete_prefix(f"gs://{bucket}/p/q") == 1
    assert sorted(b.name for b in gcs_server.client().list_blobs(bucket)) == ["p/a.txt"]


def test_gcs_tail_and_stream(gcs_server):
    bucket = gcs_server.create_bucket(unique_bucket_name("tail"))
    gcs_server.client().bucket(bucket).blob("a.bin").upload_from_string(bytes(range(256)) * 4)
    _tail_and_stream(f"gs://{bucket}/a.bin")
