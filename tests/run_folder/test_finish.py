"""Finishing a run (run_folder.finish): the accounting check (a run whose rows do not add up
to what it listed fails and publishes nothing: the guard against elements lost inside a
runner, pipelines/workers.py INCREMENTAL_WORKERS), the documents finish_run writes with and
without `_SUCCESS`, complete_run (summary.json gets the Beam counters, then `_SUCCESS`, then
the incremental state pointer) and add_counters (`_SUCCESS` stays the last file written); on
local folders and SeaweedFS, and through real runs of the demo model."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from bucketscore.cli.main import main
from bucketscore.run_folder import accuracy, finish, state
from bucketscore.run_folder.finish import (
    RunFailed,
    RunInfo,
    add_counters,
    complete_run,
    finish_run,
)
from bucketscore.storage import uris
from tests.support.helpers import copy_demo_subset, write_file
from tests.support.storage_servers import unique_bucket_name

LABELS = ["cat", "dog"]


def _row(i: int) -> dict:
    return {
        "uri": f"/imgs/{i}.png",
        "true_label": "cat",
        "predicted_label": "cat",
        "confidence": 0.9,
        "correct": True,
        "top_k_labels": ["cat", "dog"],
        "top_k_scores": [0.9, 0.1],
        "below_threshold": False,
        "width": 8,
        "height": 8,
        "model_version": "v1",
        "run_id": "r1",
    }


def _info(run, out, **kw) -> RunInfo:
    return RunInfo(
        run_uri=str(run),
        run_id="r1",
        model_uri="/m",
        model_version="v1",
        model_name="m",
        labels=LABELS,
        top_k=2,
        arguments={"input": ["/imgs/"], "output": str(out), "labels": "folder"},
        code_version="test",
        started_at="2026-12-02T00:00:00+00:00",
        output_uri=str(out),
        **kw,
    )


def _scores(scored: int) -> dict:
    acc = accuracy.new_accumulator()
    for i in range(scored):
        acc = accuracy.add_row(acc, _row(i))
    return accuracy.summarise(acc, LABELS)


def _finish(tmp_path, listed: int, scored: int, failed: int = 0, carried: int = 0, **kw):
    out = tmp_path / "out"
    run = out / "r1"
    run.mkdir(parents=True)
    complete = kw.pop("complete", True)
    info = _info(run, out, **kw)
    return (
        run,
        out,
        finish_run(
            info,
            _scores(scored),
            listed=listed,
            failed=failed,
            missing=0,
            carried=carried,
            written=[],
            complete=complete,
        ),
    )


def test_rows_that_add_up_publish_the_run(tmp_path):
    run, out, summary = _finish(tmp_path, listed=5, scored=4, failed=1)
    assert summary["counts"]["listed"] == 5
    assert os.path.exists(run / "_SUCCESS")
    assert state.last_completed_run(str(out), "v1") is not None


@pytest.mark.parametrize("scored, failed", [(3, 1), (0, 0), (6, 0)])
def test_rows_that_do_not_add_up_fail_the_run_and_publish_nothing(tmp_path, scored, failed):
    with pytest.raises(
        RunFailed, match=f"accounting mismatch: 5 listed but {scored} scored \\+ {failed} failed"
    ):
        _finish(tmp_path, listed=5, scored=scored, failed=failed)
    assert not os.path.exists(tmp_path / "out" / "r1" / "_SUCCESS")
    assert state.last_completed_run(str(tmp_path / "out"), "v1") is None


DOCUMENTS = [
    "confusion_matrix.csv",
    "manifest.json",
    "per_class.csv",
    "report.html",
    "summary.json",
]
COUNTERS = {"scored": 4, "listed": 5, "failed": 1}


def _json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture()
def writes(monkeypatch):
    """The objects written through storage.uris, in the order they were written (the last
    two path parts of each). File times cannot order writes made within one clock tick of
    the file system; the real writes still happen."""
    order = []
    real = uris.write_bytes  # write_text writes through it too

    def record(uri, *args, **kwargs):
        order.append("/".join(str(uri).rstrip("/").split("/")[-2:]))
        return real(uri, *args, **kwargs)

    monkeypatch.setattr(uris, "write_bytes", record)
    return order


def test_a_complete_finish_writes_every_document_then_success_then_the_pointer(tmp_path, writes):
    run, out, summary = _finish(tmp_path, listed=5, scored=4, failed=1)
    assert sorted(os.listdir(run)) == sorted(DOCUMENTS + ["_SUCCESS"])
    assert _json(run / "summary.json") == summary
    assert "beam_counters" not in summary
    assert _json(run / "_SUCCESS") == {"run_id": "r1", "finished_at": summary["finished_at"]}
    assert _json(run / "manifest.json")["status"] == "complete"
    pointer = out / "_state" / "v1.json"
    assert _json(pointer) == {"run_id": "r1", "finished_at": summary["finished_at"]}
    assert sorted(writes[:-2]) == [f"r1/{n}" for n in DOCUMENTS]
    assert writes[-2:] == ["r1/_SUCCESS", "_state/v1.json"]


def test_finish_without_complete_writes_everything_but_success_and_the_pointer(tmp_path):
    run, out, summary = _finish(tmp_path, listed=5, scored=4, failed=1, complete=False)
    assert sorted(os.listdir(run)) == DOCUMENTS
    assert _json(run / "manifest.json")["status"] == "complete"
    assert _json(run / "summary.json")["counts"]["listed"] == 5
    assert not (out / "_state").exists()
    assert state.last_completed_run(str(out), "v1") is None


def test_complete_run_adds_the_counters_then_success_then_the_pointer(tmp_path, writes):
    run, out, summary = _finish(tmp_path, listed=5, scored=4, failed=1, complete=False)
    writes.clear()
    complete_run(_info(run, out), {"scored": 4, "listed": 5, "failed": 1})
    written = _json(run / "summary.json")
    assert list(written["beam_counters"].items()) == [("failed", 1), ("listed", 5), ("scored", 4)]
    assert {k: v for k, v in written.items() if k != "beam_counters"} == summary
    # _SUCCESS carries the summary's finished_at (not the time complete_run ran).
    assert _json(run / "_SUCCESS") == {"run_id": "r1", "finished_at": summary["finished_at"]}
    assert writes == ["r1/summary.json", "r1/_SUCCESS", "_state/v1.json"]
    assert state.last_completed_run(str(out), "v1") == str(run) + "/"


def test_complete_run_without_counters_still_completes(tmp_path, writes):
    run, out, summary = _finish(tmp_path, listed=5, scored=4, failed=1, complete=False)
    before = (run / "summary.json").read_bytes()
    writes.clear()
    complete_run(_info(run, out), {})
    assert writes == ["r1/_SUCCESS", "_state/v1.json"]
    assert (run / "summary.json").read_bytes() == before
    assert _json(run / "_SUCCESS")["finished_at"] == summary["finished_at"]
    assert state.last_completed_run(str(out), "v1") == str(run) + "/"


def test_a_run_that_failed_in_its_pipeline_is_never_completed(tmp_path):
    """The pipeline raised (here: more failed images than --max_error_ratio allows): the
    command does not call complete_run, and nothing of a completion is there."""
    with pytest.raises(RunFailed, match=r"3 of 5 images failed \(60.0% > --max_error_ratio 0.5\)"):
        _finish(tmp_path, listed=5, scored=2, failed=3, complete=False, max_error_ratio=0.5)
    run = tmp_path / "out" / "r1"
    assert "beam_counters" not in _json(run / "summary.json")
    assert _json(run / "manifest.json")["status"] == "failed"
    assert not (run / "_SUCCESS").exists() and not (tmp_path / "out" / "_state").exists()


def test_add_counters_rewrites_success_after_the_summary(tmp_path, writes):
    run, out, summary = _finish(tmp_path, listed=5, scored=4, failed=1)
    success = (run / "_SUCCESS").read_bytes()
    writes.clear()
    add_counters(_info(run, out), COUNTERS)
    assert _json(run / "summary.json")["beam_counters"] == COUNTERS
    assert (run / "_SUCCESS").read_bytes() == success  # the same marker, written again
    assert writes == ["r1/summary.json", "r1/_SUCCESS"]


@pytest.mark.parametrize("counters", [None, {}])
def test_add_counters_without_counters_changes_nothing(tmp_path, counters, writes):
    run, out, _summary = _finish(tmp_path, listed=5, scored=4, failed=1)
    before = {n: (run / n).read_bytes() for n in os.listdir(run)}
    writes.clear()
    add_counters(_info(run, out), counters)
    assert {n: (run / n).read_bytes() for n in os.listdir(run)} == before
    assert writes == []


def test_add_counters_on_a_run_without_success_changes_nothing(tmp_path, writes):
    run, out, _summary = _finish(tmp_path, listed=5, scored=4, failed=1, complete=False)
    before = (run / "summary.json").read_bytes()
    writes.clear()
    add_counters(_info(run, out), COUNTERS)
    assert writes == []
    assert (run / "summary.json").read_bytes() == before
    assert not (run / "_SUCCESS").exists()


def test_complete_run_and_add_counters_on_s3(s3_server):
    bucket = s3_server.create_bucket(unique_bucket_name("finish"))
    uris.set_options(s3_server.beam_options())
    out = f"s3://{bucket}/out"
    run = f"{out}/r1/"
    info = dataclasses.replace(_info(run, out), run_uri=run, output_uri=out)
    summary = finish_run(
        info, _scores(4), listed=5, failed=1, missing=0, carried=0, written=[], complete=False
    )
    client = s3_server.boto3_client()

    def keys():
        answer = client.list_objects_v2(Bucket=bucket, Prefix="out/")
        return sorted(o["Key"] for o in answer.get("Contents", []))

    assert keys() == [f"out/r1/{n}" for n in DOCUMENTS]
    complete_run(info, COUNTERS)
    assert keys() == sorted(
        [f"out/r1/{n}" for n in DOCUMENTS + ["_SUCCESS"]] + ["out/_state/v1.json"]
    )

    def read(key):
        return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())

    assert read("out/r1/summary.json")["beam_counters"] == COUNTERS
    assert read("out/r1/_SUCCESS") == {"run_id": "r1", "finished_at": summary["finished_at"]}
    assert read("out/_state/v1.json")["run_id"] == "r1"
    add_counters(info, {"scored": 9})
    assert read("out/r1/summary.json")["beam_counters"] == {"scored": 9}
    assert read("out/r1/_SUCCESS")["finished_at"] == summary["finished_at"]


# --------------------------------------------------------------------------------------
# Through the command: a local run the command waits for is completed by complete_run
# --------------------------------------------------------------------------------------
def _score(demo_bundle, images, out, run_id, *flags) -> int:
    argv = ["score", "--input", images, "--model", demo_bundle.model, "--output", out]
    return main([*argv, "--run_id", run_id, "--no_progress", *flags])


def test_a_local_run_gets_its_counters_then_success_then_the_pointer(demo_bundle, tmp_path, writes):
    images, out = str(tmp_path / "images"), tmp_path / "out"
    copy_demo_subset(demo_bundle.data, images, per_class=1)
    write_file(os.path.join(images, "3", "broken.png"), b"not a png")
    assert _score(demo_bundle, images, str(out), "ok") == 0
    run = out / "ok"
    summary = _json(run / "summary.json")
    counters = summary["beam_counters"]
    assert (counters["listed"], summary["counts"]["listed"]) == (11, 11)
    assert counters["failed"] == summary["counts"]["failed"] == 1
    assert _json(run / "_SUCCESS") == {"run_id": "ok", "finished_at": summary["finished_at"]}
    # The command completed it once the pipeline ended: counters, _SUCCESS, the pointer.
    version = demo_bundle.meta.version
    assert writes[-3:] == ["ok/summary.json", "ok/_SUCCESS", f"_state/{version}.json"]
    assert writes.count("ok/_SUCCESS") == 1
    model_version = demo_bundle.meta.version
    assert state.last_completed_run(str(out), model_version) == str(run) + "/"


def test_a_local_run_whose_pipeline_raised_is_not_completed(demo_bundle, tmp_path, capsys):
    images, out = str(tmp_path / "images"), tmp_path / "out"
    copy_demo_subset(demo_bundle.data, images, per_class=1)
    write_file(os.path.join(images, "3", "broken.png"), b"not a png")
    assert _score(demo_bundle, images, str(out), "bad", "--max_error_ratio", "0") != 0
    assert "1 of 11 images failed" in capsys.readouterr().err
    run = out / "bad"
    assert "beam_counters" not in _json(run / "summary.json")
    assert _json(run / "manifest.json")["status"] == "failed"
    assert not (run / "_SUCCESS").exists() and not (out / "_state").exists()


def _checks(**duplicates):
    found = {
        "rows": [],
        "unhashed": 0,
        "hashed": 10,
        "sketched": 10,
        "candidates": 4,
        "grouped": 4,
        **duplicates,
    }
    return {"suspects": {"rows": [], "count": 0, "unchecked": 0}, "duplicates": found}


def test_label_checks_sections_warn_when_the_duplicate_counts_disagree():
    summary: dict = {}
    assert finish.add_label_checks(summary, _checks(), top_k=5) == []
    assert summary["duplicates"]["groups"] == 0 and summary["suspect_labels"]["count"] == 0
    lost_in_grouping = finish.add_label_checks({}, _checks(grouped=3), top_k=5)
    assert lost_in_grouping == [
        "duplicates: 10 hashes sketched of 10 written, the grouping saw 3 of 4 candidates; "
        "duplicates.csv may be incomplete"
    ]
    short_sketch = finish.add_label_checks({}, _checks(sketched=9), top_k=5)
    assert "9 hashes sketched of 10 written" in short_sketch[0]
    assert finish.add_label_checks({}, None, top_k=5) == []
