"""run_folder/lease.py: one writer per run folder, on the local store, the real SeaweedFS and
the GCS emulator (no mocks); and that clearing a re-used run folder keeps the lease."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from bucketscore.run_folder import layout, lease
from bucketscore.run_folder.layout import LEASE, NotARunFolder, clear_run_folder
from bucketscore.storage import conditional, uris
from tests.support.storage_servers import unique_bucket_name


def _record(**changes) -> dict:
    record = {
        "owner": "bucketscore score",
        "host": "other-host.example",
        "pid": 4242,
        "started": "2026-12-01T10:00:00+00:00",
        "renewed": "2026-12-01T10:00:00+00:00",
        "renewed_at": time.time(),
        "token": "someone-else",
    }
    record.update(changes)
    return record


def _put(run: str, record: dict) -> None:
    uris.write_bytes(layout.file_uri(run, LEASE), json.dumps(record).encode())


def _held(run: str) -> dict | None:
    found = conditional.read(layout.file_uri(run, LEASE))
    return json.loads(found[0]) if found else None


def _gone_pid() -> int:
    """The id of a process that has exited (and been reaped) on this host."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    return int(done.stdout)


@pytest.fixture
def local_run(tmp_path):
    return layout.run_uri(str(tmp_path / "out"), "r1")


@pytest.fixture
def s3_run(s3_server):
    uris.set_options(s3_server.beam_options())
    bucket = unique_bucket_name("lease")
    s3_server.create_bucket(bucket)
    return layout.run_uri(f"s3://{bucket}/out", "r1")


@pytest.fixture
def gcs_run(gcs_server):
    bucket = unique_bucket_name("lease")
    gcs_server.create_bucket(bucket)
    return layout.run_uri(f"gs://{bucket}/out", "r1")


@pytest.fixture(params=["local", "s3", "gcs"])
def run(request):
    return request.getfixturevalue(f"{request.param}_run")


def test_take_writes_owner_host_pid_and_start_and_release_removes_it(run):
    held = lease.take(run)
    found = _held(run)
    assert found["host"] == socket.gethostname() and found["pid"] == os.getpid()
    assert found["owner"] == "bucketscore score" and found["started"] == held.record["started"]
    assert held.takeover is None
    held.release()
    assert _held(run) is None


def test_a_live_lease_of_another_run_is_refused_naming_it(run):
    _put(run, _record())
    with pytest.raises(lease.LeaseHeld) as refused:
        lease.take(run)
    text = str(refused.value)
    assert "other-host.example" in text and "pid 4242" in text
    assert "since 2026-12-01T10:00:00+00:00" in text and "\n" not in text
    assert _held(run)["token"] == "someone-else"  # untouched


def test_a_stale_lease_of_another_host_is_taken_over(run):
    _put(run, _record(renewed_at=time.time() - lease.STALE_SECONDS - 5))
    held = lease.take(run)
    assert "other-host.example" in held.takeover and "not renewed for" in held.takeover
    assert _held(run)["token"] == held.record["token"]
    held.release()
    assert _held(run) is None


def test_a_fresh_lease_of_a_gone_process_on_this_host_is_taken_over_at_once(local_run):
    pid = _gone_pid()
    _put(local_run, _record(host=socket.gethostname(), pid=pid))
    held = lease.take(local_run)
    assert f"process {pid} is gone" in held.takeover
    held.release()


def test_a_fresh_lease_of_a_live_process_on_this_host_is_refused(local_run):
    _put(local_run, _record(host=socket.gethostname(), pid=os.getppid()))
    with pytest.raises(lease.LeaseHeld, match=f"pid {os.getppid()}"):
        lease.take(local_run)


def test_renewal_rewrites_the_time_and_notices_a_takeover(run, monkeypatch):
    held = lease.take(run)
    first = held.record["renewed_at"]
    held.start_renewing(every=0.05)
    deadline = time.time() + 10
    while _held(run)["renewed_at"] == first and time.time() < deadline:
        time.sleep(0.05)
    assert _held(run)["renewed_at"] > first and held.lost is None
    _put(run, _record())  # someone else's now (a takeover)
    deadline = time.time() + 10
    while held.lost is None and time.time() < deadline:
        time.sleep(0.05)
        # The GCS emulator ignores write conditions: a renewal whose read came just before
        # the takeover overwrites it there (a real store refuses that write). The other
        # launch writes again, as a launch that reads its lease back does.
        if held.lost is None and _held(run)["token"] != "someone-else":
            _put(run, _record())
    assert held.lost and "took over" in held.lost
    held.release()
    assert _held(run)["token"] == "someone-else"  # not ours: not deleted


def test_release_stops_the_renewals(local_run):
    held = lease.take(local_run)
    held.start_renewing(every=0.02)
    assert held.renewing
    held.release()
    assert not held.renewing
    assert _held(local_run) is None


@pytest.mark.parametrize("store", ["local", "s3"])
def test_concurrent_takes_get_one_lease(store, request):
    # The conditional create: launches racing for a free folder, one wins. Not on the GCS
    # emulator: it ignores ifGenerationMatch, and its answers, slow under load, can outlast
    # the read-back's pause (real GCS honours the condition).
    _race(request.getfixturevalue(f"{store}_run"))


@pytest.mark.parametrize("store", ["local", "s3"])
def test_concurrent_takeovers_of_a_stale_lease_get_one_lease(store, request):
    # The conditional replace (S3 If-Match; local: compare and rename under a folder lock).
    run = request.getfixturevalue(f"{store}_run")
    _put(run, _record(renewed_at=time.time() - lease.STALE_SECONDS - 5))
    _race(run)


def _race(run: str) -> None:
    """Six takes at once: exactly one holds the lease, five are refused."""
    barrier = threading.Barrier(6)
    won, refused = [], []

    def launch():
        barrier.wait()
        try:
            won.append(lease.take(run))
        except lease.LeaseHeld:
            refused.append(1)

    threads = [threading.Thread(target=launch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 5
    assert _held(run)["token"] == won[0].record["token"]
    names = [uris.relative_to(m.path, run) for m in uris.list_prefix(run)]
    assert names == [LEASE]  # no side file of a local replace left behind
    won[0].release()


def test_clearing_a_reused_run_folder_keeps_the_lease(run):
    held = lease.take(run)
    for name in (layout.SUCCESS, layout.SUMMARY, "predictions-00000-of-00001.csv"):
        uris.write_text(layout.file_uri(run, name), "x")
    assert clear_run_folder(run) == 3
    assert [uris.relative_to(m.path, run) for m in uris.list_prefix(run)] == [LEASE]
    held.release()


def test_a_lease_does_not_make_a_foreign_folder_a_run_folder(local_run):
    uris.write_text(layout.file_uri(local_run, "thesis.docx"), "precious")
    held = lease.take(local_run)
    with pytest.raises(NotARunFolder):
        clear_run_folder(local_run)
    held.release()
    assert os.listdir(local_run) == ["thesis.docx"]


def test_the_lease_is_not_a_result_file():
    assert not layout.looks_like_run({LEASE})
    assert not LEASE.endswith(layout.DOWNLOADED_SUFFIXES)
