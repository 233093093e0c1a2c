"""The run's accuracy summary, computed in the pipeline by a CombineFn over prediction rows.

A thin Beam layer over `bucketscore.run_folder.accuracy`, which holds the accumulator and
the formulas (and says which rows count).
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
