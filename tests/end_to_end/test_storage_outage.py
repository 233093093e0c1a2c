"""Storage outages mid-run, on the real SeaweedFS server: ridden out within the retry budget,
a clear storage failure beyond it, never errors rows blamed on images.

The run is a real `bucketscore score` process. The test watches its live counts (the
worker processes write them to $BUCKETSCORE_PROGRESS_DIR, transforms/counters.py) to take the
server away at the right moment: while images are being read, or once every image is
scored and the results are being written. The server comes back on the same port with the
same data (stopped with SIGTERM, or killed with SIGKILL like a crash).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.helpers import REPO, copy_demo_subset, parse_csv, parse_predictions_csv
from tests.support.storage_servers import unique_bucket_name

BUCKETSCORE = os.path.join(os.path.dirname(sys.executable), "bucketscore")
OUTAGE_SECONDS = 15
COPIES = 6  # of the 450 demo images: 2,700 objects, ~20 s of reading on two cores


@pytest.fixture(scope="module")
def many_images(s3_server, demo_bundle, tmp_path_factory):
    """A bucket with 2,700 labelled images under in/ and the demo bundle under model/."""
    client = s3_server.boto3_client()
    bucket = unique_bucket_name("outage")
    s3_server.create_bucket(bucket)
    local = tmp_path_factory.mktemp("outage") / "imgs"
    rels = copy_demo_subset(demo_bundle.data, str(local), per_class=45)
    jobs = [(f"in/c{copy}/{rel}", local / rel) for copy in range(COPIES) for rel in rels]
    for root, _dirs, files in os.walk(demo_bundle.model):
        for name in files:
            path = os.path.join(root, name)
            jobs.append(("model/" + os.path.relpath(path, demo_bundle.model), path))
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda job: client.put_object(
                    Bucket=bucket, Key=job[0], Body=open(job[1], "rb").read()
                ),
                jobs,
            )
        )
    return {"bucket": bucket, "client": client, "n": len(rels) * COPIES}


def _counts(folder) -> dict:
    total: dict = {}
    for path in glob.glob(os.path.join(folder, "*.json")):
        try:
            with open(path) as f:
                for k, v in json.load(f).items():
                    total[k] = total.get(k, 0) + v
        except (OSError, ValueError):
            continue
    return total


def _run(s3_server, images, tmp_path, run_id, *extra):
    folder = tmp_path / f"counts-{run_id}"
    folder.mkdir(exist_ok=True)
    env = dict(os.environ, BUCKETSCORE_PROGRESS_DIR=str(folder))
    bucket = images["bucket"]
    proc = subprocess.Popen(
        [
            BUCKETSCORE,
            "score",
            "--input",
            f"s3://{bucket}/in/",
            "--model",
            f"s3://{bucket}/model",
            "--output",
            f"s3://{bucket}/out",
            "--run_id",
            run_id,
            "--no_progress",
            *extra,
            *s3_server.beam_options(),
        ],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    return proc, folder


def _wait_for(proc, folder, key, at_least, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if _counts(folder).get(key, 0) >= at_least:
            return
        time.sleep(0.05)
    out, err = proc.communicate(timeout=60) if proc.poll() is not None else ("", "")
    raise AssertionError(
        f"the run never counted {at_least} {key} (rc {proc.returncode}): {err[-2000:]}"
    )


def _outage(s3_server, seconds, kill=False):
    s3_server.stop_process(kill=kill)
    try:
        time.sleep(seconds)
    finally:
        s3_server.start_process()


def _run_files(client, bucket, run_id) -> dict:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"out/{run_id}/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {
        k.split("/", 2)[2]: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys
    }


def _check_complete(images, run_id, stderr):
    files = _run_files(images["client"], images["bucket"], run_id)
    assert "_SUCCESS" in files, stderr[-3000:]
    summary = json.loads(files["summary.json"])
    n = images["n"]
    assert summary["counts"]["listed"] == n
    assert summary["counts"]["scored"] == n and summary["counts"]["failed"] == 0
    assert parse_csv(files["errors.csv"].decode()) == []  # no image blamed for the outage
    rows = parse_predictions_csv(
        v.decode() for k, v in files.items() if k.startswith("predictions") and k.endswith(".csv")
    )
    assert len(rows) == n and len({r["uri"] for r in rows}) == n
    assert not any(k.startswith("beam-temp") for k in files)


def test_outage_while_images_are_read_is_ridden_out(s3_server, many_images, tmp_path):
    proc, folder = _run(s3_server, many_images, tmp_path, "read-outage")
    try:
        _wait_for(proc, folder, "read", 300)
        _outage(s3_server, OUTAGE_SECONDS)
        _out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    _check_complete(many_images, "read-outage", err)


def test_crash_while_results_are_written_is_ridden_out(s3_server, many_images, tmp_path):
    """SIGKILL (a crash) once every image is scored: the sinks' temporary files, their
    finalisation and the summary, report, manifest and _SUCCESS are written after it."""
    proc, folder = _run(s3_server, many_images, tmp_path, "write-outage")
    try:
        _wait_for(proc, folder, "scored", many_images["n"])
        _outage(s3_server, OUTAGE_SECONDS, kill=True)
        _out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    _check_complete(many_images, "write-outage", err)


def test_outage_beyond_the_budget_fails_saying_storage_failed(s3_server, many_images, tmp_path):
    proc, folder = _run(
        s3_server, many_images, tmp_path, "long-outage", "--storage_retry_seconds", "4"
    )
    try:
        _wait_for(proc, folder, "read", 100)
        s3_server.stop_process()
        try:
            _out, err = proc.communicate(timeout=300)
        finally:
            s3_server.start_process()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    lines = [line for line in err.strip().splitlines() if line.startswith("bucketscore")]
    cause = next(line for line in lines if "the run failed" in line)
    assert f"s3://{many_images['bucket']}" in cause and "did not answer for" in cause
    assert "storage failed" in cause and "too many errors" not in err
    assert "Signature=" not in cause  # presigned URLs are shown without their query
    # No traceback on the terminal: Beam's and the workers' messages went to the log file.
    assert "Traceback" not in err, err[-3000:]
    log = next(line for line in lines if "details:" in line).split("details:", 1)[1].strip()
    assert "Traceback" in open(log).read()
    files = _run_files(many_images["client"], many_images["bucket"], "long-outage")
    assert "_SUCCESS" not in files
    if "errors.csv" in files:  # images read before the outage may have been written
        assert all(r["stage"] != "read" for r in parse_csv(files["errors.csv"].decode()))
    # Storage is back: the same run id runs again from a clean folder, and completes.
    again, _folder = _run(s3_server, many_images, tmp_path, "long-outage")
    _out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    _check_complete(many_images, "long-outage", err)
