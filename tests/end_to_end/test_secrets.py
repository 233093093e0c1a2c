"""Secrets never echoed: `make` targets that take ARGS never print secret flag values (make
echoes recipes), and the standard AWS_* variables the README recommends work.

Checked on make's own output (stdout and stderr together) for a real run against SeaweedFS
whose S3 keys are given in ARGS, a download with the keys in AWS_* variables only, and a
run refused at once for a wrong secret.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.helpers import REPO, copy_demo_subset
from tests.support.storage_servers import unique_bucket_name

pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(REPO, ".venv", "bin", "bucketscore")),
    reason="make targets need the repo's .venv (make setup)",
)


def _make(*args, env=None) -> tuple[int, str]:
    done = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO,
        text=True,
        capture_output=True,
        timeout=600,
        env=env,
    )
    return done.returncode, done.stdout + done.stderr


def _s3_args(server, secret: str) -> str:
    return (
        f"--s3_endpoint_url {server.endpoint_url} --s3_access_key_id {server.access_key} "
        f"--s3_secret_access_key {secret} --s3_region_name {server.region}"
    )


def test_make_score_and_download_never_print_the_keys(s3_server, demo_bundle, tmp_path):
    client = s3_server.boto3_client()
    bucket = s3_server.create_bucket(unique_bucket_name("make-secret"))
    local = tmp_path / "imgs"
    for rel in copy_demo_subset(demo_bundle.data, str(local), per_class=1):
        client.put_object(Bucket=bucket, Key=f"in/{rel}", Body=(local / rel).read_bytes())
    keys = (s3_server.secret_key, s3_server.access_key)

    status, said = _make(
        "score",
        f"BUCKET=s3://{bucket}/in/",
        f"MODEL={demo_bundle.model}",
        f"OUTPUT=s3://{bucket}/out/",
        f"ARGS=--run_id m1 --no_progress {_s3_args(s3_server, keys[0])}",
    )
    assert status == 0, said
    assert "scored: 10" in said  # the real command got the keys
    client.head_object(Bucket=bucket, Key="out/m1/_SUCCESS")
    assert f"bucketscore score --input s3://{bucket}/in/" in said  # make's echo, redacted:
    assert "--s3_secret_access_key '***'" in said and "--s3_access_key_id '***'" in said
    for key in keys:
        assert key not in said

    # The README's way: keys (and a non-AWS endpoint) in the standard variables, no flags.
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=keys[1],
        AWS_SECRET_ACCESS_KEY=keys[0],
        AWS_ENDPOINT_URL_S3=s3_server.endpoint_url,
        AWS_DEFAULT_REGION=s3_server.region,
    )
    status, said = _make(
        "download", f"RUN=s3://{bucket}/out/m1/", f"DOWNLOAD_DIR={tmp_path / 'dl'}", env=env
    )
    assert status == 0, said
    assert (tmp_path / "dl" / "m1" / "summary.json").exists()
    assert f"bucketscore download s3://{bucket}/out/m1/" in said
    for key in keys:
        assert key not in said


def test_make_score_refused_for_a_wrong_secret_prints_no_secret(s3_server, tmp_path):
    bucket = s3_server.create_bucket(unique_bucket_name("make-wrong"))
    s3_server.boto3_client().put_object(Bucket=bucket, Key="in/a.png", Body=b"png")
    wrong = "SECRETVALUE-wrong-123"
    status, said = _make(
        "score",
        f"BUCKET=s3://{bucket}/in/",
        f"MODEL={tmp_path / 'm'}",
        f"OUTPUT={tmp_path / 'out'}",
        f"ARGS={_s3_args(s3_server, wrong)}",
    )
    assert status != 0
    assert "wrong secret key (SignatureDoesNotMatch)" in said
    assert "--s3_secret_access_key '***'" in said
    assert wrong not in said and s3_server.access_key not in said
    assert not (tmp_path / "out").exists()
