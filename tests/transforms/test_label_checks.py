"""transforms/label_checks.py: the written prediction files read back and judged give what
judging every row with run_folder.suspects and grouping every hash with
run_folder.duplicates gives (the reference), over several files and row groups; CSV names
among the files are skipped."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.run_folder.duplicates import group_rows
from bucketscore.run_folder.duplicates import ordered as ordered_duplicates
from bucketscore.run_folder.suspects import judge, ordered
from bucketscore.transforms import label_checks
from bucketscore.transforms.duplicates import SketchHashes
from tests.support.prediction_files import THRESHOLDS, prediction_rows, write_predictions


def test_written_rows_are_judged_and_grouped_as_the_reference(tmp_path, monkeypatch):
    monkeypatch.setattr(label_checks, "ROWS_PER_BATCH", 100)  # several batches per group
    scored, carried = prediction_rows(2500, 1), prediction_rows(700, 2)
    files = [str(tmp_path / "predictions-00000-of-00001.parquet"), str(tmp_path / "c.parquet")]
    written = write_predictions(files[0], scored, 1000) + write_predictions(files[1], carried, 300)
    judged = [judge(r, THRESHOLDS) for r in written]
    suspects = ordered(rec for rec, _u in judged if rec is not None)
    by_hash = {}
    for r in written:
        if r["sha256"]:
            by_hash.setdefault(r["sha256"], []).append((r["uri"], r["true_label"]))
    duplicates = ordered_duplicates(r for h, m in by_hash.items() for r in group_rows(h, m))
    hashed = sum(1 for r in written if r["sha256"])
    assert len(suspects) > 50 and duplicates and any(u for _r, u in judged) is not None
    with TestPipeline() as p:
        names = p | "Files" >> beam.Create(files + [str(tmp_path / "predictions.csv")])
        summary = p | "Summary" >> beam.Create([{"true_label_score_means": THRESHOLDS}])
        sketch = (p | "Rows" >> beam.Create(written),) | SketchHashes()
        found = (names, summary, sketch) | label_checks.CheckWrittenRows(40, shown=0)
        assert_that(
            found | beam.Map(lambda f: (f["suspects"]["rows"], f["suspects"]["count"])),
            equal_to([(suspects[:40], len(suspects))]),
            label="Suspects",
        )
        assert_that(
            found | beam.Map(lambda f: f["suspects"]["unchecked"]),
            equal_to([sum(u for _r, u in judged)]),
            label="Unchecked",
        )
        assert_that(
            found | beam.Map(lambda f: f["duplicates"]),
            equal_to(
                [
                    {
                        "rows": duplicates,
                        "hashed": hashed,
                        "unhashed": len(written) - hashed,
                        "sketched": hashed,
                        "candidates": sum(len(m) for m in by_hash.values() if len(m) > 1),
                        "grouped": sum(len(m) for m in by_hash.values() if len(m) > 1),
                    }
                ]
            ),
            label="Duplicates",
        )
