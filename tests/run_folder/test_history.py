"""The runs under a results folder (run_folder.history), read from run folders written here
file by file: which folders are runs, their status (complete, failed, incomplete), counts and
figures (summary.json over manifest.json), newest first (by started_at, else by the newest
file), the table `bucketscore runs` prints; on a local folder and on SeaweedFS, and a store
that cannot be listed.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from bucketscore.run_folder.history import (
    RunHistoryError,
    check_prefix,
    format_runs,
    list_runs,
    looks_like_run_folder,
)
from bucketscore.storage.errors import retry_budget
from tests.support.helpers import write_file
from tests.support.storage_servers import free_ports, unique_bucket_name


def _manifest(started: str, status: str, counts: dict, version="v1", name="digits") -> bytes:
    return json.dumps(
        {
            "run_id": "x",
            "started_at": started,
            "finished_at": started.replace("T10", "T11"),
            "status": status,
            "model": {"name": name, "version": version},
            "counts": counts,
        }
    ).encode()


def _summary(listed, scored, failed, accuracy, version="v1") -> bytes:
    return json.dumps(
        {
            "counts": {"listed": listed, "scored": scored, "failed": failed, "labelled": scored},
            "accuracy": accuracy,
            "top_k_accuracy": 1.0,
            "macro": {"f1": 0.5},
            "model": {"name": "from-summary", "version": version},
        }
    ).encode()


# Run folders as runs leave them (relative to the results folder), and what is no run.
FILES = {
    # complete, started second
    "b-run/_SUCCESS": b"{}",
    "b-run/manifest.json": _manifest("2020-01-02T10:00:00+00:00", "complete", {"listed": 9}),
    "b-run/summary.json": _summary(10, 9, 1, 0.75),
    "b-run/predictions-00000-of-00001.csv": b"uri\n",
    # failed (too many errors), started first
    "a-run/manifest.json": _manifest(
        "2020-01-01T10:00:00Z", "failed", {"listed": 4, "scored": 1, "failed": 3}
    ),
    "a-run/summary.json": _summary(4, 1, 3, None),
    # incomplete: died before its manifest; its newest file says when
    "c-run/predictions-00000-of-00002.csv": b"uri\n",
    "c-run/beam-temp-x/y.csv": b"half",
    # not runs
    "_state/v1.json": b'{"run_id": "b-run"}',
    "notes/readme.txt": b"mine",
    "top.txt": b"a file beside the runs",
}


def _write(root) -> str:
    for name, data in FILES.items():
        write_file(os.path.join(root, name), data)
    # c-run's files: after both manifests' started_at, so it is the newest run.
    stamp = dt.datetime(2020, 1, 3, 8, 0, tzinfo=dt.timezone.utc).timestamp()
    for name in ("predictions-00000-of-00002.csv", "beam-temp-x/y.csv"):
        os.utime(os.path.join(root, "c-run", name), (stamp, stamp - 60 * (name[0] == "b")))
    return str(root)


def test_runs_newest_first_with_their_status_counts_and_figures(tmp_path):
    root = _write(tmp_path / "results")
    runs = list_runs(root)
    assert [r.run_id for r in runs] == ["c-run", "b-run", "a-run"]
    c, b, a = runs
    assert (b.status, b.completed, a.status, a.completed) == ("complete", True, "failed", False)
    assert (c.status, c.completed, c.started_at, c.files) == ("incomplete", False, None, 2)
    assert c.last_modified == dt.datetime(2020, 1, 3, 8, 0, tzinfo=dt.timezone.utc).timestamp()
    # summary.json's figures win over manifest.json's counts; the manifest names the model.
    assert (b.listed, b.scored, b.failed, b.labelled) == (10, 9, 1, 9)
    assert (b.accuracy, b.top_k_accuracy, b.macro_f1) == (0.75, 1.0, 0.5)
    assert (b.model_name, b.model_version) == ("digits", "v1")
    assert b.started_at == "2020-01-02T10:00:00+00:00"
    assert b.finished_at == "2020-01-02T11:00:00+00:00"
    assert b.uri == os.path.join(root, "b-run") + "/"
    assert (a.listed, a.scored, a.failed, a.accuracy) == (4, 1, 3, None)
    assert b.as_dict()["run_id"] == "b-run" and set(b.as_dict()) >= {"status", "files"}


def test_a_half_written_document_says_less_but_the_run_is_listed(tmp_path):
    root = _write(tmp_path / "results")
    write_file(os.path.join(root, "b-run", "summary.json"), b'{"counts": {"list')
    b = {r.run_id: r for r in list_runs(root)}["b-run"]
    assert b.listed == 9 and b.accuracy is None  # the manifest's count; no figure
    assert b.model_name == "digits"


def test_the_table_people_read(tmp_path):
    root = _write(tmp_path / "results")
    lines = format_runs(list_runs(root)).splitlines()
    assert lines[0].split() == [
        "RUN",
        "STARTED",
        "STATUS",
        "LISTED",
        "SCORED",
        "FAILED",
        "ACCURACY",
        "MODEL",
    ]
    assert lines[1].split() == [
        "c-run",
        "2020-01-03T08:00:00Z?",
        "incomplete",
        "-",
        "-",
        "-",
        "-",
        "-",
    ]
    assert lines[2].split() == [
        "b-run",
        "2020-01-02T10:00:00Z",
        "complete",
        "10",
        "9",
        "1",
        "0.7500",
        "digits@v1",
    ]
    assert lines[3].split()[:3] == ["a-run", "2020-01-01T10:00:00Z", "failed"]
    # Columns line up: every row starts its STATUS cell where the header does.
    at = lines[0].index("STATUS")
    assert all(
        line[at:].split()[0] in ("STATUS", "incomplete", "complete", "failed") for line in lines
    )
    assert format_runs([]).split() == lines[0].split()


def test_wrong_places(tmp_path):
    root = _write(tmp_path / "results")
    with pytest.raises(RunHistoryError, match=r"nothing-here: no such folder"):
        list_runs(str(tmp_path / "nothing-here"))
    assert list_runs(str(tmp_path / "results" / "notes")) == []
    assert looks_like_run_folder(os.path.join(root, "b-run"))
    assert looks_like_run_folder(os.path.join(root, "a-run"))  # a manifest is enough
    assert not looks_like_run_folder(os.path.join(root, "c-run"))
    assert not looks_like_run_folder(root)
    assert check_prefix(root) == root + "/"
    assert check_prefix("s3://b/not-checked") == "s3://b/not-checked/"  # buckets: listed later


def test_runs_on_s3(s3_server, tmp_path):
    bucket = s3_server.create_bucket(unique_bucket_name("history"))
    client = s3_server.boto3_client()
    for name, data in FILES.items():
        client.put_object(Bucket=bucket, Key=f"results/{name}", Body=data)
    runs = list_runs(f"s3://{bucket}/results", s3_server.beam_options())
    # c-run has no manifest: it sorts by its upload time, now, after both manifests' dates.
    assert [r.run_id for r in runs] == ["c-run", "b-run", "a-run"]
    local = {r.run_id: r.as_dict() for r in list_runs(_write(tmp_path / "results"))}
    for r in runs:
        got = r.as_dict()
        assert got["uri"] == f"s3://{bucket}/results/{r.run_id}/"
        for key in ("status", "completed", "listed", "scored", "failed", "accuracy", "files"):
            assert got[key] == local[r.run_id][key], (r.run_id, key)


def test_a_store_that_cannot_be_listed_is_one_line(s3_server):
    port = free_ports(1)[0]
    flags = [f for f in s3_server.beam_options() if not f.startswith("--s3_endpoint_url")]
    flags.append(f"--s3_endpoint_url=http://127.0.0.1:{port}")
    with retry_budget(1), pytest.raises(RunHistoryError) as e:
        list_runs("s3://any-bucket/results/", flags)
    message = str(e.value)
    assert message.startswith("cannot list s3://any-bucket/results/: StorageUnavailable: ")
    assert "\n" not in message
