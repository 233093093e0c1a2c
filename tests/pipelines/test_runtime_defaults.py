"""pipelines.runtime_defaults: what a local run uses when the user did not say."""
import os

import pytest

from bucketscore.pipelines import runtime_defaults as rd
from bucketscore.pipelines.options import ScoreConfig

GB = 2**30


def test_two_cores_no_flags_onnx_one_worker_process_per_core_one_thread_each():
    p = rd.plan([], "onnx", cores=2, environ={}, memory_bytes=24 * GB)
    assert p.local and p.workers == 2 and p.running_mode == "multi_processing"
    assert p.added_args == ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
    assert p.threads_per_worker == 1
    assert p.env["BUCKETSCORE_ONNX_THREADS"] == "1"
    assert p.env["OMP_NUM_THREADS"] == "1"


def test_two_cores_no_flags_tf_worker_threads_in_one_process():
    p = rd.plan([], "tf", cores=2, environ={}, memory_bytes=24 * GB)
    assert p.workers == 2 and p.running_mode == "multi_threading"
    assert p.added_args == ("--direct_num_workers=2", "--direct_running_mode=multi_threading")
    assert p.env["TF_NUM_INTRAOP_THREADS"] == "1" and p.env["TF_NUM_INTEROP_THREADS"] == "2"


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError):
        rd.plan([], "torch", cores=2)


def test_one_core_stays_in_process():
    p = rd.plan([], cores=1, environ={}, memory_bytes=24 * GB)
    assert (p.workers, p.running_mode, p.added_args) == (1, "in_memory", ())
    assert p.env["BUCKETSCORE_ONNX_THREADS"] == "1"


def test_workers_capped_by_memory_and_threads_share_the_cores():
    p = rd.plan([], "onnx", cores=16, environ={}, memory_bytes=int(2.5 * GB))
    assert p.workers == 4 and p.threads_per_worker == 4
    assert f"--direct_num_workers=4" in p.added_args


@pytest.mark.parametrize("flags", [["--direct_num_workers", "3"], ["--direct_num_workers=3"],
                                   ["--direct_running_mode=multi_threading"]])
def test_the_users_flags_win(flags):
    p = rd.plan(flags, cores=4, environ={}, memory_bytes=24 * GB)
    assert p.added_args == ()
    assert p.local


def test_users_workers_size_the_threads():
    p = rd.plan(["--direct_num_workers=2", "--direct_running_mode=multi_processing"], cores=8,
                environ={}, memory_bytes=24 * GB)
    assert p.threads_per_worker == 4 and p.env["BUCKETSCORE_ONNX_THREADS"] == "4"


def test_environment_already_set_is_kept():
    p = rd.plan([], cores=2, environ={"BUCKETSCORE_ONNX_THREADS": "2", "OMP_NUM_THREADS": "7"},
                memory_bytes=24 * GB)
    assert "BUCKETSCORE_ONNX_THREADS" not in p.env and "OMP_NUM_THREADS" not in p.env


@pytest.mark.parametrize("runner", ["DataflowRunner", "FlinkRunner", "PrismRunner"])
def test_other_runners_are_left_alone(runner):
    p = rd.plan(["--runner", runner], cores=8, environ={}, memory_bytes=24 * GB)
    assert not p.local and p.added_args == () and p.env == {}
    assert "no local defaults" in rd.describe(p)


def test_apply_adds_flags_and_sets_environment(tmp_path):
    config = ScoreConfig(inputs=(str(tmp_path),), output=str(tmp_path / "out"),
                         model=str(tmp_path / "m"), beam_args=("--s3_region_name=x",))
    env = {}
    new, p = rd.apply(config, "onnx", environ=env, cores=2, memory_bytes=24 * GB)
    assert new.beam_args[0] == "--s3_region_name=x"
    assert new.beam_args[1:] == p.added_args
    assert p.env["BUCKETSCORE_ONNX_THREADS"] == "1" and env == {}  # set around the run only
    assert "2 worker" in rd.describe(p)
    again, p2 = rd.apply(new, "onnx", environ=env, cores=2, memory_bytes=24 * GB)
    assert again.beam_args == new.beam_args and p2.added_args == ()  # idempotent


def test_environment_is_set_for_the_run_and_put_back():
    env = {"OMP_NUM_THREADS": "7"}
    with rd.environment({"OMP_NUM_THREADS": "1", "BUCKETSCORE_ONNX_THREADS": "1"}, env):
        assert env == {"OMP_NUM_THREADS": "7", "BUCKETSCORE_ONNX_THREADS": "1"}
    assert env == {"OMP_NUM_THREADS": "7"}
    with pytest.raises(KeyError):
        with rd.environment({"A": "1"}, env):
            raise KeyError("the run failed")
    assert env == {"OMP_NUM_THREADS": "7"}


def test_is_local():
    assert rd.is_local([]) and rd.is_local(["--runner=DirectRunner"])
    assert not rd.is_local(["--runner", "DataflowRunner"])


