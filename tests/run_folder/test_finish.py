"""The accounting check in run_folder.finish: a run whose rows do not add up to what it
listed fails and publishes nothing (no `_SUCCESS`, no incremental state pointer). This is
the guard against elements lost inside a runner (pipelines/workers.py INCREMENTAL_WORKERS)."""

from __future__ import annotations

import os

import pytest

from bucketscore.run_folder import accuracy, state
from bucketscore.run_folder.finish import RunFailed, RunInfo, finish_run

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


def _finish(tmp_path, listed: int, scored: int, failed: int = 0, carried: int = 0):
    out = tmp_path / "out"
    run = out / "r1"
    run.mkdir(parents=True)
    info = RunInfo(
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
    )
    acc = accuracy.new_accumulator()
    for i in range(scored):
        acc = accuracy.add_row(acc, _row(i))
    scores = accuracy.summarise(acc, LABELS)
    return (
        run,
        out,
        finish_run(
            info, scores, listed=listed, failed=failed, missing=0, carried=carried, written=[]
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
