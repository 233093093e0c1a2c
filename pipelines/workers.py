"""How a local run uses this machine when the user did not say: worker processes or
threads, and inference threads per worker.

`plan_workers` decides (a pure function of the runner, the flags, the backend, the image
count and the machine), `worker_environment` applies the plan's thread variables around the
run. Nothing the user set is changed: `--direct_num_workers`, `--direct_running_mode`, or a
thread variable already in the environment wins; other runners are left alone. Why these
defaults, with the figures: docs/decisions.md ("Worker processes on one machine", "Small
runs in one process", "Incremental runs in one process").
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Mapping, MutableMapping, Optional, Sequence

from bucketscore.pipelines.beam_options import flag_value
from bucketscore.pipelines.runners import Runner

# Environment variables that size the inference engines' thread pools.
THREAD_ENV = (
    "BUCKETSCORE_ONNX_THREADS",  # bucketscore.bundle.onnx_runtime.ort_threads
    "BUCKETSCORE_TORCH_THREADS",  # bucketscore.bundle.torch_runtime.torch_threads
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",  # TensorFlow
    "OMP_NUM_THREADS",
)  # OpenMP users (oneDNN builds, numpy's BLAS)
MAX_DEFAULT_WORKERS = 16
# Worker processes for ONNX Runtime (~0.3 GB each), worker threads in one process for
# TensorFlow (its runtime alone takes ~0.85 GB per process).
DEFAULT_RUNNING_MODE = {
    "onnx": "multi_processing",
    "tf": "multi_threading",
    "torch": "multi_processing",
}
# rounded up from measured peaks (torch: its runtime ~0.5 GB per process, with the model)
MEMORY_PER_WORKER = {"onnx": 0.6 * 2**30, "tf": 0.5 * 2**30, "torch": 1.0 * 2**30}
# Up to this many images a local run is done in one process, its tables one file each.
SMALL_RUN_IMAGES = 2500
# An --incremental run with a base run is done in one process (Beam's local runner loses
# data going into the join with several workers; the accounting check stays the guard).
INCREMENTAL_WORKERS = 1


@dataclass(frozen=True)
class WorkerPlan:
    """Workers and threads of a run; `added_args`/`env` are only what the plan added, never
    the user's."""

    local: bool  # a run on this machine (else nothing is decided here)
    cores: int
    workers: int
    running_mode: str
    threads_per_worker: int
    added_args: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    small: bool = False  # a small run (SMALL_RUN_IMAGES): one process, one file per table
    joined: bool = False  # an --incremental run (a base run to join): one process
    inline: bool = False  # the in-process executor (pipelines/inline_run.py): no Beam

    def describe(self) -> str:
        """One line for the console: what the run will use."""
        if not self.local:
            return "bucketscore: runner-managed workers (no local defaults applied)"
        if self.inline:
            return (
                f"bucketscore: in this process (no Beam): reads and decoding in "
                f"{self.read_threads} thread(s), inference on {self.threads_per_worker} "
                f"thread(s), {self.cores} core(s)"
            )
        how = {
            "multi_processing": "worker processes",
            "multi_threading": "worker threads",
            "in_memory": "in-process worker",
        }.get(self.running_mode, self.running_mode)
        chosen = "" if self.added_args or self.env else " (as given)"
        small = f" (a small run: up to {SMALL_RUN_IMAGES} images)" if self.small else ""
        if self.joined:
            small = " (an --incremental run: one process, see docs/operations.md)"
        return (
            f"bucketscore: DirectRunner, {self.workers} {how} x {self.threads_per_worker} "
            f"inference thread(s) on {self.cores} core(s){chosen}{small}"
        )

    @property
    def read_threads(self) -> int:
        """Threads that read and decode ahead of inference in the in-process executor."""
        return self.cores

    def record(self) -> dict:
        """What manifest.json's `inference` says of the workers (and the executor)."""
        if self.inline:
            return {
                "executor": "inline",
                "workers": 1,
                "running_mode": "inline",
                "threads_per_worker": self.threads_per_worker,
            }
        return {
            **({"executor": "beam"} if self.local else {}),
            "workers": self.workers if self.local else None,
            "running_mode": self.running_mode if self.local else None,
            "threads_per_worker": self.threads_per_worker if self.local else None,
        }


def available_cores() -> int:
    """CPUs this process may use: affinity mask, and the cgroup (container) CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:  # cgroup v2: "quota period" or "max period"
            quota, period = f.read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def memory_bytes() -> Optional[int]:
    """This machine's memory, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def user_chose_workers(beam_args: Sequence[str]) -> bool:
    """The user set the local runner's workers (--direct_num_workers or
    --direct_running_mode): the plan keeps them."""
    return (
        flag_value(beam_args, "direct_num_workers") is not None
        or flag_value(beam_args, "direct_running_mode") is not None
    )


