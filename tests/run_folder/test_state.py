"""The incremental state pointer (run_folder.state): written beside the runs, read back as
the run folder of the last completed run with a model version, and ignored when the run it
names has no `_SUCCESS` or the pointer cannot be read; on a local folder and on SeaweedFS.
"""

from __future__ import annotations

import json

import pytest

from bucketscore.run_folder.state import last_completed_run, pointer_uri, write_pointer
from bucketscore.storage import uris
from tests.support.helpers import write_file
from tests.support.storage_servers import unique_bucket_name


def test_the_pointer_lives_beside_the_runs():
    assert pointer_uri("s3://b/results", "abc123") == "s3://b/results/_state/abc123.json"
    assert pointer_uri("/out/", "v1") == "/out/_state/v1.json"


def test_a_pointer_to_a_completed_run_names_its_folder(tmp_path):
    out = str(tmp_path / "out")
    write_file(str(tmp_path / "out" / "r7" / "_SUCCESS"), b"{}")
    write_pointer(out, "v1", "r7", "2026-12-01T10:00:00+00:00")
    with open(tmp_path / "out" / "_state" / "v1.json") as f:
        assert json.load(f) == {"run_id": "r7", "finished_at": "2026-12-01T10:00:00+00:00"}
    assert last_completed_run(out, "v1") == str(tmp_path / "out" / "r7") + "/"
    assert last_completed_run(out, "v2") is None  # another model version: no base run


def test_a_run_without_success_is_never_the_base(tmp_path):
    out = str(tmp_path / "out")
    write_file(str(tmp_path / "out" / "r8" / "summary.json"), b"{}")
    write_pointer(out, "v1", "r8", "2026-12-01T10:00:00+00:00")
    assert last_completed_run(out, "v1") is None


@pytest.mark.parametrize("text", [b"not json", b'{"finished_at": "x"}', b""])
def test_an_unreadable_pointer_is_ignored(tmp_path, text):
    write_file(str(tmp_path / "out" / "r1" / "_SUCCESS"), b"{}")
    write_file(str(tmp_path / "out" / "_state" / "v1.json"), text)
    assert last_completed_run(str(tmp_path / "out"), "v1") is None


def test_no_pointer_no_base(tmp_path):
    assert last_completed_run(str(tmp_path / "never-written"), "v1") is None


def test_the_pointer_on_s3(s3_server):
    bucket = s3_server.create_bucket(unique_bucket_name("state"))
    uris.set_options(s3_server.beam_options())
    client = s3_server.boto3_client()
    out = f"s3://{bucket}/results"
    write_pointer(out, "v1", "r1", "2026-12-01T10:00:00+00:00")
    body = client.get_object(Bucket=bucket, Key="results/_state/v1.json")["Body"].read()
    assert json.loads(body)["run_id"] == "r1"
    assert last_completed_run(out, "v1") is None  # r1 has no _SUCCESS yet
    client.put_object(Bucket=bucket, Key="results/r1/_SUCCESS", Body=b"{}")
    assert last_completed_run(out, "v1") == f"{out}/r1/"
