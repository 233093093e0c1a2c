"""What a run folder is (run_folder.layout): its URI and file URIs, the names that make a
folder a bucketscore run, clear_run_folder refusing a folder that is not a run and emptying
one that is (`_SUCCESS` first), and remove_temp; on local folders and SeaweedFS.
"""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest

from bucketscore.run_folder import layout
from bucketscore.run_folder.layout import (
    NotARunFolder,
    clear_run_folder,
    file_uri,
    looks_like_run,
    new_run_id,
    now_iso,
    remove_temp,
    run_uri,
)
from bucketscore.storage import uris
from tests.support.helpers import write_file
from tests.support.storage_servers import unique_bucket_name

RUN = {
    "_SUCCESS": b"{}",
    "summary.json": b"{}",
    "predictions-00000-of-00001.csv": b"uri\n",
    "beam-temp-predictions-1a2b/shard.csv": b"half",
}


def test_run_and_file_uris():
    assert run_uri("s3://b/results", "r1") == "s3://b/results/r1/"
    assert run_uri("s3://b/results/", "r1") == "s3://b/results/r1/"
    assert run_uri("/tmp/out", "r1") == "/tmp/out/r1/"
    assert file_uri("gs://b/out/r1/", "summary.json") == "gs://b/out/r1/summary.json"
    assert file_uri("/o/r1", layout.SUCCESS) == "/o/r1/_SUCCESS"


def test_run_ids_sort_by_time_and_times_are_utc_seconds():
    first = new_run_id()
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", first)
    stamp = dt.datetime.strptime(first[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    assert abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 3600
    assert new_run_id() != first  # the random suffix
    now = dt.datetime.fromisoformat(now_iso())
    assert now.utcoffset() == dt.timedelta(0) and now.microsecond == 0


@pytest.mark.parametrize(
    "names,expected",
    [
        ({"_SUCCESS"}, True),
        ({"manifest.json"}, True),
        ({"summary.json", "notes.txt"}, True),
        ({"errors.csv"}, True),
        ({"predictions-00000-of-00004.parquet"}, True),
        ({"beam-temp-predictions-ab12"}, True),
        ({"notes.txt", "images"}, False),
        ({"report.html"}, False),  # not alone: any HTML file could be called that
        (set(), False),
    ],
)
def test_looks_like_run(names, expected):
    assert looks_like_run(names) is expected


def test_clearing_a_local_run_deletes_its_files_and_folders(tmp_path):
    run = tmp_path / "r1"
    for name, data in RUN.items():
        write_file(str(run / name), data)
    (run / "beam-temp-empty").mkdir()  # a killed run's empty temp folder counts too
    assert clear_run_folder(str(run) + "/") == 4
    assert os.listdir(run) == []
    assert clear_run_folder(str(run) + "/") == 0  # empty: nothing to do
    assert clear_run_folder(str(tmp_path / "missing") + "/") == 0


def test_keep_temp_leaves_beams_temporary_files(tmp_path):
    run = tmp_path / "r1"
    for name, data in RUN.items():
        write_file(str(run / name), data)
    assert clear_run_folder(str(run) + "/", keep_temp=True) == 3
    assert os.listdir(run) == ["beam-temp-predictions-1a2b"]


def test_a_folder_that_is_not_a_run_is_never_cleared(tmp_path):
    folder = tmp_path / "photos"
    write_file(str(folder / "holiday" / "a.jpg"), b"jpeg")
    write_file(str(folder / "notes.txt"), b"mine")
    with pytest.raises(NotARunFolder, match="is not a bucketscore run folder; refusing"):
        clear_run_folder(str(folder) + "/")
    assert sorted(os.listdir(folder)) == ["holiday", "notes.txt"]


def test_remove_temp_deletes_only_beams_temporary_files(tmp_path):
    run = tmp_path / "r1"
    for name, data in RUN.items():
        write_file(str(run / name), data)
    write_file(str(run / "beam-temp-errors-9" / "a" / "b.csv"), b"x")
    assert remove_temp(str(run) + "/") == 2
    assert sorted(os.listdir(run)) == sorted(["_SUCCESS", "summary.json", RUN_CSV])
    assert remove_temp(str(run) + "/") == 0
    assert remove_temp(str(tmp_path / "missing") + "/") == 0


RUN_CSV = "predictions-00000-of-00001.csv"


@pytest.fixture()
def s3_run(s3_server):
    bucket = s3_server.create_bucket(unique_bucket_name("layout"))
    client = s3_server.boto3_client()
    for name, data in RUN.items():
        client.put_object(Bucket=bucket, Key=f"out/r1/{name}", Body=data)
    client.put_object(Bucket=bucket, Key="out/r10/summary.json", Body=b"{}")  # r1 is a prefix
    uris.set_options(s3_server.beam_options())

    def keys():
        answer = client.list_objects_v2(Bucket=bucket, Prefix="out/")
        return sorted(o["Key"] for o in answer.get("Contents", []))

    return bucket, client, keys


def test_clearing_an_s3_run(s3_run):
    bucket, _client, keys = s3_run
    assert clear_run_folder(f"s3://{bucket}/out/r1/", keep_temp=True) == 3
    assert keys() == ["out/r1/beam-temp-predictions-1a2b/shard.csv", "out/r10/summary.json"]
    assert clear_run_folder(f"s3://{bucket}/out/r1/") == 1
    assert keys() == ["out/r10/summary.json"]


def test_remove_temp_and_refusal_on_s3(s3_run):
    bucket, client, keys = s3_run
    assert remove_temp(f"s3://{bucket}/out/r1/") == 1
    assert "out/r1/beam-temp-predictions-1a2b/shard.csv" not in keys()
    assert "out/r1/_SUCCESS" in keys()
    client.put_object(Bucket=bucket, Key="data/cat.jpg", Body=b"jpeg")
    with pytest.raises(NotARunFolder):
        clear_run_folder(f"s3://{bucket}/data/")
    assert client.get_object(Bucket=bucket, Key="data/cat.jpg")["Body"].read() == b"jpeg"
