"""Copying a run to a local folder (run_folder.download.download_run): only the CSV, JSON
and HTML files and `_SUCCESS`, never Parquet, Beam's temporary files or anything else; from a
local folder, SeaweedFS and the GCS emulator, each copy compared byte for byte.
"""

from __future__ import annotations

import os

import pytest

from bucketscore.run_folder.download import download_run
from tests.support.helpers import write_file
from tests.support.storage_servers import unique_bucket_name
from tests.support.stores import GCSStore, S3Store

WANTED = {
    "_SUCCESS": b'{"run_id": "r1"}\n',
    "errors.csv": b"uri,stage,error\n",
    "manifest.json": b"{}",
    "predictions-00000-of-00001.csv": b"uri\n/a.png\n",
    "report.html": b"<!DOCTYPE html>",
    "sub/notes.json": b"[]",  # below the run folder: kept with its folder
}
LEFT = {
    "predictions-00000-of-00001.parquet": b"PAR1",
    "embeddings-00000-of-00001.parquet": b"PAR1",
    "beam-temp-predictions-1a/x.csv": b"half",
    "readme.txt": b"no",
    "SUCCESS": b"not the marker",
}


def _files_below(folder) -> dict[str, bytes]:
    out = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


def test_a_local_run(tmp_path):
    for name, data in {**WANTED, **LEFT}.items():
        write_file(str(tmp_path / "results" / "r1" / name), data)
    copied, local = download_run(str(tmp_path / "results" / "r1"), str(tmp_path / "dl"))
    assert local == str(tmp_path / "dl" / "r1")
    assert copied == sorted(WANTED)
    assert _files_below(local) == WANTED


def test_nothing_to_copy(tmp_path):
    write_file(str(tmp_path / "r2" / "x.parquet"), b"PAR1")
    assert download_run(str(tmp_path / "r2"), str(tmp_path / "dl")) == (
        [],
        str(tmp_path / "dl" / "r2"),
    )
    assert not (tmp_path / "dl").exists()


@pytest.mark.parametrize("scheme", ["s3", "gcs"])
def test_a_run_in_a_bucket(scheme, request, tmp_path):
    server = request.getfixturevalue("s3_server" if scheme == "s3" else "gcs_server")
    store = S3Store(server) if scheme == "s3" else GCSStore(server)
    bucket = unique_bucket_name("download")
    store.make_bucket(bucket)
    for name, data in {**WANTED, **LEFT}.items():
        store.put(bucket, f"out/r1/{name}", data)
    store.put(bucket, "out/r10/summary.json", b"{}")  # another run whose name starts alike
    uri = f"{store.scheme}://{bucket}/out/r1/"
    copied, local = download_run(uri, str(tmp_path / "dl"), store.flags)
    assert copied == sorted(WANTED) and local == str(tmp_path / "dl" / "r1")
    assert _files_below(local) == WANTED
