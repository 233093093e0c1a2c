"""transforms/label_checks.py: the written prediction files read back and judged give what
judging every row with run_folder.suspects and grouping every hash with
run_folder.duplicates gives (the reference), over several files and row groups; CSV names
among the files are skipped."""

from __future__ import annotations

import hashlib
import random

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.run_folder.duplicates import group_rows
from bucketscore.run_folder.duplicates import ordered as ordered_duplicates
from bucketscore.run_folder.schemas import PREDICTIONS_SCHEMA
from bucketscore.run_folder.suspects import judge, ordered
from bucketscore.transforms import label_checks
from bucketscore.transforms.duplicates import SketchHashes

LABELS = ["a", "b", "c", "d"]
THRESHOLDS = {"a": 0.7, "b": 0.6, "c": 0.5, "d": 0.4}


def _rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        p = [rng.random() for _ in LABELS]
        p = [x / sum(p) for x in p]
        given = rng.choice(LABELS + [None])  # some unlabelled
        order = sorted(range(len(LABELS)), key=lambda j: -p[j])[:2]
        copy_of = i % 50 if i % 17 == 0 else i  # planted copies: the same bytes again
        rows.append(
            {
                "uri": f"s3://b/{seed}/{i:05d}.png",
                "true_label": given,
                "true_label_score": None if given is None else p[LABELS.index(given)],
                "top_k_labels": [LABELS[j] for j in order],
                "top_k_scores": [p[j] for j in order],
                "sha256": None
                if i % 97 == 5  # carried from a base run written before hashes were kept
                else hashlib.sha256(f"{seed}-{copy_of}".encode()).hexdigest(),
            }
        )
    return rows


def _write(path, rows, row_group_size):
    table = pa.Table.from_pylist(rows, schema=PREDICTIONS_SCHEMA)
    pq.write_table(table, path, row_group_size=row_group_size)
    return pq.read_table(path).to_pylist()  # as written (float32 scores)


def test_written_rows_are_judged_and_grouped_as_the_reference(tmp_path, monkeypatch):
    monkeypatch.setattr(label_checks, "ROWS_PER_BATCH", 100)  # several batches per group
    scored, carried = _rows(2500, 1), _rows(700, 1)[:0] + _rows(700, 2)
    files = [str(tmp_path / "predictions-00000-of-00001.parquet"), str(tmp_path / "c.parquet")]
    written = _write(files[0], scored, 1000) + _write(files[1], carried, 300)
    judged = [judge(r, THRESHOLDS) for r in written]
    suspects = ordered(rec for rec, _u in judged if rec is not None)
    by_hash = {}
    for r in written:
        if r["sha256"]:
            by_hash.setdefault(r["sha256"], []).append((r["uri"], r["true_label"]))
    duplicates = ordered_duplicates(row for h, m in by_hash.items() for row in group_rows(h, m))
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
