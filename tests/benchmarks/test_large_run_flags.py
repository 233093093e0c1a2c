"""benchmarks/run_bench.py: the steady-state runs measure the large-run default, whatever
SMALL_RUN_IMAGES is (1,000 and 4,000 images would otherwise straddle it)."""

from __future__ import annotations

from benchmarks.run_bench import large_run_flags
from bucketscore.pipelines.runners import runner_of
from bucketscore.pipelines.workers import available_cores, plan_workers


def test_flags_are_the_workers_of_a_large_run_on_this_machine():
    for backend in ("onnx", "tf"):
        flags = large_run_flags(backend, [])
        if available_cores() == 1:
            assert flags == []  # one core: one process anyway
            continue
        assert flags[0].startswith("--direct_num_workers=")
        assert int(flags[0].split("=")[1]) > 1
        mode = {"onnx": "multi_processing", "tf": "multi_threading"}[backend]
        assert flags[1] == f"--direct_running_mode={mode}"
        # given explicitly, they keep any run, small or not, at those workers
        small = plan_workers(runner_of(flags), flags, backend, images=10)
        assert not small.small and small.workers == int(flags[0].split("=")[1])


def test_the_users_worker_flags_win():
    assert large_run_flags("onnx", ["--direct_num_workers", "1"]) == []
    assert large_run_flags("onnx", ["--direct_running_mode=in_memory"]) == []
