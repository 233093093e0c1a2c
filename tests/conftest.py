"""Shared pytest fixtures for the bucketscore test suite.

Object storage (real local servers, no mocks; helpers in ``tests/support/storage_servers.py``):

* ``s3_server``  -- SeaweedFS ``weed mini`` S3 endpoint (session scope). Use
  ``s3_server.beam_options()`` as Beam pipeline flags, ``s3_server.boto3_client()``
  for direct access, ``s3_server.stop_process()/start_process()`` to take it away and
  bring it back on the same port with the same data.
* ``gcs_server`` -- gcp-storage-emulator (session scope). While the fixture is active,
  ``os.environ`` holds ``gcs_server.env()`` (STORAGE_EMULATOR_HOST, fake credentials,
  ...) so in-process Beam code and any subprocess reach the emulator; the previous
  environment is restored at the end of the session. ``gcs_server.client()`` gives a
  google.cloud.storage Client.

Servers start lazily (only for sessions whose tests request them) and write their logs
under the pytest temp dir (``<basetemp>/seaweedfs*/seaweedfs.log``,
``<basetemp>/gcs*/gcs-emulator.log``), never to stdout.

Beam's portable runner (``tests/support/runners.py``): ``portable_runner`` -- a job service and an
external SDK worker pool (session scope); ``portable_runner.flags()`` runs a pipeline there.

Bucket names: 3-63 chars of lowercase letters, digits and '-'; use
``tests.support.storage_servers.unique_bucket_name()`` for a fresh one per test.
"""

from __future__ import annotations

import pytest

from tests.support.storage_servers import GCSServer, S3Server, start_gcs_emulator, start_seaweedfs

# Model fixtures (the demo bundle, trained once per session).
pytest_plugins = ["tests.support.models"]


# --------------------------------------------------------------------------------------
# Object storage
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> S3Server:
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory) -> GCSServer:
    server = start_gcs_emulator(tmp_path_factory.mktemp("gcs"))
    with pytest.MonkeyPatch.context() as mp:
        for name, value in server.env().items():
            mp.setenv(name, value)
        try:
            yield server
        finally:
            server.stop()


# --------------------------------------------------------------------------------------
# Beam's portable runner
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def portable_runner(tmp_path_factory):
    """Beam's job service and an external SDK worker pool (tests/support/runners.py), session
    scope; `portable_runner.flags()` are the Beam flags of a run on them (2 workers)."""
    from tests.support.runners import start_portable_runner

    runner = start_portable_runner(tmp_path_factory.mktemp("portable"))
    try:
        yield runner
    finally:
        runner.stop()
