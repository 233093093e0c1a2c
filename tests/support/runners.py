"""Beam's portable runner for the test suite: a job service and an external worker pool.

:func:`start_portable_runner` starts, as separate processes,

* Beam's job service (Beam's LocalJobServicer, as
  ``python -m apache_beam.runners.portability.local_job_service_main`` runs it, but with
  jobs that honour ``--direct_num_workers``: tests/support/job_service.py), which runs each
  submitted job with its own FnApiRunner, and
* an external SDK worker pool (``python -m apache_beam.runners.worker.worker_pool_main``),
  which starts one SDK worker process per worker the job service asks for
  (``--direct_num_workers``), through tests/support/sdk_boot.py as its container executable (what
  the SDK image's `boot` does: the job's pipeline options reach the workers); the pool
  runs with this interpreter's folder (the project's virtualenv) first on PATH,

and returns a :class:`PortableRunner` whose :meth:`~PortableRunner.flags` are the
``bucketscore score`` flags of a run on it: the same protocol (job API, Fn API, EXTERNAL
environment) that Flink, Spark and Dataflow Runner v2 speak. Both bind to localhost on free
ports, log to files under the work folder and are stopped like the storage servers
(tests/support/storage_servers.py).
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.storage_servers import _ManagedServer, free_ports

WORKERS = 2
BOOT = Path(__file__).with_name("sdk_boot.py")
JOB_SERVICE = Path(__file__).with_name("job_service.py")


def _environment() -> dict[str, str]:
    """This environment with the interpreter's folder first on PATH (the pool starts its
    workers as `python`)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


class _PortServer(_ManagedServer):
    """A Beam service answering on localhost:port once started."""

    start_timeout = 60.0

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.port = free_ports(1)[0]
        self.address = f"localhost:{self.port}"

    def _process_env(self) -> dict[str, str]:
        return _environment()

    def _probe(self) -> None:
        socket.create_connection(("localhost", self.port), timeout=1).close()


class JobService(_PortServer):
    name = "beam-job-service"

    def _argv(self) -> list[str]:
        return [
            sys.executable,
            str(JOB_SERVICE),
            "--port",
            str(self.port),
            "--staging_dir",
            str(self.workdir / "staging"),
        ]


class WorkerPool(_PortServer):
    name = "beam-worker-pool"

    def _argv(self) -> list[str]:
        boot = self.workdir / "boot"
        boot.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{BOOT}" "$@"\n')
        boot.chmod(0o755)
        return [
            sys.executable,
            "-m",
            "apache_beam.runners.worker.worker_pool_main",
            "--service_port",
            str(self.port),
            "--container_executable",
            str(boot),
        ]


@dataclass
class PortableRunner:
    job_service: JobService
    worker_pool: WorkerPool
    workers: int = WORKERS

    def flags(self) -> list[str]:
        """Beam flags that run a pipeline on this job service with the pool's workers."""
        return [
            "--runner",
            "PortableRunner",
            "--job_endpoint",
            self.job_service.address,
            "--environment_type",
            "EXTERNAL",
            "--environment_config",
            self.worker_pool.address,
            f"--direct_num_workers={self.workers}",
        ]

    def worker_count(self) -> int:
        """SDK worker processes the pool started so far (one log line each)."""
        text = self.worker_pool.log_path.read_text(errors="replace")
        return text.count("Starting worker with command")

    def stop(self) -> None:
        self.worker_pool.stop()
        self.job_service.stop()


def start_portable_runner(workdir) -> PortableRunner:
    """Starts the job service and the worker pool; returns once both answer."""
    workdir = Path(workdir)
    jobs = JobService(workdir / "job-service")
    pool = WorkerPool(workdir / "worker-pool")
    jobs.start_process()
    try:
        pool.start_process()
    except Exception:
        jobs.stop()
        raise
    return PortableRunner(jobs, pool)
