"""pipelines.workers: what a local run uses when the user did not say."""

import os

import pytest

from bucketscore.pipelines import workers as w
from bucketscore.pipelines.runners import runner_of

GB = 2**30
LOCAL = runner_of([])


def plan(flags=(), backend="onnx", **kw):
    kw.setdefault("environ", {})
    kw.setdefault("memory", 24 * GB)
    return w.plan_workers(runner_of(list(flags)), list(flags), backend, **kw)


def test_two_cores_no_flags_onnx_one_worker_process_per_core_one_thread_each():
    p = plan(cores=2)
    assert p.local and p.workers == 2 and p.running_mode == "multi_processing"
    assert p.added_args == ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
    assert p.threads_per_worker == 1
    assert p.env["BUCKETSCORE_ONNX_THREADS"] == "1"
    assert p.env["OMP_NUM_THREADS"] == "1"


def test_two_cores_no_flags_tf_worker_threads_in_one_process():
    p = plan(backend="tf", cores=2)
    assert p.workers == 2 and p.running_mode == "multi_threading"
    assert p.added_args == ("--direct_num_workers=2", "--direct_running_mode=multi_threading")
    assert p.env["TF_NUM_INTRAOP_THREADS"] == "1" and p.env["TF_NUM_INTEROP_THREADS"] == "2"


def test_two_cores_no_flags_torch_one_worker_process_per_core_one_thread_each():
    p = plan(backend="torch", cores=2)
    assert p.workers == 2 and p.running_mode == "multi_processing"
    assert p.env["BUCKETSCORE_TORCH_THREADS"] == "1" and p.env["OMP_NUM_THREADS"] == "1"


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend must be one of .*'tflite'"):
        plan(backend="tflite", cores=2)


def test_one_core_stays_in_process():
    p = plan(cores=1)
    assert (p.workers, p.running_mode, p.added_args) == (1, "in_memory", ())
    assert p.env["BUCKETSCORE_ONNX_THREADS"] == "1"


def test_workers_capped_by_memory_and_threads_share_the_cores():
    p = plan(cores=16, memory=int(2.5 * GB))
    assert p.workers == 4 and p.threads_per_worker == 4
    assert "--direct_num_workers=4" in p.added_args


@pytest.mark.parametrize(
    "flags",
    [
        ["--direct_num_workers", "3"],
        ["--direct_num_workers=3"],
        ["--direct_running_mode=multi_threading"],
    ],
)
def test_the_users_flags_win(flags):
    p = plan(flags, cores=4)
    assert p.added_args == () and p.local
    assert w.user_chose_workers(flags)


def test_users_workers_size_the_threads():
    p = plan(["--direct_num_workers=2", "--direct_running_mode=multi_processing"], cores=8)
    assert p.threads_per_worker == 4 and p.env["BUCKETSCORE_ONNX_THREADS"] == "4"


def test_beams_zero_workers_means_every_core():
    p = plan(["--direct_num_workers=0", "--direct_running_mode=multi_processing"], cores=8)
    assert p.workers == 8 and p.threads_per_worker == 1


def test_environment_already_set_is_kept():
    p = plan(cores=2, environ={"BUCKETSCORE_ONNX_THREADS": "2", "OMP_NUM_THREADS": "7"})
    assert "BUCKETSCORE_ONNX_THREADS" not in p.env and "OMP_NUM_THREADS" not in p.env


@pytest.mark.parametrize("runner", ["DataflowRunner", "FlinkRunner", "PrismRunner"])
def test_other_runners_are_left_alone(runner):
    p = plan(["--runner", runner], cores=8)
    assert not p.local and p.added_args == () and p.env == {}
    assert "no local defaults" in p.describe()
    assert p.record() == {"workers": None, "running_mode": None, "threads_per_worker": None}


def test_the_in_process_runner_is_one_process():
    p = plan(["--runner", "BundleBasedDirectRunner"], cores=2)
    assert p.local and p.workers == 1 and p.running_mode == "in_memory"
    assert p.added_args == () and p.threads_per_worker == 2


def test_worker_environment_is_set_for_the_run_and_put_back():
    import logging

    env = {"OMP_NUM_THREADS": "7"}
    p = w.WorkerPlan(
        local=True,
        cores=2,
        workers=2,
        running_mode="multi_processing",
        threads_per_worker=1,
        added_args=("--direct_num_workers=2",),
        env={"OMP_NUM_THREADS": "1", "BUCKETSCORE_ONNX_THREADS": "1"},
    )
    logger = logging.getLogger(w.WORKER_LOG)
    before = logger.level
    with w.worker_environment(p, env):
        assert env == {"OMP_NUM_THREADS": "7", "BUCKETSCORE_ONNX_THREADS": "1"}
        assert logger.level == logging.ERROR  # worker start-up warnings kept quiet
    assert env == {"OMP_NUM_THREADS": "7"} and logger.level == before
    with pytest.raises(KeyError):
        with w.worker_environment(p, env):
            raise KeyError("the run failed")
    assert env == {"OMP_NUM_THREADS": "7"} and logger.level == before


def test_available_cores_is_positive():
    assert 1 <= w.available_cores() <= (os.cpu_count() or 1)


def test_small_runs_are_done_in_one_process():
    small = plan(cores=2, images=w.SMALL_RUN_IMAGES)
    assert small.small and small.workers == 1 and small.running_mode == "in_memory"
    assert small.added_args == () and "a small run" in small.describe()
    for images in (None, w.SMALL_RUN_IMAGES + 1):
        big = plan(cores=2, images=images)
        assert not big.small and big.workers == 2
    given = plan(["--direct_num_workers=2"], cores=2, images=10)
    assert not given.small and given.workers == 2  # what the user asked for wins


def test_incremental_runs_are_done_in_one_process_on_this_machine():
    # Beam's local runner loses elements going into a large CoGroupByKey with 2+ workers
    # (workers.INCREMENTAL_WORKERS): the join of an --incremental run.
    joined = plan(cores=2, incremental=True)
    assert joined.joined and not joined.small
    assert joined.workers == 1 and joined.running_mode == "in_memory"
    assert joined.added_args == () and "an --incremental run: one process" in joined.describe()
    # its inference engine gets every core, as a small run's does
    assert joined.threads_per_worker == 2 and joined.env["BUCKETSCORE_ONNX_THREADS"] == "2"
    full = plan(cores=2)
    assert not full.joined and full.workers == 2 and full.running_mode == "multi_processing"
    small = plan(cores=2, images=10, incremental=True)
    assert small.small and not small.joined and "a small run" in small.describe()
    given = plan(
        ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
        cores=2,
        incremental=True,
    )
    assert not given.joined and given.workers == 2  # what the user asked for wins
    remote = plan(["--runner=DataflowRunner"], cores=2, incremental=True)
    assert not remote.local and not remote.joined  # other runners: left alone
    one_core = plan(cores=1, incremental=True)
    assert one_core.workers == 1 and not one_core.joined  # nothing changed: one anyway
