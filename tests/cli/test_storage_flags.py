"""cli.storage_flags: the flags a command takes beyond its own (Beam's storage options) are
accepted, any other refused by name; apply() hands them to the filesystems; check_paths
refuses unknown flags before it checks the paths."""

from __future__ import annotations

import pytest

from bucketscore.cli.storage_flags import apply, check_paths, refuse_unknown
from bucketscore.errors import UsageError
from bucketscore.storage import uris
from bucketscore.storage.preflight import Target
from tests.support.storage_servers import unique_bucket_name


def test_refuse_unknown_names_every_unknown_flag():
    refuse_unknown([])
    refuse_unknown(
        ["--s3_endpoint_url", "http://127.0.0.1:1", "--project=p", "--s3_region_name", "r"]
    )
    # Beam knows --region (Dataflow's), but it is no storage option: these commands refuse it.
    with pytest.raises(UsageError, match="unknown option.*--region"):
        refuse_unknown(["--project", "p", "--region", "r"])
    with pytest.raises(UsageError) as e:
        refuse_unknown(["--project", "p", "--bogus", "1", "--also_bogus=2"])
    assert str(e.value) == "unknown option(s): --bogus --also_bogus=2"


def test_apply_hands_the_storage_options_to_the_filesystems(s3_server):
    bucket = s3_server.create_bucket(unique_bucket_name("storage-flags"))
    uri = f"s3://{bucket}/written.txt"
    flags = s3_server.beam_options()
    wrong = [
        f"--s3_secret_access_key={'x' * 40}" if f.startswith("--s3_secret") else f for f in flags
    ]
    assert wrong != flags
    apply(wrong)
    with pytest.raises(Exception, match="SignatureDoesNotMatch|403"):
        uris.write_text(uri, "first")
    apply(flags)
    uris.write_text(uri, "second")
    body = s3_server.boto3_client().get_object(Bucket=bucket, Key="written.txt")["Body"]
    assert body.read() == b"second"
    with pytest.raises(UsageError, match="--bogus"):
        apply(flags + ["--bogus"])


def test_check_paths_refuses_unknown_flags_first_then_checks_paths(tmp_path):
    missing = Target("RUN_URI", str(tmp_path / "missing"), must_exist=True)
    with pytest.raises(UsageError, match="^unknown option\\(s\\): --bogus$"):
        check_paths([missing], ["--bogus"])
    with pytest.raises(UsageError, match=f"^RUN_URI {tmp_path}/missing: no such file or folder$"):
        check_paths([missing], [])
    with pytest.raises(UsageError, match="^--output http://x/: not a local path"):
        check_paths([Target("--output", "http://x/")], [])
    check_paths([Target("RUN_URI", str(tmp_path), must_exist=True)], [])
