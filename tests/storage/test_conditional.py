"""storage/conditional.py: create-if-absent and replace-if-unchanged on the local store and
the real SeaweedFS (which honours If-None-Match and If-Match), and what the GCS emulator
does with ifGenerationMatch (it ignores it: recorded here so a change shows)."""

from __future__ import annotations

import os

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


def test_the_gcs_emulator_ignores_if_generation_match(gcs_server):
    # Real GCS refuses these writes (412); gcp-storage-emulator accepts them. Lease code
    # therefore reads before and after it writes (run_folder/lease.py).
    bucket = unique_bucket_name("cond")
    gcs_server.create_bucket(bucket)
    uri = f"gs://{bucket}/run/_LEASE"
    conditional.create(uri, b"first")
    conditional.create(uri, b"second")  # would be Conflict on GCS
    assert conditional.read(uri)[0] == b"second"
