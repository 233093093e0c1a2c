"""transforms.carry_over.CarryOverUnchanged in a pipeline, against a base run folder written
here with pyarrow (its object index and prediction rows): unchanged images carry their row
with the current label; changed, new and failed-last-time images are scored."""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.run_folder.schemas import OBJECTS_SCHEMA, PREDICTIONS_SCHEMA
from bucketscore.transforms.carry_over import CarryOverUnchanged
from bucketscore.transforms.records import ListedImage

IN = "s3://b/in/"


def _row(name, predicted, true, run_id="base-run"):
    return {
        "uri": IN + name,
        "true_label": true,
        "predicted_label": predicted,
        "confidence": 0.875,
        "correct": None if true is None else predicted == true,
        "top_k_labels": [predicted or "cat", "dog"],
        "top_k_scores": [0.875, 0.125],
        "below_threshold": predicted is None,
        "width": 32,
        "height": 24,
        "model_version": "v1",
        "run_id": run_id,
        "true_label_score": None,
        "sha256": None,
    }


@pytest.fixture
def base_run(tmp_path) -> str:
    """What the base run listed (five images) and scored (four: failed.png failed), in three
    files as a run may write them."""
    run = tmp_path / "base-run"
    run.mkdir()
    listed = [
        ("same.png", 100, 1000.5),
        ("relabelled.png", 200, 2000.0),
        ("resized.png", 300, 3000.0),
        ("touched.png", 400, 4000.0),
        ("failed.png", 500, 5000.0),
    ]
    objects = pa.Table.from_pylist(
        [{"uri": IN + n, "size": s, "mtime": m} for n, s, m in listed], schema=OBJECTS_SCHEMA
    )
    pq.write_table(objects, run / "objects-00000-of-00001.parquet")
    rows = [
        _row("same.png", "cat", "cat"),
        _row("relabelled.png", "cat", "cat"),
        _row("resized.png", "dog", "dog"),
        _row("touched.png", None, "dog"),
    ]
    # The base run was incremental itself: same.png's row is one it carried over.
    for name, part in (
        ("predictions-carried-00000-of-00001.parquet", rows[:1]),
        ("predictions-00000-of-00002.parquet", rows[1:2]),
        ("predictions-00001-of-00002.parquet", rows[2:]),
    ):
        pq.write_table(pa.Table.from_pylist(part, schema=PREDICTIONS_SCHEMA), run / name)
    (run / "predictions-00000-of-00002.csv").write_text("not read: parquet is\n")
    return str(run) + "/"


def _carried_key(row):
    return (row["uri"].rsplit("/", 1)[1], row["true_label"], row["correct"], row["run_id"])


def test_unchanged_rows_are_carried_and_the_rest_scored(base_run):
    current = [
        ListedImage(IN + "same.png", IN, size=100, mtime=1000.5, true_label="cat"),
        ListedImage(IN + "relabelled.png", IN, size=200, mtime=2000.0, true_label="dog"),
        ListedImage(IN + "resized.png", IN, size=301, mtime=3000.0, true_label="dog"),
        ListedImage(IN + "touched.png", IN, size=400, mtime=4000.5, true_label="dog"),
        ListedImage(IN + "failed.png", IN, size=500, mtime=5000.0, true_label="cat"),
        ListedImage(IN + "new.png", IN, size=600, mtime=6000.0, true_label=None),
    ]
    with TestPipeline() as p:
        to_score, carried = p | beam.Create(current) | CarryOverUnchanged(base_run)
        assert_that(
            to_score | beam.Map(lambda i: i.uri.rsplit("/", 1)[1]),
            equal_to(["resized.png", "touched.png", "failed.png", "new.png"]),
            label="scored",
        )
        assert_that(
            carried | beam.Map(_carried_key),
            equal_to(
                [
                    ("same.png", "cat", True, "base-run"),
                    # The row keeps its prediction and run id; label and correctness are now's.
                    ("relabelled.png", "dog", False, "base-run"),
                ]
            ),
            label="carried",
        )


def test_the_carried_row_is_the_base_row_otherwise(base_run):
    current = [ListedImage(IN + "same.png", IN, size=100, mtime=1000.5, true_label=None)]
    want = dict(_row("same.png", "cat", None))
    want["confidence"] = pytest.approx(0.875)
    want["top_k_scores"] = [pytest.approx(0.875), pytest.approx(0.125)]

    def check(rows):
        assert rows == [want]

    with TestPipeline() as p:
        to_score, carried = p | beam.Create(current) | CarryOverUnchanged(base_run)
        assert_that(carried, check, label="carried")
        assert_that(to_score, equal_to([]), label="scored")
