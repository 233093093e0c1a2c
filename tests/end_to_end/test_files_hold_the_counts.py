"""A run is complete only when its files hold what it counted (run_folder/file_counts.py),
through real runs of the demo model, by either executor: a predictions sink that loses a
row (the real sink or table, wrapped by the test to drop one) and a Parquet part cut short
after the sinks ended and before the finishing step each fail the run, with no
`_SUCCESS`, the message naming the file and both counts; an untouched run records the
counts it verified."""

from __future__ import annotations

import json
import os

import apache_beam as beam
import pyarrow.parquet as pq
import pytest

from bucketscore.cli.main import main
from bucketscore.pipelines import graph, inline_run
from bucketscore.run_folder.table_files import ParquetTable
from bucketscore.transforms import finishing
from bucketscore.transforms.sinks import WritePredictions
from tests.support.helpers import copy_demo_subset

MARK = "the files do not hold what the run counted: "


def _score(demo_bundle, images, out, executor: str = "auto") -> int:
    argv = ["score", "--input", str(images), "--model", demo_bundle.model, "--output", str(out)]
    return main([*argv, "--run_id", "r", "--no_progress", "--executor", executor])


def _images(demo_bundle, tmp_path):
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)  # 10 images
    return images


def dropping(victim: str) -> type:
    """The real predictions sink, given every row but the one of image `victim` (the test's
    lossy sink: what a sink that loses records between its temporary and final files
    leaves)."""

    class DropOneRow(WritePredictions):
        def expand(self, rows):
            kept = rows | "LoseOneRow" >> beam.Filter(lambda row: row["uri"] != victim)
            return super().expand(kept)

    return DropOneRow


def dropping_table(victim: str) -> type:
    """The in-process executor's real Parquet table, losing the row of image `victim`."""

    class DropOneRow(ParquetTable):
        def write(self, row: dict) -> None:
            if row["uri"] != victim or "predicted_label" not in row:  # predictions only
                super().write(row)

    return DropOneRow


@pytest.mark.parametrize("executor", ["beam", "inline"])
def test_a_sink_that_drops_a_row_fails_the_run(
    demo_bundle, tmp_path, monkeypatch, capsys, executor
):
    images, out = _images(demo_bundle, tmp_path), tmp_path / "out"
    victim = str(images / "0" / sorted(os.listdir(images / "0"))[0])
    if executor == "beam":
        monkeypatch.setattr(graph, "WritePredictions", dropping(victim))
    else:
        monkeypatch.setattr(inline_run, "ParquetTable", dropping_table(victim))
    assert _score(demo_bundle, images, out, executor) != 0
    err = capsys.readouterr().err
    run = out / "r"
    part = run / "predictions-00000-of-00001.parquet"
    assert pq.ParquetFile(part).metadata.num_rows == 9  # the sink did lose it
    assert (
        f"{MARK}predictions files hold 9 rows but 10 images were scored in this run "
        f"({part}: 9)" in err
    )
    assert not (run / "_SUCCESS").exists() and not (out / "_state").exists()


@pytest.mark.parametrize("executor", ["beam", "inline"])
def test_a_parquet_part_cut_short_before_finishing_fails_the_run(
    demo_bundle, tmp_path, monkeypatch, capsys, executor
):
    images, out = _images(demo_bundle, tmp_path), tmp_path / "out"
    finishing_module = finishing if executor == "beam" else inline_run
    real_finish = finishing_module.finish_run
    cut = []

    def finish_after_a_loss(info, *args, **kwargs):
        # Every sink has written; the object index loses rows before the run is finished.
        part = os.path.join(info.run_uri, "objects-00000-of-00001.parquet")
        table = pq.read_table(part)
        pq.write_table(table.slice(0, table.num_rows - 3), part)
        cut.append(part)
        return real_finish(info, *args, **kwargs)

    monkeypatch.setattr(finishing_module, "finish_run", finish_after_a_loss)
    assert _score(demo_bundle, images, out, executor) != 0
    err = capsys.readouterr().err
    assert cut, "the finishing step ran"
    assert f"{MARK}objects files hold 7 rows but 10 images were listed ({cut[0]}: 7)" in err
    assert not (out / "r" / "_SUCCESS").exists()


def test_a_whole_run_records_what_its_files_hold(demo_bundle, tmp_path):
    images, out = _images(demo_bundle, tmp_path), tmp_path / "out"
    assert _score(demo_bundle, images, out) == 0
    summary = json.loads((out / "r" / "summary.json").read_text())
    assert summary["verified_files"] == {
        "predictions": {"rows": 10, "files": 2, "csv_rows": 10},
        "errors": {"rows": 0, "files": 1},
        "objects": {"rows": 10, "files": 1},
    }
    assert (out / "r" / "_SUCCESS").exists()
