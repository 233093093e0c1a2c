"""--incremental at scale: carried-over rows never meet the scored ones in a Flatten (Beam's
local runners hold a Flatten's inputs whole in memory), and a run where 1% changed reads
only the changed images' bytes (the read counters say so)."""

from __future__ import annotations

import os
import shutil
import time

import apache_beam as beam

from bucketscore.pipelines.graph import build_pipeline
from bucketscore.pipelines.options import ScoreConfig
from bucketscore.pipelines.plan import plan
from tests.support.helpers import check_summary_against_sklearn, read_local_run
from tests.support.incremental import _score, first_day


class _Flattens(beam.pipeline.PipelineVisitor):
    """Every Flatten of a pipeline and the labels of the transforms feeding it."""

    def __init__(self):
        self.inputs: dict[str, list[str]] = {}

    def visit_transform(self, node):
        if isinstance(node.transform, beam.Flatten):
            self.inputs[node.full_label] = [pc.producer.full_label for pc in node.inputs]


def _flattens_of_an_incremental_graph(demo_bundle, images, out, base_run):
    config = ScoreConfig(
        inputs=(str(images),),
        output=str(out),
        model=demo_bundle.model,
        run_id="graph",
        incremental=True,
        batch_size=4,
    )
    run_plan = plan(config)
    assert run_plan.base_run == base_run + "/"
    p = beam.Pipeline()
    build_pipeline(p, run_plan)
    visitor = _Flattens()
    p.visit(visitor)
    return visitor.inputs


def test_one_percent_changed_reads_one_percent(demo_bundle, tmp_path):
    images, out, first = first_day(demo_bundle, tmp_path, per_class=10)  # 100 images
    assert first["summary"]["beam_counters"]["read"] == 100

    # Prediction rows (scored or carried) never go into a Flatten: only small things do
    # (errors, the two summary accumulators, the report's candidate rows, file names).
    flattens = _flattens_of_an_incremental_graph(demo_bundle, images, out, str(out / "day1"))
    fed_by_rows = {
        label: sources
        for label, sources in flattens.items()
        if any(s.endswith(("ToPredictionRows", "CarryOrScore")) for s in sources)
    }
    assert fed_by_rows == {}, fed_by_rows

    # Day 2: one image of 100 changed (another digit written over it).
    changed = images / "3" / sorted(os.listdir(images / "3"))[0]
    shutil.copy(images / "8" / sorted(os.listdir(images / "8"))[0], changed)
    os.utime(changed, (time.time() + 5, time.time() + 5))
    assert _score(images, demo_bundle.model, out, "day2") == 0
    second = read_local_run(str(out / "day2"))
    counters, counts = second["summary"]["beam_counters"], second["summary"]["counts"]
    assert (counters["read"], counters["bytes_read"]) == (1, changed.stat().st_size)
    assert counters["scored"] == 1 and counters["listed"] == 100
    assert counts["carried_over"] == 99 and counts["scored"] == 100
    rows = second["predictions"]
    assert sorted(r["uri"] for r in rows) == sorted(
        str(images / d / n) for d in os.listdir(images) for n in os.listdir(images / d)
    )
    assert [r["run_id"] for r in rows].count("day2") == 1
    assert any(f.startswith("predictions-carried-") for f in second["files"])
    check_summary_against_sklearn(second["summary"], rows, list(demo_bundle.meta.labels))
