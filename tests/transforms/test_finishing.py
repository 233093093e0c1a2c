"""transforms.finishing.FinishRun in a TestPipeline, with its counts as side inputs as the
scoring graph gives them: it writes the run folder (summary, tables, report, manifest,
`_SUCCESS` last, the incremental pointer); complete=False writes no `_SUCCESS`; a broken
account fails the pipeline; launch values are resolved when it runs."""

from __future__ import annotations

import json
import os

import apache_beam as beam
import pytest
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.testing.test_pipeline import TestPipeline

from bucketscore.run_folder.finish import RunInfo
from bucketscore.transforms.finishing import FinishRun, resolved
from bucketscore.transforms.launch_values import Derived, run_uri
from bucketscore.transforms.summarising import SummaryFn

LABELS = ["cat", "dog"]
ROWS = [
    {"uri": "s3://b/in/cat/1.png", "true_label": "cat", "predicted_label": "cat",
     "confidence": 0.9, "correct": True, "top_k_labels": ["cat", "dog"],
     "top_k_scores": [0.9, 0.1], "below_threshold": False, "width": 8, "height": 8,
     "model_version": "v1", "run_id": "r1"},
    {"uri": "s3://b/in/cat/2.png", "true_label": "cat", "predicted_label": "dog",
     "confidence": 0.6, "correct": False, "top_k_labels": ["dog", "cat"],
     "top_k_scores": [0.6, 0.4], "below_threshold": False, "width": 8, "height": 8,
     "model_version": "v1", "run_id": "r1"},
]  # fmt: skip


def _info(output: str, run_id="r1", **change) -> RunInfo:
    """A run under `output`, its run folder and id given as launch values (a template)."""
    info = RunInfo(
        run_uri=Derived(run_uri, output, StaticValueProvider(str, run_id)),
        run_id=StaticValueProvider(str, run_id),
        model_uri="models/m",
        model_version="v1",
        model_name="m",
        labels=LABELS,
        top_k=2,
        arguments={"input": ["s3://b/in/"], "labels": "folder"},
        code_version="test",
        started_at="2026-01-02T03:04:05+00:00",
        output_uri=output,
    )
    for k, v in change.items():
        setattr(info, k, v)
    return info


def _finish(info: RunInfo, listed: int, failed: int, complete: bool = True) -> None:
    with TestPipeline() as p:
        scores = p | "Rows" >> beam.Create(ROWS) | beam.CombineGlobally(SummaryFn(LABELS))
        # No sink ran: no files to count (run_folder/file_counts.py has its own tests).
        written = p | "Written" >> beam.Create([])
        (
            p
            | "Once" >> beam.Create([None])
            | beam.ParDo(
                FinishRun(info, complete=complete),
                scores=beam.pvalue.AsSingleton(scores),
                listed=beam.pvalue.AsSingleton(p | "Listed" >> beam.Create([listed])),
                failed=beam.pvalue.AsSingleton(p | "Failed" >> beam.Create([failed])),
                missing=beam.pvalue.AsSingleton(p | "Missing" >> beam.Create([0])),
                carried=beam.pvalue.AsSingleton(p | "Carried" >> beam.Create([0])),
                written=beam.pvalue.AsList(written),
            )
        )


def test_the_run_folder_is_written_with_success_last(tmp_path):
    output = str(tmp_path / "out")
    _finish(_info(output), listed=3, failed=1)
    run = os.path.join(output, "r1")
    assert sorted(os.listdir(run)) == [
        "_SUCCESS",
        "confusion_matrix.csv",
        "manifest.json",
        "per_class.csv",
        "report.html",
        "summary.json",
    ]
    with open(os.path.join(run, "summary.json")) as f:
        summary = json.load(f)
    assert summary["run_id"] == "r1"  # the launch value, resolved
    c = summary["counts"]
    assert (c["listed"], c["scored"], c["failed"], c["labelled"]) == (3, 2, 1, 2)
    assert summary["accuracy"] == 0.5  # one of the two labelled rows is right
    assert summary["confusion_matrix"]["matrix"] == [[1, 1], [0, 0]]
    with open(os.path.join(run, "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["status"] == "complete"
    with open(os.path.join(run, "_SUCCESS")) as f:
        success = json.load(f)
    assert success == {"run_id": "r1", "finished_at": summary["finished_at"]}
    mtime = {n: os.stat(os.path.join(run, n)).st_mtime_ns for n in os.listdir(run)}
    assert mtime["_SUCCESS"] == max(mtime.values())  # written last
    # The next --incremental run with model v1 builds on this one.
    with open(os.path.join(output, "_state", "v1.json")) as f:
        assert json.load(f)["run_id"] == "r1"


def test_complete_false_leaves_success_to_the_command(tmp_path):
    output = str(tmp_path / "out")
    _finish(_info(output), listed=2, failed=0, complete=False)
    run = os.path.join(output, "r1")
    names = os.listdir(run)
    assert "summary.json" in names and "manifest.json" in names and "report.html" in names
    assert "_SUCCESS" not in names
    assert not os.path.exists(os.path.join(output, "_state"))


def test_a_broken_account_fails_the_pipeline_without_success(tmp_path):
    output = str(tmp_path / "out")
    with pytest.raises(Exception, match="accounting mismatch: 5 listed but 2 scored \\+ 1 failed"):
        _finish(_info(output), listed=5, failed=1)
    run = os.path.join(output, "r1")
    assert not os.path.exists(os.path.join(run, "_SUCCESS"))
    assert not os.path.exists(os.path.join(run, "summary.json"))


def test_too_many_failures_fail_the_run_with_its_report(tmp_path):
    output = str(tmp_path / "out")
    with pytest.raises(Exception, match="1 of 3 images failed"):
        _finish(_info(output, max_error_ratio=0.2), listed=3, failed=1)
    run = os.path.join(output, "r1")
    assert "report.html" in os.listdir(run) and "_SUCCESS" not in os.listdir(run)
    with open(os.path.join(run, "manifest.json")) as f:
        assert json.load(f)["status"] == "failed"


def test_resolved_reads_every_launch_value():
    info = _info("gs://r/out", run_id="nightly")
    info.arguments = {"input": StaticValueProvider(str, "gs://b/in/"), "top_k": 2}
    plain = resolved(info)
    assert plain.run_uri == "gs://r/out/nightly/"
    assert (plain.run_id, plain.output_uri) == ("nightly", "gs://r/out")
    assert plain.arguments == {"input": "gs://b/in/", "top_k": 2}
    assert info.run_id.get() == "nightly"  # the original is left as it was
    assert isinstance(info.arguments["input"], StaticValueProvider)
