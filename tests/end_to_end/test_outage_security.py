"""Outages, killed runs, unreadable objects, credentials and tampered bundles.

The S3 server here is real (SeaweedFS); the outage test stops it in the middle of a run
and starts it again on the same port with the same data.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from bucketscore.cli.main import main
from tests.support.helpers import (
    REPO,
    copy_demo_subset,
    direct_probabilities,
    parse_predictions_csv,
)
from tests.support.storage_servers import LIMITED_BUCKET, unique_bucket_name

BUCKETSCORE = os.path.join(os.path.dirname(sys.executable), "bucketscore")


def _upload(client, bucket, prefix, folder):
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            key = prefix + os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, "rb") as f:
                client.put_object(Bucket=bucket, Key=key, Body=f.read())


def _keys(client, bucket, prefix):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _start(args, env=None):
    return subprocess.Popen(
        [BUCKETSCORE, "score", *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env or os.environ.copy(),
    )


def test_unreadable_objects_are_errors_rows(s3_server, demo_bundle, tmp_path):
    client = s3_server.boto3_client()
    s3_server.create_bucket(LIMITED_BUCKET)
    local = tmp_path / "imgs"
    copy_demo_subset(demo_bundle.data, str(local), per_class=1)
    _upload(client, LIMITED_BUCKET, "images/ok/", str(local / "7"))
    _upload(client, LIMITED_BUCKET, "images/locked/", str(local / "3"))
    _upload(client, LIMITED_BUCKET, "models/digits/", demo_bundle.model)
    flags = [
        f"--s3_endpoint_url={s3_server.endpoint_url}",
        f"--s3_access_key_id={s3_server.limited_access_key}",
        f"--s3_secret_access_key={s3_server.limited_secret_key}",
        f"--s3_region_name={s3_server.region}",
    ]
    status = main(
        [
            "score",
            "--input",
            f"s3://{LIMITED_BUCKET}/images/",
            "--labels",
            "none",
            "--model",
            f"s3://{LIMITED_BUCKET}/models/digits",
            "--output",
            f"s3://{LIMITED_BUCKET}/results/",
            "--run_id",
            "perm",
            "--max_error_ratio",
            "0.5",
            *flags,
        ]
    )
    assert status == 0
    errors = (
        client.get_object(Bucket=LIMITED_BUCKET, Key="results/perm/errors.csv")["Body"]
        .read()
        .decode()
    )
    lines = errors.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"s3://{LIMITED_BUCKET}/images/locked/")
    assert ",read," in lines[1] and "permission denied" in lines[1]
    summary = json.loads(
        client.get_object(Bucket=LIMITED_BUCKET, Key="results/perm/summary.json")["Body"].read()
    )
    assert (
        summary["counts"]["listed"],
        summary["counts"]["scored"],
        summary["counts"]["failed"],
    ) == (2, 1, 1)


def test_store_outage_mid_run(s3_server, demo_bundle, tmp_path):
    """Stop the S3 server during a run and start it again: the run completes correctly, or
    fails with a clear message and no _SUCCESS. Never a result that looks complete but isn't."""
    client = s3_server.boto3_client()
    bucket = unique_bucket_name("outage")
    s3_server.create_bucket(bucket)
    local = tmp_path / "imgs"
    copy_demo_subset(demo_bundle.data, str(local), per_class=12)
    _upload(client, bucket, "in/", str(local))
    _upload(client, bucket, "model/", demo_bundle.model)
    proc = _start(
        [
            "--input",
            f"s3://{bucket}/in/",
            "--model",
            f"s3://{bucket}/model",
            "--output",
            f"s3://{bucket}/out",
            "--run_id",
            "o",
            *s3_server.beam_options(),
        ]
    )
    try:
        # Let it start listing and reading, then take the store away for a few seconds.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (
                any(k.startswith("out/") for k in _keys(client, bucket, "out/"))
                or time.monotonic() > deadline - 110
            ):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before the outage could start"
        s3_server.stop_process()
        time.sleep(3)
        s3_server.start_process()
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        if not s3_server.is_running():
            s3_server.start_process()
    keys = _keys(client, bucket, "out/o/")
    if proc.returncode == 0:
        summary = json.loads(
            client.get_object(Bucket=bucket, Key="out/o/summary.json")["Body"].read()
        )
        assert summary["counts"]["listed"] == 120
        assert summary["counts"]["scored"] + summary["counts"]["failed"] == 120
        assert "out/o/_SUCCESS" in keys
        rows = parse_predictions_csv(
            client.get_object(Bucket=bucket, Key=k)["Body"].read().decode()
            for k in keys
            if k.startswith("out/o/predictions") and k.endswith(".csv")
        )
        assert len(rows) == summary["counts"]["scored"]
        files = {r["uri"]: (local / r["uri"].split("/in/", 1)[1]).read_bytes() for r in rows}
        expected = direct_probabilities(demo_bundle.model, files)
        labels = demo_bundle.meta.labels
        for r in rows:
            assert r["predicted_label"] == labels[int(np.argmax(expected[r["uri"]]))]
    else:
        assert proc.returncode == 1, stderr
        assert "the run failed" in stderr and "no _SUCCESS" in stderr
        assert "out/o/_SUCCESS" not in keys


