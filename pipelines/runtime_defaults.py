"""How a run uses one machine when the user did not say: workers, threads, runner.

Measured on the benchmark machine (2 cores, `make bench`, figures in the README): Beam's
DirectRunner by default runs every bundle in ONE process (`direct_num_workers=1`,
`in_memory`), where decoding and the Python parts of each stage take turns with inference;
ONNX Runtime's default of 2 intra-op threads then spins on the second core while Python
runs. One worker process per core, each with ONE inference thread, keeps both cores on
decode + inference: that is the ceiling's arithmetic, cores / (decode + inference CPU time
per image).

`plan()` decides, `apply()` adds its Beam flags to a ScoreConfig, `environment()` sets its
thread variables around the run (worker processes inherit them; engines size their thread
pools when they start), `make_runner()` gives the runner to build the pipeline with.
`pipelines.launcher.start` does all four. Nothing is changed that the user set: a
`--direct_num_workers`, `--direct_running_mode` or `--runner` on the command line, or a
thread variable already in the environment, wins. Other runners (Dataflow, Flink, ...) are
left alone entirely.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Mapping, MutableMapping, Optional, Sequence

from bucketscore.pipelines.beam_options import DIRECT_RUNNERS, flag_value, is_local

# Environment variables that size the inference engines' thread pools.
THREAD_ENV = ("BUCKETSCORE_ONNX_THREADS",  # bucketscore.model_export.onnx_export.ort_threads
              "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",  # TensorFlow
              "OMP_NUM_THREADS")  # OpenMP users (oneDNN builds, numpy's BLAS)
MAX_DEFAULT_WORKERS = 16
# Inference batch. Per image, MobileNetV2 on one CPU thread costs the same or less at 1-4
# images per call as at 8-64 (ONNX Runtime 7.1-7.3 ms at 1-4, 7.5 at 8, 7.8 at 64; TensorFlow
# 12-14 ms at 1-8, 15-16 at 16-64), while the engines keep memory for the largest batch they
# have seen: one ONNX Runtime process holds 282 MB after batches of 4, 335 MB after 8, 1.1 GB
# after 64; TensorFlow 896 MB, 958 MB and 1.87 GB. Measured with `benchmarks/ceiling.py`.
DEFAULT_BATCH_SIZE = 4
# On a GPU the per-call cost dominates small batches; 64 keeps it busy with modest memory
# (not measured here: no GPU on the benchmark machine).
GPU_BATCH_SIZE = 64
# Per backend: worker processes for ONNX Runtime (~0.3 GB each; `make bench` on 2 cores:
# 169 images/s against 156 for one process with 2 threads, at the price of ~5 s start-up);
# worker threads in ONE process for TensorFlow, whose runtime alone takes ~0.85 GB per
# process (2 processes: 2.2 GB peak).
DEFAULT_RUNNING_MODE = {"onnx": "multi_processing", "tf": "multi_threading"}
MEMORY_PER_WORKER = {"onnx": 0.6 * 2**30, "tf": 0.5 * 2**30}  # rounded up from measured peaks
# Up to this many images a local run is done in one process, and its results are written
# as one file each: the worker processes start ~2 s later (each imports Beam and loads the
# model) and then score faster. `make bench` small runs (2026-12-02, 2 cores, MobileNetV2,
# ONNX Runtime, load 1.7-1.9), one process against 2 processes: 60 images 4.2 s vs 6.4 s,
# 500: 5.8 vs 7.8, 2,000: 13.0 vs 13.5, 4,000: 19.7 vs 18.1: break-even near 2,500.
SMALL_RUN_IMAGES = 2500
# An --incremental run on this machine is done in ONE process (in_memory), whatever its
# size: with 2 or more workers (multi_processing or multi_threading) Beam 2.77's local runner
# loses elements going into the join with the base run, a CoGroupByKey of the listing and
# the base run's object index and rows (1M images, ~870 MB shuffled): whole data chunks
# (~10 MB, ~86,000 values) written by the stage that feeds the group never reach it, in
# some runs and not others. Measured (2 cores): the Beam-only `benchmarks/beam_join_loss.py`
# lost values in 8 of 28 runs with 2 workers (7 of the first 10, then 1 of 18: it depends
# on timing) and in none of 9 in one process; bucketscore's 1M incremental run with 2
# workers lost 81,614-270,414 images (the run failed its accounting check) or base rows
# (83,623-104,840 images re-scored) in 4 of 8 runs. In one process the same run read
# exactly the 10,000 changed images in 128 s (2 workers, when complete: 102-146 s). A user's
# --direct_num_workers still wins; the accounting check (run_folder.finish) is the guard
# (tests/run_folder/test_accounting.py).
INCREMENTAL_WORKERS = 1


@dataclass(frozen=True)
class RuntimePlan:
    """What `apply` decided; `added_args`/`env` are only what it added, never the user's."""

    local: bool  # a DirectRunner run on this machine (else nothing is changed)
    cores: int
    workers: int
    running_mode: str
    threads_per_worker: int
    added_args: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    small: bool = False  # a small run (SMALL_RUN_IMAGES): one process, one file per table
    joined: bool = False  # an --incremental run (a base run to join): one process


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


