"""Preflight: bad paths and unusable buckets are refused in seconds, before anything runs.

Every failure goes through the real command line (`bucketscore` in a subprocess) against
the real servers the fixtures start (SeaweedFS, the GCS emulator): exit 2, one line on
stderr naming the path, the bucket and the cause, no traceback, nothing written. How long
each took is printed (`pytest -s`), never asserted. The checks themselves, called directly
(storage.preflight), are in tests/storage/test_preflight.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.support.helpers import REPO
from tests.support.storage_servers import LIMITED_BUCKET, free_ports, unique_bucket_name

BUCKETSCORE = os.path.join(os.path.dirname(sys.executable), "bucketscore")
FORMS = "use a local path, s3://bucket/prefix or gs://bucket/prefix"


def _cli(*args, env=None) -> subprocess.CompletedProcess:
    """Run `bucketscore ARGS`; the time it took is printed for the report."""
    started = time.monotonic()
    done = subprocess.run(
        [BUCKETSCORE, *args],
        cwd=REPO,
        text=True,
        capture_output=True,
        timeout=300,
        env=env or os.environ.copy(),
    )
    print(
        f"preflight: bucketscore {args[0]} ... -> exit {done.returncode} in "
        f"{time.monotonic() - started:.1f} s: {done.stderr.strip()[:160]}"
    )
    return done


def _refused(done: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 2 with exactly one stderr line holding every word, and no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _keys(client, bucket: str, prefix: str = "") -> list[str]:
    answer = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in answer.get("Contents", []))


def _s3_flags(server, key=None, secret=None, endpoint=None) -> list[str]:
    return [
        f"--s3_endpoint_url={endpoint or server.endpoint_url}",
        f"--s3_access_key_id={key or server.access_key}",
        f"--s3_secret_access_key={secret or server.secret_key}",
        f"--s3_region_name={server.region}",
    ]


@pytest.fixture(scope="module")
def filled_bucket(s3_server):
    """A bucket with one image under in/ and a model folder; nothing under out/."""
    bucket = s3_server.create_bucket(unique_bucket_name("preflight"))
    client = s3_server.boto3_client()
    client.put_object(Bucket=bucket, Key="in/7/a.png", Body=b"not really a png")
    client.put_object(Bucket=bucket, Key="model/model.json", Body=b"{}")
    return bucket


def _score_args(bucket: str, **where) -> list[str]:
    return [
        "score",
        "--input",
        where.get("input", f"s3://{bucket}/in/"),
        "--model",
        where.get("model", f"s3://{bucket}/model"),
        "--output",
        where.get("output", f"s3://{bucket}/out/"),
        "--run_id",
        "pf",
    ]


# --------------------------------------------------------------------------------------
# Forms and local paths
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flag,bad,hint",
    [
        ("--input", "s3:/typo/x/", "did you mean s3://typo/x/?"),
        ("--input", "ftp://host/x/", ""),
        ("--input", "http://example.com/images/", ""),
        ("--input", "S3://b/x/", "did you mean s3://b/x/?"),
        ("--output", "gs:/b/results/", "did you mean gs://b/results/?"),
        ("--model", "s3:///no-bucket/m", "no bucket name"),
    ],
)
def test_paths_in_no_accepted_form_are_refused(flag, bad, hint, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    where = {
        "--input": str(images),
        "--output": str(tmp_path / "out"),
        "--model": str(tmp_path / "model"),
        flag: bad,
    }
    done = _cli(
        "score",
        "--input",
        where["--input"],
        "--output",
        where["--output"],
        "--model",
        where["--model"],
    )
    _refused(done, f"{flag} {bad}:", hint, "s3://bucket/prefix or gs://bucket/prefix")
    assert not (tmp_path / "out").exists()
    assert done.stdout == ""  # refused before the run is even announced


@pytest.mark.parametrize(
    "argv",
    [
        ["runs", "--output", "s3:/r/"],
        ["compare", "results/a", "ftp://h/b/"],
        ["download", "http://h/run/", "dl"],
        [
            "export",
            "--keras",
            "S3://m/net.keras",
            "--labels",
            "l.txt",
            "--scale",
            "1/255",
            "--out",
            "o",
        ],
        ["train", "--data", "gs:/images/", "--out", "o"],
        ["tune", "--data", "images/", "--out", "file:///models/o"],
    ],
)
def test_every_command_refuses_paths_in_no_accepted_form(argv):
    _refused(_cli(*argv), FORMS)


def test_a_missing_local_input_is_refused_and_leaves_no_run_folder(tmp_path):
    out = tmp_path / "out"
    done = _cli(
        "score",
        "--input",
        str(tmp_path / "nonexistent") + "/",
        "--model",
        str(tmp_path / "model"),
        "--output",
        str(out),
    )
    _refused(done, f"--input {tmp_path / 'nonexistent'}/: no such file or folder")
    assert not out.exists()
    done = _cli("train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "m"))
    _refused(done, f"--data {tmp_path / 'nope'}: no such file or folder")
    done = _cli(
        "export",
        "--keras",
        str(tmp_path / "net.keras"),
        "--labels",
        str(tmp_path / "labels.txt"),
        "--scale",
        "1/255",
        "--out",
        str(tmp_path / "b"),
    )
    _refused(done, f"--keras {tmp_path / 'net.keras'}: no such file or folder")


# --------------------------------------------------------------------------------------
# S3 (SeaweedFS): each failure mode, through the command line
# --------------------------------------------------------------------------------------
def test_wrong_secret_key(s3_server, filled_bucket):
    wrong = "wrong-secret-value-123"
    done = _cli(*_score_args(filled_bucket), *_s3_flags(s3_server, secret=wrong))
    line = _refused(
        done,
        f"--input s3://{filled_bucket}/in/",
        f"bucket {filled_bucket}",
        "wrong secret key",
        "SignatureDoesNotMatch",
        "--s3_secret_access_key",
    )
    assert wrong not in done.stdout + done.stderr and s3_server.secret_key not in line
    assert _keys(s3_server.boto3_client(), filled_bucket, "out/") == []


def test_unknown_access_key(s3_server, filled_bucket):
    done = _cli(*_score_args(filled_bucket), *_s3_flags(s3_server, key="no-such-key-id"))
    _refused(done, f"bucket {filled_bucket}", "unknown access key id", "InvalidAccessKeyId")


def test_no_credentials_at_all(s3_server, filled_bucket, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    done = _cli(*_score_args(filled_bucket), f"--s3_endpoint_url={s3_server.endpoint_url}", env=env)
    _refused(done, f"bucket {filled_bucket}", "no AWS credentials found", "AWS_ACCESS_KEY_ID")


def test_missing_bucket(s3_server, filled_bucket):
    missing = unique_bucket_name("not-there")
    done = _cli(*_score_args(filled_bucket, input=f"s3://{missing}/in/"), *_s3_flags(s3_server))
    _refused(done, f"--input s3://{missing}/in/: bucket {missing}: no such bucket", "NoSuchBucket")
    assert _keys(s3_server.boto3_client(), filled_bucket, "out/") == []


def test_access_denied(s3_server):
    """The limited identity may list LIMITED_BUCKET (input and model pass) but not another
    bucket: the output there is refused, naming that bucket."""
    client = s3_server.boto3_client()
    s3_server.create_bucket(LIMITED_BUCKET)
    client.put_object(Bucket=LIMITED_BUCKET, Key="images/ok/7/a.png", Body=b"png")
    client.put_object(Bucket=LIMITED_BUCKET, Key="models/digits/model.json", Body=b"{}")
    other = s3_server.create_bucket(unique_bucket_name("others"))
    done = _cli(
        "score",
        "--input",
        f"s3://{LIMITED_BUCKET}/images/",
        "--model",
        f"s3://{LIMITED_BUCKET}/models/digits",
        "--output",
        f"s3://{other}/out/",
        *_s3_flags(
            s3_server, key=s3_server.limited_access_key, secret=s3_server.limited_secret_key
        ),
    )
    _refused(done, f"--output s3://{other}/out/: bucket {other}: access denied", "AccessDenied")
    assert _keys(client, other) == []


def test_endpoint_where_nothing_listens(s3_server, filled_bucket):
    port = free_ports(1)[0]
    done = _cli(
        *_score_args(filled_bucket), *_s3_flags(s3_server, endpoint=f"http://127.0.0.1:{port}")
    )
    _refused(
        done,
        f"bucket {filled_bucket}",
        f"endpoint http://127.0.0.1:{port} unreachable",
        "Connection refused",
    )


def test_an_empty_input_prefix_is_refused(s3_server, filled_bucket):
    done = _cli(
        *_score_args(filled_bucket, input=f"s3://{filled_bucket}/empty/"), *_s3_flags(s3_server)
    )
    _refused(done, f"--input s3://{filled_bucket}/empty/: nothing there", "--allow_empty")


@pytest.mark.parametrize("command", ["runs", "compare", "download", "export", "train", "tune"])
def test_every_command_checks_its_buckets(command, s3_server, filled_bucket, tmp_path):
    b = filled_bucket
    argv = {
        "runs": ["runs", "--output", f"s3://{b}/out/"],
        "compare": ["compare", f"s3://{b}/out/a/", f"s3://{b}/out/b/"],
        "download": ["download", f"s3://{b}/out/a/", str(tmp_path / "dl")],
        "export": [
            "export",
            "--keras",
            f"s3://{b}/model/net.keras",
            "--labels",
            f"s3://{b}/model/labels.txt",
            "--scale",
            "1/255",
            "--out",
            f"s3://{b}/bundle",
        ],
        "train": ["train", "--data", f"s3://{b}/in/", "--out", f"s3://{b}/trained"],
        "tune": ["tune", "--data", f"s3://{b}/in/", "--out", f"s3://{b}/tuned"],
    }[command]
    done = _cli(*argv, *_s3_flags(s3_server, secret="wrong-secret-value-123"))
    _refused(done, f"bucket {b}: wrong secret key", "SignatureDoesNotMatch")
    if command == "export":  # with the right key: the object itself must be there
        done = _cli(*argv, *_s3_flags(s3_server))
        _refused(done, f"--keras s3://{b}/model/net.keras: no such object in bucket {b}")
    assert not (tmp_path / "dl").exists()


# --------------------------------------------------------------------------------------
# GCS (the emulator)
# --------------------------------------------------------------------------------------
def test_missing_gcs_bucket(gcs_server, tmp_path):
    missing = unique_bucket_name("gone")
    done = _cli(
        "score",
        "--input",
        f"gs://{missing}/in/",
        "--model",
        str(tmp_path / "m"),
        "--output",
        str(tmp_path / "out"),
    )
    _refused(done, f"--input gs://{missing}/in/: bucket {missing}: no such bucket")
    assert not (tmp_path / "out").exists()
    done = _cli("runs", "--output", f"gs://{missing}/results/")
    _refused(done, f"bucket {missing}: no such bucket")