def test_killed_run_leaves_no_success_and_rerun_replaces_it(demo_bundle, tmp_path):
    out = tmp_path / "out"
    proc = _start(
        [
            "--input",
            demo_bundle.data,
            "--model",
            demo_bundle.model,
            "--output",
            str(out),
            "--run_id",
            "k",
        ]
    )
    try:
        while proc.poll() is None and not (out / "k").exists():
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (out / "k" / "_SUCCESS").exists()
    # A re-run with the same id starts from a clean folder and completes.
    assert (
        main(
            [
                "score",
                "--input",
                demo_bundle.data,
                "--model",
                demo_bundle.model,
                "--output",
                str(out),
                "--run_id",
                "k",
            ]
        )
        == 0
    )
    assert (out / "k" / "_SUCCESS").exists()
    assert not any("beam-temp" in n for n in os.listdir(out / "k"))


def test_credentials_never_appear_in_outputs_or_messages(s3_server, demo_bundle, tmp_path, capsys):
    client = s3_server.boto3_client()
    bucket = unique_bucket_name("secrets")
    s3_server.create_bucket(bucket)
    local = tmp_path / "imgs"
    copy_demo_subset(demo_bundle.data, str(local), per_class=1)
    (local / "5" / "broken.png").write_bytes(b"broken")
    _upload(client, bucket, "in/", str(local))
    _upload(client, bucket, "model/", demo_bundle.model)
    secrets = [s3_server.secret_key, s3_server.access_key]
    assert (
        main(
            [
                "-v",
                "score",
                "--input",
                f"s3://{bucket}/in/",
                "--model",
                f"s3://{bucket}/model",
                "--output",
                f"s3://{bucket}/out",
                "--run_id",
                "s",
                "--max_error_ratio",
                "0.5",
                *s3_server.beam_options(),
            ]
        )
        == 0
    )
    # A failing run too: wrong secret, so every request is refused.
    wrong = [
        f
        if not f.startswith("--s3_secret_access_key")
        else "--s3_secret_access_key=wrong-secret-value-123"
        for f in s3_server.beam_options()
    ]
    assert (
        main(
            [
                "score",
                "--input",
                f"s3://{bucket}/in/",
                "--model",
                f"s3://{bucket}/model",
                "--output",
                f"s3://{bucket}/out",
                "--run_id",
                "s2",
                *wrong,
            ]
        )
        != 0
    )
    printed = capsys.readouterr()
    everything = printed.out + printed.err
    for key in _keys(client, bucket, "out/"):
        everything += (
            client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace")
        )
    assert "out/s/manifest.json" in _keys(client, bucket, "out/")
    for secret in secrets + ["wrong-secret-value-123"]:
        assert secret not in everything
    assert "***" in everything  # the manifest shows that a secret was given, not its value


def test_tampered_bundle_is_refused(demo_bundle, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    shutil.copytree(demo_bundle.model, bundle)
    variables = bundle / "saved_model" / "variables"
    target = next(p for p in variables.iterdir() if p.name.startswith("variables.data"))
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    images = tmp_path / "imgs"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    out = tmp_path / "out"
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                str(bundle),
                "--output",
                str(out),
                "--run_id",
                "t",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "does not match its digest" in err and "refusing to load it" in err
    assert not (out / "t" / "_SUCCESS").exists()
