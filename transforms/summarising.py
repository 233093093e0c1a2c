"""The run's accuracy summary, computed in the pipeline by a CombineFn over prediction rows.

A thin Beam layer over `bucketscore.run_folder.accuracy`, which holds the accumulator and
the formulas (and says which rows count). `SummariseRows` gives one summary over two
collections of rows (scored, carried over) without a Flatten of rows: each is accumulated
apart, and only the two accumulators meet.
"""

from __future__ import annotations

from typing import Sequence

import apache_beam as beam

from bucketscore.run_folder import accuracy


class SummaryFn(beam.CombineFn):
    """prediction rows -> summary dict (counts, accuracy, per-class table, confusion matrix)."""

    def __init__(self, labels: Sequence[str]):
        self._labels = list(labels)
        self._known = set(labels)

    def create_accumulator(self) -> dict:
        return accuracy.new_accumulator()

    def add_input(self, acc: dict, row: dict) -> dict:
        return accuracy.add_row(acc, row, self._known)

    def merge_accumulators(self, accumulators) -> dict:
        return accuracy.merge(accumulators)

    def extract_output(self, acc: dict) -> dict:
        return accuracy.summarise(acc, self._labels)


class _AccumulateFn(SummaryFn):
    """prediction rows -> their accuracy accumulator (merged with others' afterwards)."""

    def extract_output(self, acc: dict) -> dict:
        return acc


class _MergeSummaries(beam.CombineFn):
    """Accumulators of run_folder.accuracy -> one summary dict."""

    def __init__(self, labels: Sequence[str]):
        self._labels = list(labels)

    def create_accumulator(self) -> dict:
        return accuracy.new_accumulator()

    def add_input(self, acc: dict, other: dict) -> dict:
        return accuracy.merge([acc, other])

    def merge_accumulators(self, accumulators) -> dict:
        return accuracy.merge(accumulators)

    def extract_output(self, acc: dict) -> dict:
        return accuracy.summarise(acc, self._labels)


class SummariseRows(beam.PTransform):
    """(scored rows, carried rows) -> ONE summary dict over both, as SummaryFn would give
    over their union."""

    def __init__(self, labels: Sequence[str]):
        super().__init__()
        self._labels = list(labels)

    def expand(self, pcolls):
        scored, carried = pcolls
        parts = [
            rows | f"Accumulate{name}" >> beam.CombineGlobally(_AccumulateFn(self._labels))
            for name, rows in (("Scored", scored), ("Carried", carried))
        ]
        return (
            tuple(parts)
            | "BothAccumulators" >> beam.Flatten()
            | "Merge" >> beam.CombineGlobally(_MergeSummaries(self._labels))
        )
