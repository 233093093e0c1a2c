"""pipelines.runners: one answer to "is this local" and "is this a template build"."""

import pytest

from bucketscore.pipelines.runners import make_runner, runner_of


@pytest.mark.parametrize(
    "flags",
    [
        [],
        ["--runner=DirectRunner"],
        ["--runner", "directrunner"],
        ["--runner=SwitchingDirectRunner"],
        ["--runner", "direct"],
        ["--runner=BundleBasedDirectRunner"],
    ],
)
def test_the_direct_runner_family_is_local(flags):
    runner = runner_of(flags)
    assert runner.local and runner.kind == "local" and not runner.template


@pytest.mark.parametrize(
    "name,kind",
    [
        ("DataflowRunner", "dataflow"),
        ("PortableRunner", "portable"),
        ("FlinkRunner", "portable"),
        ("SparkRunner", "portable"),
        ("SomeOtherRunner", "other"),
    ],
)
def test_other_runners_are_not_local(name, kind):
    runner = runner_of(["--runner", name])
    assert not runner.local and runner.kind == kind


def test_a_template_build_is_named_by_its_location():
    runner = runner_of(["--runner=DataflowRunner", "--template_location", "gs://b/t.json"])
    assert runner.template and runner.dataflow and runner.template_location == "gs://b/t.json"
    assert not runner_of(["--runner=DataflowRunner"]).template


def test_make_runner_is_the_fn_api_runner_for_local_runs_only():
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    for flags in ([], ["--runner=DirectRunner"]):
        runner = make_runner(runner_of(flags), PipelineOptions(flags))
        assert isinstance(runner, fn_runner.FnApiRunner)
    assert make_runner(runner_of(["--runner=DataflowRunner"]), PipelineOptions([])) is None
    # the in-process local runner is Beam's own (it takes no worker flags)
    assert make_runner(runner_of(["--runner=BundleBasedDirectRunner"]), PipelineOptions([])) is None


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

    flags = [
        "--s3_endpoint_url=http://127.0.0.1:9",
        "--direct_num_workers=2",
        "--direct_running_mode=multi_processing",
    ]
    options = PipelineOptions(flags)
    with beam.Pipeline(runner=make_runner(runner_of(flags), options), options=options) as p:
        (
            p
            | beam.Create([1, 2, 3, 4])
            | beam.Reshuffle()
            | beam.Map(endpoint)
            | beam.combiners.ToList()
            | beam.Map(lambda seen, path=str(out): open(path, "w").write(repr(sorted(set(seen)))))
        )
    assert out.read_text() == repr(["http://127.0.0.1:9"])
