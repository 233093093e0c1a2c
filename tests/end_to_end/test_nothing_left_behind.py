"""Runs leave nothing behind: no bundle copies or other files in TMPDIR, no temporary folders
of Beam's sinks in a failed run's folder; fetched bundles and logs live in the bounded cache.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.helpers import REPO, copy_demo_subset, write_file
from tests.support.storage_servers import unique_bucket_name

BUCKETSCORE = os.path.join(os.path.dirname(sys.executable), "bucketscore")


def _score(env, *args):
    return subprocess.run(
        [BUCKETSCORE, "score", "--no_progress", *args],
        cwd=REPO,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )


def test_local_and_s3_runs_leave_nothing_in_tmpdir(s3_server, demo_bundle, tmp_path):
    tmpdir, cache = tmp_path / "tmpdir", tmp_path / "cache"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir), BUCKETSCORE_CACHE_DIR=str(cache))
    images = tmp_path / "imgs"
    copy_demo_subset(demo_bundle.data, str(images), per_class=2)
    # Local, twice (a re-used run id), in worker processes and in one process.
    out = tmp_path / "out"
    for extra in ([], ["--direct_num_workers", "1", "--direct_running_mode", "in_memory"]):
        done = _score(
            env,
            "--input",
            str(images),
            "--model",
            demo_bundle.model,
            "--output",
            str(out),
            "--run_id",
            "local",
            *extra,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    # A failed run: too many broken images.
    broken = tmp_path / "broken"
    copy_demo_subset(demo_bundle.data, str(broken), per_class=1)
    for i in range(5):
        write_file(str(broken / "3" / f"bad{i}.png"), b"not a png")
    failed = _score(
        env,
        "--input",
        str(broken),
        "--model",
        demo_bundle.model,
        "--output",
        str(out),
        "--run_id",
        "failed",
        "--max_error_ratio",
        "0.1",
    )
    assert failed.returncode == 1 and "images failed" in failed.stderr
    assert not [n for n in os.listdir(out / "failed") if n.startswith("beam-temp")]
    # S3: images, model and results in a bucket (the bundle is fetched into the cache).
    client = s3_server.boto3_client()
    bucket = unique_bucket_name("tmpdir")
    s3_server.create_bucket(bucket)
    for folder, prefix in ((images, "in/"), (demo_bundle.model, "model/")):
        for root, _dirs, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                client.put_object(
                    Bucket=bucket,
                    Key=prefix + os.path.relpath(path, folder),
                    Body=open(path, "rb").read(),
                )
    for run_id in ("s3a", "s3b"):
        done = _score(
            env,
            "--input",
            f"s3://{bucket}/in/",
            "--model",
            f"s3://{bucket}/model",
            "--output",
            f"s3://{bucket}/out/",
            "--run_id",
            run_id,
            *s3_server.beam_options(),
        )
        assert done.returncode == 0, done.stderr[-2000:]
    assert os.listdir(tmpdir) == []
    # One cached copy of the S3 bundle, shared by the launcher, the workers and both runs.
    bundles = [n for n in os.listdir(cache / "bundles") if not n.startswith(".")]
    assert bundles == [demo_bundle.meta.version]
    assert {"local.log", "failed.log", "s3a.log", "s3b.log"} <= set(os.listdir(cache / "logs"))
