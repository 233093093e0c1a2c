"""cli.run_log: capture() sends file descriptor 2 (what worker processes and C++ libraries
write) and the logging that writes there to the run's log file, while the command's own
sys.stderr still reaches the terminal; with -v nothing is redirected; the newest KEEP_LOGS
logs are kept."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from bucketscore.cli.run_log import KEEP_LOGS, capture, log_folder


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BUCKETSCORE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_fd2_child_processes_and_logging_go_to_the_log_file(cache, capfd, monkeypatch):
    # A stream on file descriptor 2, as sys.stderr is outside pytest (and Beam's handlers).
    fd2 = open(2, "w", buffering=1, closefd=False)
    monkeypatch.setattr(sys, "stderr", fd2)
    logger = logging.getLogger("tests.run_log")
    handler = logging.StreamHandler(open(2, "w", buffering=1, closefd=False))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with capture("run-1") as log:
            os.write(2, b"written to fd 2\n")
            subprocess.run(
                [sys.executable, "-c", "import sys; sys.stderr.write('a worker process\\n')"],
                check=True,
            )
            logger.warning("a log record")
            print("the command's own line", file=sys.stderr)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert log.path == str(cache / "logs" / "run-1.log") == os.path.join(log_folder(), "run-1.log")
    with open(log.path) as f:
        logged = f.read()
    assert logged == "written to fd 2\na worker process\na log record\n"
    assert log.tail(2) == "a worker process\na log record\n"
    terminal = capfd.readouterr().err
    assert terminal == "the command's own line\n"
    assert sys.stderr is fd2  # put back
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"  # fd 2 is the terminal again


def test_verbose_redirects_nothing(cache, capfd):
    with capture("run-2", enabled=False) as log:
        os.write(2, b"on the terminal\n")
    assert log.path is None and log.tail() == ""
    assert capfd.readouterr().err == "on the terminal\n"
    assert not (cache / "logs" / "run-2.log").exists()


def test_a_template_build_without_run_id_logs_as_run(cache):
    with capture("") as log:
        pass
    assert os.path.basename(log.path) == "run.log"


def test_the_newest_logs_are_kept(cache):
    folder = cache / "logs"
    folder.mkdir(parents=True)
    for i in range(KEEP_LOGS + 10):  # old-0 is the oldest
        path = folder / f"old-{i}.log"
        path.write_text("x\n")
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    with capture("new"):
        pass
    kept = sorted(os.listdir(folder))
    assert len(kept) == KEEP_LOGS
    # the new log and the KEEP_LOGS - 1 newest old ones
    expected = {"new.log"} | {f"old-{i}.log" for i in range(11, KEEP_LOGS + 10)}
    assert set(kept) == expected
