"""One writer per run folder, with real `bucketscore score` processes: two launches with the
same run id at once (local folder, SeaweedFS) give one run and one refusal naming it; a
SIGKILLed run's lease is taken over by the next launch, which says so and completes; the
lease is gone after a success and after a failure."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from tests.support.helpers import REPO, copy_demo_subset, write_file
from tests.support.storage_servers import unique_bucket_name

BUCKETSCORE = os.path.join(os.path.dirname(sys.executable), "bucketscore")
ONE_PROCESS = ["--direct_num_workers", "1", "--direct_running_mode", "in_memory"]


def _launch(env, *args) -> subprocess.Popen:
    # Its own process group: a SIGKILL takes its Beam workers too, as a scheduler's would.
    return subprocess.Popen(
        [BUCKETSCORE, "score", "--no_progress", *args],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def _env(tmp_path) -> dict:
    return dict(os.environ, BUCKETSCORE_CACHE_DIR=str(tmp_path / "cache"))


def _images(demo_bundle, tmp_path, per_class=1) -> str:
    images = str(tmp_path / "imgs")
    copy_demo_subset(demo_bundle.data, images, per_class=per_class)
    return images


def _one_runs_the_other_is_refused(env, args: list[str]) -> tuple[str, str]:
    """Launch twice at once; returns (the winner's stdout, the refusal line)."""
    first, second = _launch(env, *args), _launch(env, *args)
    done = {proc.pid: _finish(proc) for proc in (first, second)}
    codes = sorted(rc for rc, _out, _err in done.values())
    assert codes == [0, 2], {pid: (rc, err[-1500:]) for pid, (rc, _o, err) in done.items()}
    (winner,) = [pid for pid, (rc, _o, _e) in done.items() if rc == 0]
    (refusal,) = [err for rc, _o, err in done.values() if rc == 2]
    line = refusal.strip().splitlines()[-1]
    assert "is being written by another run" in line
    assert f"host {socket.gethostname()}, pid {winner}" in line and "since 20" in line
    return done[winner][1], line


def test_two_launches_of_one_run_id_on_a_local_folder(demo_bundle, tmp_path):
    env, out = _env(tmp_path), tmp_path / "out"
    args = ["--input", _images(demo_bundle, tmp_path), "--model", demo_bundle.model]
    args += ["--output", str(out), "--run_id", "same", *ONE_PROCESS]
    winner_out, _line = _one_runs_the_other_is_refused(env, args)
    assert "accuracy" in winner_out
    names = set(os.listdir(out / "same"))
    assert "_SUCCESS" in names and "_LEASE" not in names  # released after a success
    # A failed run (too many broken images) releases it too.
    broken = tmp_path / "broken"
    copy_demo_subset(demo_bundle.data, str(broken), per_class=1)
    for i in range(5):
        write_file(str(broken / "3" / f"bad{i}.png"), b"not a png")
    args = ["--input", str(broken), "--model", demo_bundle.model, "--output", str(out)]
    rc, _out, err = _finish(_launch(env, *args, "--run_id", "same", "--max_error_ratio", "0.1"))
    assert rc == 1 and "images failed" in err, err[-1500:]
    assert "_LEASE" not in os.listdir(out / "same")


def test_two_launches_of_one_run_id_on_seaweedfs(s3_server, demo_bundle, tmp_path):
    bucket = unique_bucket_name("lease")
    s3_server.create_bucket(bucket)
    args = ["--input", _images(demo_bundle, tmp_path), "--model", demo_bundle.model]
    args += ["--output", f"s3://{bucket}/out/", "--run_id", "same", *ONE_PROCESS]
    _one_runs_the_other_is_refused(_env(tmp_path), args + s3_server.beam_options())
    keys = [
        o["Key"]
        for o in s3_server.boto3_client().list_objects_v2(Bucket=bucket, Prefix="out/same/")[
            "Contents"
        ]
    ]
    assert "out/same/_SUCCESS" in keys and "out/same/_LEASE" not in keys


def test_a_killed_runs_lease_is_taken_over_by_the_next_launch(demo_bundle, tmp_path):
    env, out = _env(tmp_path), tmp_path / "out"
    args = ["--input", _images(demo_bundle, tmp_path), "--model", demo_bundle.model]
    args += ["--output", str(out), "--run_id", "again"]
    killed = _launch(env, *args)
    lease_file = out / "again" / "_LEASE"
    deadline = time.time() + 300
    while not lease_file.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert lease_file.exists(), killed.communicate()[1][-1500:]
    os.killpg(killed.pid, signal.SIGKILL)  # mid-run: nothing released
    killed.communicate()
    assert json.loads(lease_file.read_text())["pid"] == killed.pid
    rc, stdout, err = _finish(_launch(env, *args))
    assert rc == 0, err[-1500:]
    assert f"took over the lease of bucketscore score on host {socket.gethostname()}" in err
    assert f"process {killed.pid} is gone" in err
    assert "accuracy" in stdout
    assert not lease_file.exists() and (out / "again" / "_SUCCESS").exists()
