"""pipelines.graph: build_pipeline(p, plan) on plans made with plan() (a plain, an incremental,
an embeddings and a CSV-labels run), visited without running: each run has the steps it
needs and only those, and no Flatten takes prediction rows (docs/decisions.md, "No Flatten of
prediction rows")."""

from __future__ import annotations

import apache_beam as beam
import pyarrow.parquet as pq
import pytest

from bucketscore.bundle.label_sources import LabelSource
from bucketscore.pipelines.graph import build_pipeline
from bucketscore.pipelines.options import ScoreConfig
from bucketscore.pipelines.plan import plan
from bucketscore.run_folder.schemas import OBJECTS_SCHEMA, PREDICTIONS_SCHEMA
from bucketscore.run_folder.state import write_pointer
from bucketscore.transforms.carry_over import CARRIED_TAG
from tests.support.helpers import copy_demo_subset

# The steps of every scoring run (top-level transforms, as pipelines/graph.py names them).
EVERY_RUN = {
    "ListImages",
    "AttachLabels",
    "ReadBytes",
    "Decode",
    "Infer",
    "ToPredictionRows",
    "WritePredictions",
    "WriteErrors",
    "WriteObjectIndex",
    "Summarise",
    "CollectReportItems",
    "FinishRun",
}
# The steps only some runs have, and the option (or base run) that brings each.
OPTIONAL = {
    "CarryOverUnchanged": "base run",
    "WriteCarriedPredictions": "base run",
    "WriteEmbeddings": "--embeddings",
    "CsvRowsWithoutImage": "--labels csv",
    "PrepareRunFolder": "template",
}


class _Graph(beam.pipeline.PipelineVisitor):
    """The top-level steps of a pipeline, its Flattens (label -> input collections), and
    the collections of prediction rows (scored, and carried over)."""

    def __init__(self):
        self.steps: set[str] = set()
        self.flattens: dict[str, list] = {}
        self.row_collections: list = []

    def _note(self, node):
        if node.parent is not None and node.parent.parent is None:  # below the root
            self.steps.add(node.full_label)

    def enter_composite_transform(self, node):
        self._note(node)

    def visit_transform(self, node):
        self._note(node)
        if isinstance(node.transform, beam.Flatten):
            self.flattens[node.full_label] = list(node.inputs)
        if node.full_label == "ToPredictionRows":
            self.row_collections += list(node.outputs.values())
        if node.full_label.startswith("CarryOverUnchanged/CarryOrScore"):
            self.row_collections.append(node.outputs[CARRIED_TAG])


def graph_of(run_plan) -> _Graph:
    p = beam.Pipeline()
    build_pipeline(p, run_plan)
    graph = _Graph()
    p.visit(graph)
    return graph


def completed_base_run(out, version: str) -> str:
    """The files of a completed run that an --incremental run reads (no rows: the graph is
    only built), its _SUCCESS and the state pointer."""
    run = out / "day1"
    run.mkdir(parents=True)
    pq.write_table(OBJECTS_SCHEMA.empty_table(), run / "objects-00000-of-00001.parquet")
    pq.write_table(PREDICTIONS_SCHEMA.empty_table(), run / "predictions-00000-of-00001.parquet")
    (run / "_SUCCESS").write_text("{}\n")
    write_pointer(str(out), version, "day1", "2026-11-01T00:00:00+00:00")
    return f"{run}/"


@pytest.fixture
def config(demo_bundle, tmp_path):
    """ScoreConfig of a run on 10 demo images, with the options given."""
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    (tmp_path / "labels.csv").write_text("path,label\n0/x.png,0\n")

    def make(**options):
        return ScoreConfig(
            inputs=(str(images),),
            model=demo_bundle.model,
            output=str(tmp_path / "out"),
            run_id="r",
            **options,
        )

    return make


@pytest.mark.parametrize(
    "options,brings",
    [
        ({}, set()),
        ({"incremental": True}, {"base run"}),
        ({"embeddings": True}, {"--embeddings"}),
        ({"labels": "csv"}, {"--labels csv"}),
    ],
    ids=["plain", "incremental", "embeddings", "csv-labels"],
)
def test_each_run_has_the_steps_it_needs_and_no_flatten_of_rows(
    demo_bundle, config, tmp_path, options, brings
):
    if options.get("labels") == "csv":
        options = {"labels": LabelSource("csv", str(tmp_path / "labels.csv"))}
    if options.get("incremental"):
        base = completed_base_run(tmp_path / "out", demo_bundle.meta.version)
    run_plan = plan(config(**options))
    if options.get("incremental"):
        assert run_plan.base_run == base
    graph = graph_of(run_plan)

    assert EVERY_RUN <= graph.steps
    present = {step for step, why in OPTIONAL.items() if why in brings}
    absent = set(OPTIONAL) - present
    assert present <= graph.steps, present - graph.steps
    assert not absent & graph.steps, absent & graph.steps

    # The rule: prediction rows (scored or carried over) never go into a Flatten.
    expected_row_collections = 2 if "base run" in brings else 1
    assert len(graph.row_collections) == expected_row_collections
    for label, inputs in graph.flattens.items():
        assert not [pc for pc in inputs if pc in graph.row_collections], label
        producers = [pc.producer.full_label for pc in inputs]
        assert not [s for s in producers if s.startswith("ToPredictionRows")], label


def test_an_incremental_run_with_nothing_to_build_on_carries_nothing(config):
    run_plan = plan(config(incremental=True))
    assert run_plan.base_run is None
    graph = graph_of(run_plan)
    assert EVERY_RUN <= graph.steps
    assert not {"CarryOverUnchanged", "WriteCarriedPredictions"} & graph.steps