def _memory_bytes() -> Optional[int]:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def batch_size_for(device: str, given: Optional[int] = None) -> int:
    """The inference batch: the user's, else DEFAULT_BATCH_SIZE on a CPU and GPU_BATCH_SIZE
    where inference runs on a GPU."""
    if given:
        return given
    return GPU_BATCH_SIZE if device == "gpu" else DEFAULT_BATCH_SIZE


def plan(beam_args: Sequence[str], backend: str = "onnx", *, cores: Optional[int] = None,
         environ: Optional[Mapping[str, str]] = None,
         memory_bytes: Optional[int] = None, images: Optional[int] = None,
         incremental: bool = False) -> RuntimePlan:
    """Decide workers, running mode and threads for these Beam flags on this machine.

    `backend` is the inference backend the run will use (`tf` or `onnx`, as chosen by
    model_export.predictor.choose_backend): it decides processes or threads. `images`:
    how many images the run has when that is known to be small (count_up_to), else None;
    a small run is done in one process (SMALL_RUN_IMAGES). `incremental`: the run joins the
    listing with a base run (CoGroupByKey); it is done in one process (INCREMENTAL_WORKERS)."""
    if backend not in DEFAULT_RUNNING_MODE:
        raise ValueError(f"backend must be one of {sorted(DEFAULT_RUNNING_MODE)}, not {backend!r}")
    environ = os.environ if environ is None else environ
    cores = cores or available_cores()
    if not is_local(beam_args):
        return RuntimePlan(local=False, cores=cores, workers=0, running_mode="",
                           threads_per_worker=0)
    given_workers = flag_value(beam_args, "direct_num_workers")
    given_mode = flag_value(beam_args, "direct_running_mode")
    added: list[str] = []
    small = joined = False
    if given_workers is None and given_mode is None:
        memory = memory_bytes if memory_bytes is not None else _memory_bytes()
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
    env = {}
    for name in THREAD_ENV:
        if name not in environ:
            env[name] = str(inter) if name == "TF_NUM_INTEROP_THREADS" else str(threads)
    return RuntimePlan(local=True, cores=cores, workers=workers, running_mode=mode,
                       threads_per_worker=threads, added_args=tuple(added), env=env,
                       small=small, joined=joined)


def defaults_apply(beam_args: Sequence[str]) -> bool:
    """Whether `plan` chooses workers here: a local run the user gave no worker flags."""
    return (is_local(beam_args) and flag_value(beam_args, "direct_num_workers") is None
            and flag_value(beam_args, "direct_running_mode") is None)


