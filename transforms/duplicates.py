"""Duplicate images in the pipeline: rows grouped by the SHA-256 of their bytes
(run_folder/duplicates.py says what a group's rows are).

`SketchHashes()`: row collections -> ONE `RepeatSketch` of their hashes (a combine: each
worker sketches its rows, the sketches are merged). transforms/label_checks.py sends only
the rows whose hash the sketch says may repeat to `GroupCandidates()`: (sha256, (uri, true
label)) pairs -> ONE (duplicates.csv rows, how many candidates came out of the grouping).
Grouping only the candidates keeps the local runner's grouping table (held in memory)
small.
"""

from __future__ import annotations

import apache_beam as beam

from bucketscore.run_folder.duplicates import RepeatSketch, group_rows


class _SketchFn(beam.CombineFn):
    """rows (dicts with `sha256`, None when not hashed) -> RepeatSketch."""

    def create_accumulator(self) -> RepeatSketch:
        return RepeatSketch()

    def add_input(self, sketch: RepeatSketch, row: dict) -> RepeatSketch:
        digest = row.get("sha256")
        return sketch.add(digest) if digest else sketch

    def merge_accumulators(self, sketches) -> RepeatSketch:
        sketches = iter(sketches)
        merged = next(sketches)
        for other in sketches:
            merged.merge(other)
        return merged

    def extract_output(self, sketch: RepeatSketch) -> RepeatSketch:
        return sketch


class _MergeSketchesFn(_SketchFn):
    """RepeatSketches -> their merge (a position in two is seen twice)."""

    def add_input(self, sketch: RepeatSketch, other: RepeatSketch) -> RepeatSketch:
        return sketch.merge(other)


class SketchHashes(beam.PTransform):
    """(rows, ...) -> ONE RepeatSketch of every row's hash. Each collection is sketched
    where it is made and only the sketches meet: no Flatten of rows (docs/decisions.md,
    "No Flatten of prediction rows")."""

    def expand(self, row_sets):
        sketches = [
            rows | f"Sketch{i}" >> beam.CombineGlobally(_SketchFn())
            for i, rows in enumerate(row_sets)
        ]
        if len(sketches) == 1:
            return sketches[0]
        return (
            tuple(sketches)
            | "AllSketches" >> beam.Flatten()
            | "MergeSketches" >> beam.CombineGlobally(_MergeSketchesFn())
        )


def _group(item) -> tuple:
    """(sha256, members) -> (its duplicates.csv rows, how many members)."""
    digest, members = item
    members = list(members)
    return group_rows(digest, members), len(members)


def _concat(groups) -> tuple:
    """(rows, count) pairs -> (all rows, the counts' sum)."""
    rows, count = [], 0
    for some, n in groups:
        rows.extend(some)
        count += n
    return rows, count


class GroupCandidates(beam.PTransform):
    """(sha256, (uri, true label)) -> ONE (duplicates.csv rows, candidates grouped). Every
    candidate is counted where it leaves the grouping, to be compared with those that went
    in (Beam's local runner has lost elements going into large shuffles:
    benchmarks/beam_join_loss.py), so a lost row is noticed, not silently missed."""

    def expand(self, candidates):
        return (
            candidates
            | "GroupByHash" >> beam.GroupByKey()
            | "Groups" >> beam.Map(_group)
            # _concat's result is again a (rows, count) pair: partial results merge.
            | "AllGroups" >> beam.CombineGlobally(_concat)
        )
