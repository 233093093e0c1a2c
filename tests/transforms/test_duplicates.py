"""transforms/duplicates.py: the sketch of every row's hash, and candidates grouped by hash
as run_folder.duplicates groups them (the reference), with the counts the finishing step
compares."""

from __future__ import annotations

import hashlib

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.run_folder.duplicates import group_rows, ordered
from bucketscore.transforms.duplicates import GroupCandidates, SketchHashes


def _row(uri, digest, label="x"):
    return {"uri": uri, "sha256": digest, "true_label": label}


def _h(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def test_the_sketch_covers_both_collections():
    scored = [_row(f"s{i}", _h(i % 7)) for i in range(20)] + [_row("one", _h(7))]
    carried = [_row("c1", _h(0), "y"), _row("old", None)]
    with TestPipeline() as p:
        a = p | "Scored" >> beam.Create(scored)
        b = p | "Carried" >> beam.Create(carried)
        sketch = (a, b) | SketchHashes()
        assert_that(
            sketch | beam.Map(lambda s: (s.count, [s.may_repeat(_h(i)) for i in range(9)])),
            equal_to([(22, [True] * 7 + [False] * 2)]),
        )


def test_candidates_are_grouped_as_the_reference_and_counted():
    candidates = [(f"h{i % 4}", (f"u{i}", "cat" if i % 3 else "dog")) for i in range(11)]
    candidates.append(("lone", ("u-lone", "cat")))  # a candidate seen once: no group
    members = {}
    for digest, member in candidates:
        members.setdefault(digest, []).append(member)
    reference = ordered(row for h, m in members.items() for row in group_rows(h, m))
    with TestPipeline() as p:
        found = p | beam.Create(candidates) | GroupCandidates()
        assert_that(found | beam.Map(lambda f: (ordered(f[0]), f[1])), equal_to([(reference, 12)]))


def test_no_candidates_give_no_rows():
    with TestPipeline() as p:
        found = p | beam.Create([]) | GroupCandidates()
        assert_that(found, equal_to([([], 0)]))
