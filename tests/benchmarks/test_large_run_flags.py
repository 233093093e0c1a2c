"""benchmarks/run_bench.py: the steady-state runs measure the large-run default, whatever
SMALL_RUN_IMAGES is (1,000 and 4,000 images would otherwise straddle it)."""
from __future__ import annotations

from benchmarks.run_bench import large_run_flags
from bucketscore.pipelines import runtime_defaults as rd


def test_flags_are_what_the_default_picks_for_a_large_run():
    for backend in ("onnx", "tf"):
        flags = large_run_flags(backend, [])
        assert flags == list(rd.plan([], backend, images=None).added_args)
        # and never the small-run plan (one process), whatever this machine has
        assert rd.plan(flags, backend).small is False


def test_the_users_worker_flags_win():
    assert large_run_flags("onnx", ["--direct_num_workers", "1"]) == []
    assert large_run_flags("onnx", ["--direct_running_mode=in_memory"]) == []
