"""transforms/duplicates.py: rows grouped by their bytes' hash, as run_folder.duplicates
groups them (the reference), across scored and carried-over rows."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.run_folder.duplicates import group_rows, ordered
from bucketscore.transforms.duplicates import FindDuplicates


def _row(uri, digest, label="x"):
    return {"uri": uri, "sha256": digest, "true_label": label}


def test_groups_across_both_collections_and_counts_what_has_no_hash():
    scored = [_row(f"s{i}", f"h{i % 7}") for i in range(20)] + [_row("lone", "unique")]
    carried = [_row("c1", "h0", "y"), _row("old", None)]
    by_hash = {}
    for r in scored + carried:
        if r["sha256"]:
            by_hash.setdefault(r["sha256"], []).append((r["uri"], r["true_label"]))
    reference = ordered(row for h, m in by_hash.items() for row in group_rows(h, m))
    assert any(r["labels_differ"] for r in reference)
    with TestPipeline() as p:
        a = p | "Scored" >> beam.Create(scored)
        b = p | "Carried" >> beam.Create(carried)
        found = (a, b) | FindDuplicates()
        assert_that(
            found,
            equal_to([{"rows": reference, "hashed": 22, "grouped": 22, "unhashed": 1}]),
        )


def test_no_duplicates_gives_no_rows():
    with TestPipeline() as p:
        found = (p | beam.Create([_row("a", "1"), _row("b", "2")]),) | FindDuplicates()
        assert_that(found, equal_to([{"rows": [], "hashed": 2, "grouped": 2, "unhashed": 0}]))