def test_make_runner_is_the_fn_api_runner_for_local_runs_only():
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    runner = rd.make_runner(PipelineOptions(["--s3_region_name=eu-west-1"]))
    assert isinstance(runner, fn_runner.FnApiRunner)
    assert isinstance(rd.make_runner(PipelineOptions(["--runner=DirectRunner"])),
                      fn_runner.FnApiRunner)
    assert rd.make_runner(PipelineOptions(["--runner=DataflowRunner"])) is None


def test_make_runner_hands_options_to_worker_processes(tmp_path):
    """The S3 options must reach multi_processing workers (they read the bucket)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    out = tmp_path / "seen.txt"

    def endpoint(_):
        from apache_beam.io.filesystems import FileSystems
        from apache_beam.options.pipeline_options import S3Options

        opts = FileSystems._pipeline_options  # noqa: SLF001 - what Beam's S3 filesystem uses
        return opts.view_as(S3Options).s3_endpoint_url if opts else None

    options = PipelineOptions(["--s3_endpoint_url=http://127.0.0.1:9", "--direct_num_workers=2",
                               "--direct_running_mode=multi_processing"])
    with beam.Pipeline(runner=rd.make_runner(options), options=options) as p:
        (p | beam.Create([1, 2, 3, 4]) | beam.Reshuffle() | beam.Map(endpoint)
         | beam.combiners.ToList()
         | beam.Map(lambda seen, path=str(out): open(path, "w").write(repr(sorted(set(seen))))))
    assert out.read_text() == repr(["http://127.0.0.1:9"])


def test_available_cores_is_positive():
    assert 1 <= rd.available_cores() <= (os.cpu_count() or 1)


def test_batch_size_suits_the_device_unless_given():
    assert rd.batch_size_for("cpu") == rd.DEFAULT_BATCH_SIZE == 4
    assert rd.batch_size_for("auto") == rd.DEFAULT_BATCH_SIZE  # remote workers: the CPU size
    assert rd.batch_size_for("gpu") == rd.GPU_BATCH_SIZE
    assert rd.batch_size_for("gpu", given=8) == 8


def test_small_runs_are_done_in_one_process():
    small = rd.plan([], cores=2, environ={}, memory_bytes=24 * GB, images=rd.SMALL_RUN_IMAGES)
    assert small.small and small.workers == 1 and small.running_mode == "in_memory"
    assert small.added_args == () and "a small run" in rd.describe(small)
    for images in (None, rd.SMALL_RUN_IMAGES + 1):
        big = rd.plan([], cores=2, environ={}, memory_bytes=24 * GB, images=images)
        assert not big.small and big.workers == 2
    given = rd.plan(["--direct_num_workers=2"], cores=2, environ={}, memory_bytes=24 * GB,
                    images=10)
    assert not given.small and given.workers == 2  # what the user asked for wins
    assert not rd.defaults_apply(["--direct_num_workers=2"])
    assert not rd.defaults_apply(["--runner", "DataflowRunner"]) and rd.defaults_apply([])


def test_count_up_to_stops_at_the_limit(tmp_path):
    for i in range(12):
        (tmp_path / f"{i}.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not an image")
    assert rd.count_up_to([str(tmp_path)], limit=20) == 12
    assert rd.count_up_to([str(tmp_path)], limit=11) is None
    assert rd.count_up_to([str(tmp_path / "missing")], limit=5) in (0, None)


def test_incremental_runs_are_done_in_one_process_on_this_machine():
    # Beam's local runner loses elements going into a large CoGroupByKey with 2+ workers
    # (runtime_defaults.INCREMENTAL_WORKERS): the join of an --incremental run.
    joined = rd.plan([], cores=2, environ={}, memory_bytes=24 * GB, incremental=True)
    assert joined.joined and not joined.small
    assert joined.workers == 1 and joined.running_mode == "in_memory"
    assert joined.added_args == () and "an --incremental run: one process" in rd.describe(joined)
    # its inference engine gets every core, as a small run's does
    assert joined.threads_per_worker == 2 and joined.env["BUCKETSCORE_ONNX_THREADS"] == "2"
    full = rd.plan([], cores=2, environ={}, memory_bytes=24 * GB)
    assert not full.joined and full.workers == 2 and full.running_mode == "multi_processing"
    small = rd.plan([], cores=2, environ={}, memory_bytes=24 * GB, images=10, incremental=True)
    assert small.small and not small.joined and "a small run" in rd.describe(small)
    given = rd.plan(["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
                    cores=2, environ={}, memory_bytes=24 * GB, incremental=True)
    assert not given.joined and given.workers == 2  # what the user asked for wins
    remote = rd.plan(["--runner=DataflowRunner"], cores=2, environ={}, incremental=True)
    assert not remote.local and not remote.joined  # other runners: left alone
    one_core = rd.plan([], cores=1, environ={}, memory_bytes=24 * GB, incremental=True)
    assert one_core.workers == 1 and not one_core.joined  # nothing changed: one anyway
