"""pipelines/executor.py: which executor runs a run, and why; the plan of a local run in
process (no counting, no Beam flags added, one file per table)."""

from __future__ import annotations

import argparse

import pytest

from bucketscore.errors import UsageError
from bucketscore.pipelines import executor
from bucketscore.pipelines.options import add_score_arguments, config_from_args
from bucketscore.pipelines.plan import plan
from bucketscore.pipelines.runners import Runner, runner_of
from tests.support.helpers import copy_demo_subset

LOCAL = Runner("DirectRunner")


def config_of(argv: list[str]):
    parser = argparse.ArgumentParser()
    add_score_arguments(parser)
    args, extra = parser.parse_known_args(argv)
    return config_from_args(args, extra)


@pytest.mark.parametrize(
    "runner, args, base, device, why",
    [
        (LOCAL, [], None, "cpu", None),
        (Runner("DataflowRunner"), [], None, "cpu", "--runner DataflowRunner"),
        (Runner("PortableRunner"), [], None, "cpu", "--runner PortableRunner"),
        (Runner("BundleBasedDirectRunner"), [], None, "cpu", "in-process runner"),
        (Runner("DataflowRunner", "gs://b/t"), [], None, "cpu", "classic template"),
        (LOCAL, ["--no_wait_until_finish"], None, "cpu", "--no_wait_until_finish"),
        (LOCAL, ["--direct_num_workers=2"], None, "cpu", "--direct_num_workers"),
        (LOCAL, ["--direct_running_mode", "multi_threading"], None, "cpu", "--direct_num"),
        (LOCAL, [], "join", "cpu", "--incremental"),
        (LOCAL, [], "memory", "cpu", None),
        (LOCAL, [], None, "gpu", "GPU"),
        (LOCAL, ["--no_wait_until_finish_x"], None, "cpu", None),
    ],
)
def test_what_needs_beam(runner, args, base, device, why):
    found = executor.needs_beam(runner, args, carry_over=base, device=device)
    if why is None:
        assert found is None
        assert executor.choose("auto", runner, args, carry_over=base, device=device) == "inline"
        assert executor.choose("beam", runner, args, carry_over=base, device=device) == "beam"
    else:
        assert why in found
        assert executor.choose("auto", runner, args, carry_over=base, device=device) == "beam"
        with pytest.raises(UsageError, match="--executor inline: .*use --executor auto or beam"):
            executor.choose("inline", runner, args, carry_over=base, device=device)


def test_the_runner_flag_is_read_as_the_plan_reads_it():
    assert executor.needs_beam(
        runner_of(["--runner=FlinkRunner"]), [], carry_over=None, device="cpu"
    )


@pytest.fixture
def images(demo_bundle, tmp_path):
    folder = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(folder), per_class=2)
    return folder


def test_a_local_run_is_planned_in_process(demo_bundle, images, tmp_path):
    argv = ["--input", str(images), "--model", demo_bundle.model, "--output", str(tmp_path)]
    p = plan(config_of(argv + ["--run_id", "r"]))
    assert p.executor == "inline" and p.inline and p.shards == 1
    assert p.images is None and not p.counted  # nothing to decide by the count
    assert p.beam_args == () and p.workers.workers == 1 and not p.workers.added_args
    assert p.workers.threads_per_worker == p.workers.cores
    assert p.info.extra["inference"]["executor"] == "inline"
    assert p.target.run_uri == p.run_uri and p.target.run_id == "r"
    assert any("in this process (no Beam)" in line for line in p.start_lines())
    assert any("in this process (no Beam)" in line for line in p.describe())
    beam = plan(config_of(argv + ["--run_id", "r", "--executor", "beam"]))
    assert beam.executor == "beam" and beam.counted and beam.images == 20
    assert beam.info.extra["inference"]["executor"] == "beam"
    with pytest.raises(UsageError, match="--executor inline: --direct_num_workers"):
        plan(config_of(argv + ["--executor", "inline", "--direct_num_workers=2"]))