def count_up_to(inputs: Sequence[str], limit: int = SMALL_RUN_IMAGES) -> Optional[int]:
    """How many images the inputs hold, when that is at most `limit`; None when there are
    more (listing stops there: a page or two of a bucket) or they cannot be listed here
    (the pipeline will say why)."""
    from bucketscore.storage.listing import list_input

    n = 0
    try:
        for uri in inputs:
            for _obj in list_input(uri):
                n += 1
                if n > limit:
                    return None
    except Exception:  # noqa: BLE001 - only an estimate for the defaults
        return None
    return n


def apply(config, backend: str = "onnx", environ: Optional[MutableMapping[str, str]] = None,
          **kwargs):
    """(config with the planned Beam flags added, plan). The plan's `env` is to be set with
    `environment(plan.env)` around the run, before anything loads a model (thread pools
    are sized when an engine starts)."""
    environ = os.environ if environ is None else environ
    p = plan(config.beam_args, backend, environ=environ, **kwargs)
    if p.added_args:
        quiet_worker_logs()
        config = dataclasses.replace(config, beam_args=tuple(config.beam_args) + p.added_args)
    return config, p


@contextlib.contextmanager
def environment(env: Mapping[str, str], environ: Optional[MutableMapping[str, str]] = None):
    """Set `env` (variables not set yet) for the duration of a run, then put the environment
    back as it was: worker processes started inside inherit it, and a program that calls
    `pipelines.launcher.start` twice (tests, notebooks) does not keep one run's settings."""
    environ = os.environ if environ is None else environ
    added = [name for name in env if name not in environ]
    for name in added:
        environ[name] = env[name]
    try:
        yield
    finally:
        for name in added:
            environ.pop(name, None)


WORKER_LOG = "apache_beam.runners.portability.local_job_service"


def quiet_worker_logs() -> None:
    """Worker processes forward their log records to this logger; at the CLI's default level
    (WARNING) every run would print two harmless worker warnings per process ("No
    semi_persistent_directory found", "Discarding unparseable args"). Errors still show, and
    so does everything when the user asked for more (a level below WARNING)."""
    import logging

    logger = logging.getLogger(WORKER_LOG)
    if logger.getEffectiveLevel() >= logging.WARNING:
        logger.setLevel(logging.ERROR)


def describe(p: RuntimePlan) -> str:
    """One line for the console: what the run will use."""
    if not p.local:
        return "bucketscore: runner-managed workers (no local defaults applied)"
    how = {"multi_processing": "worker processes", "multi_threading": "worker threads",
           "in_memory": "in-process worker"}.get(p.running_mode, p.running_mode)
    chosen = "" if p.added_args or p.env else " (as given)"
    small = f" (a small run: up to {SMALL_RUN_IMAGES} images)" if p.small else ""
    if p.joined:
        small = " (an --incremental run: one process, see README \"Incremental scheduled runs\")"
    return (f"bucketscore: DirectRunner, {p.workers} {how} x {p.threads_per_worker} inference "
            f"thread(s) on {p.cores} core(s){chosen}{small}")


def make_runner(options):
    """The runner for a local run: Beam's FnApiRunner, built exactly as DirectRunner builds it
    (pipeline options handed to the worker processes, so --s3_* options reach them), or None
    for any other runner (then `beam.Pipeline` creates the one named by --runner).

    Why not DirectRunner itself: for a batch pipeline like ours it first tries the Prism
    runner, which downloads a Go binary from GitHub on first use (offline, as in CI, that
    attempt fails and it falls back to the FnApiRunner) and does not honour
    --direct_num_workers / --direct_running_mode. Going straight to the FnApiRunner runs the
    same engine online and offline, in CI and in production.
    """
    from apache_beam.options.pipeline_options import StandardOptions

    from bucketscore.private_apis import fn_api_runner

    runner = options.view_as(StandardOptions).runner
    if runner is not None and str(runner).lower() not in DIRECT_RUNNERS:
        return None
    return fn_api_runner(options)
