"""storage/conditional.py: create-if-absent and replace-if-unchanged on the local store and
the real SeaweedFS (which honours If-None-Match and If-Match), and what the GCS emulator
does with ifGenerationMatch (it ignores it: recorded here so a change shows)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from bucketscore.storage import conditional, uris
from tests.support.storage_servers import unique_bucket_name


@pytest.fixture(params=["local", "s3"])
def lease_uri(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "run" / "_LEASE")
    server = request.getfixturevalue("s3_server")
    uris.set_options(server.beam_options())
    bucket = unique_bucket_name("cond")
    server.create_bucket(bucket)
    return f"s3://{bucket}/run/_LEASE"


def test_create_only_if_absent(lease_uri):
    assert conditional.read(lease_uri) is None
    conditional.create(lease_uri, b"first")
    with pytest.raises(conditional.Conflict):
        conditional.create(lease_uri, b"second")
    assert conditional.read(lease_uri)[0] == b"first"


def test_replace_only_if_unchanged(lease_uri):
    conditional.create(lease_uri, b"first")
    _data, version = conditional.read(lease_uri)
    newer = conditional.replace(lease_uri, b"second", version)
    with pytest.raises(conditional.Conflict):  # `version` is no longer current
        conditional.replace(lease_uri, b"third", version)
    assert conditional.read(lease_uri)[0] == b"second"
    conditional.replace(lease_uri, b"fourth", newer)
    assert conditional.read(lease_uri)[0] == b"fourth"


def test_replace_of_a_deleted_object_conflicts_and_delete_is_idempotent(lease_uri):
    version = conditional.create(lease_uri, b"first")
    conditional.delete(lease_uri)
    conditional.delete(lease_uri)
    with pytest.raises(conditional.Conflict):
        conditional.replace(lease_uri, b"second", version)
    assert conditional.read(lease_uri) is None


def test_local_replace_leaves_no_side_files(tmp_path):
    path = str(tmp_path / "_LEASE")
    version = conditional.create(path, b"first")
    conditional.replace(path, b"second", version)
    with pytest.raises(conditional.Conflict):
        conditional.replace(path, b"third", version)
    assert os.listdir(tmp_path) == ["_LEASE"]


def test_a_local_reader_never_sees_the_object_missing_while_it_is_replaced(tmp_path):
    # A launch reading the lease while a run renews it must see the lease (else it would
    # take a live run's folder): the bytes reach the name by one atomic rename.
    path = str(tmp_path / "_LEASE")
    version = conditional.create(path, b"0")
    stop = threading.Event()
    seen = {"reads": 0, "missing": 0}

    def keep_reading():
        while not stop.is_set():
            seen["reads"] += 1
            if conditional.read(path) is None:
                seen["missing"] += 1

    reader = threading.Thread(target=keep_reading)
    reader.start()
    try:
        for i in range(1, 2000):
            version = conditional.replace(path, str(i).encode(), version)
    finally:
        stop.set()
        reader.join()
    assert seen["reads"] > 100 and seen["missing"] == 0
    assert conditional.read(path)[0] == b"1999"


def test_local_create_and_replace_race_across_processes_one_wins(tmp_path):
    # The folder lock serialises check-then-write between processes: eight processes each
    # replace from the version they all read; exactly one succeeds.
    path = str(tmp_path / "_LEASE")
    conditional.create(path, b"start")
    script = (
        "import sys, time\n"
        "from bucketscore.storage import conditional\n"
        "path, me, at = sys.argv[1], sys.argv[2], float(sys.argv[3])\n"
        "time.sleep(max(0.0, at - time.time()))\n"
        "try:\n"
        "    conditional.replace(path, me.encode(), b'start')\n"
        "    print('won')\n"
        "except conditional.Conflict:\n"
        "    print('conflict')\n"
    )
    at = str(time.time() + 3)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", script, path, f"p{i}", at], stdout=subprocess.PIPE, text=True
        )
        for i in range(8)
    ]
    outcomes = [r.communicate(timeout=60)[0].strip() for r in racers]
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    winner = conditional.read(path)[0].decode()
    assert winner.startswith("p") and sorted(os.listdir(tmp_path)) == ["_LEASE"]


def test_the_gcs_emulator_ignores_if_generation_match(gcs_server):
    # Real GCS refuses these writes (412); gcp-storage-emulator accepts them. Lease code
    # therefore reads before and after it writes (run_folder/lease.py).
    bucket = unique_bucket_name("cond")
    gcs_server.create_bucket(bucket)
    uri = f"gs://{bucket}/run/_LEASE"
    conditional.create(uri, b"first")
    conditional.create(uri, b"second")  # would be Conflict on GCS
    assert conditional.read(uri)[0] == b"second"