def plan_workers(
    runner: Runner,
    beam_args: Sequence[str],
    backend: str = "onnx",
    *,
    images: Optional[int] = None,
    incremental: bool = False,
    inline: bool = False,
    cores: Optional[int] = None,
    environ: Optional[Mapping[str, str]] = None,
    memory: Optional[int] = None,
) -> WorkerPlan:
    """Decide workers, running mode and threads for a run on `runner` with these Beam flags.

    `backend` (onnx or tf) decides processes or threads; `images`: how many images the run
    has when that is known to be small, else None (a small run is done in one process);
    `incremental`: the run joins the listing with a base run (one process); `inline`: the
    in-process executor runs it (one process: inference on every core, reads and decoding
    in as many threads beside it)."""
    if backend not in DEFAULT_RUNNING_MODE:
        raise ValueError(f"backend must be one of {sorted(DEFAULT_RUNNING_MODE)}, not {backend!r}")
    environ = os.environ if environ is None else environ
    cores = cores or available_cores()
    if not runner.local:
        return WorkerPlan(
            local=False, cores=cores, workers=0, running_mode="", threads_per_worker=0
        )
    given_workers = flag_value(beam_args, "direct_num_workers")
    given_mode = flag_value(beam_args, "direct_running_mode")
    added: list[str] = []
    small = joined = False
    if runner.in_process:
        workers, mode = 1, "in_memory"
    elif inline:
        workers, mode = 1, "inline"
    elif not user_chose_workers(beam_args):
        memory = memory if memory is not None else memory_bytes()
        by_memory = int(memory // MEMORY_PER_WORKER[backend]) if memory else cores
        workers = max(1, min(cores, MAX_DEFAULT_WORKERS, by_memory))
        small = images is not None and images <= SMALL_RUN_IMAGES
        joined = incremental and not small and workers > 1
        if small:
            workers = 1  # starting worker processes costs more than they save
        elif joined:
            workers = INCREMENTAL_WORKERS
        mode = DEFAULT_RUNNING_MODE[backend] if workers > 1 else "in_memory"
        if workers > 1:
            added = [f"--direct_num_workers={workers}", f"--direct_running_mode={mode}"]
    else:
        try:
            workers = int(given_workers) if given_workers is not None else 1
        except ValueError:
            workers = 1
        workers = cores if workers == 0 else max(1, workers)  # Beam: 0 means every core
        mode = given_mode or "in_memory"
    # Threads per inference engine: the cores shared out over the processes (or threads)
    # that run inference at the same time. in_memory runs one bundle at a time.
    concurrent = workers if mode in ("multi_processing", "multi_threading") else 1
    threads = max(1, cores // concurrent)
    # TensorFlow's pools belong to the process: with worker threads, let as many graphs run
    # at once as there are workers (inter-op), each op on its share of the cores (intra-op).
    inter = workers if mode == "multi_threading" else 1
    env = {
        name: str(inter) if name == "TF_NUM_INTEROP_THREADS" else str(threads)
        for name in THREAD_ENV
        if name not in environ
    }
    return WorkerPlan(
        local=True,
        cores=cores,
        workers=workers,
        running_mode=mode,
        threads_per_worker=threads,
        added_args=tuple(added),
        env=env,
        small=small,
        joined=joined,
        inline=inline,
    )


WORKER_LOG = "apache_beam.runners.portability.local_job_service"


@contextlib.contextmanager
def worker_environment(plan: WorkerPlan, environ: Optional[MutableMapping[str, str]] = None):
    """For the duration of a run: the plan's thread variables (those not set yet; worker
    processes started inside inherit them, and engines size their pools when they start)
    and, with worker processes, their two harmless start-up warnings per process kept out
    of the console ("No semi_persistent_directory found", "Discarding unparseable args":
    forwarded to WORKER_LOG; errors still show, and everything with -v). Then the
    environment and the logger are put back as they were: a program that runs twice
    (tests, notebooks) does not keep one run's settings."""
    environ = os.environ if environ is None else environ
    added = [name for name in plan.env if name not in environ]
    for name in added:
        environ[name] = plan.env[name]
    logger = logging.getLogger(WORKER_LOG)
    level = logger.level
    if plan.added_args and logger.getEffectiveLevel() >= logging.WARNING:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        for name in added:
            environ.pop(name, None)
