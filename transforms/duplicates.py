"""Duplicate images in the pipeline: prediction rows grouped by the SHA-256 of their bytes
(run_folder/duplicates.py says what a group's rows are).

`FindDuplicates()` turns row collections into ONE element `{"rows": duplicates.csv rows,
"unhashed": rows without a hash, "grouped": rows that went into the grouping, "hashed":
rows with a hash}`. Only (hash, uri, label) tuples are grouped; the groups of one image
are dropped where they are formed.
"""

from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from bucketscore.run_folder.duplicates import group_rows, ordered

UNHASHED_TAG = "unhashed"


def _keyed(row: dict) -> Iterator:
    digest = row.get("sha256")
    if digest:
        yield (digest, (row["uri"], row.get("true_label")))
    else:  # a carried-over row of a base run written before hashes were kept
        yield beam.pvalue.TaggedOutput(UNHASHED_TAG, 1)


def _group(item) -> Iterator[dict]:
    digest, members = item
    members = list(members)
    # Every row that reached the grouping, counted where it leaves it: compared with the
    # rows that went in (Beam's local runner has lost elements going into large shuffles:
    # benchmarks/beam_join_loss.py), so a lost row is noticed, not silently missed.
    yield beam.pvalue.TaggedOutput("grouped", len(members))
    yield from group_rows(digest, members)


class FindDuplicates(beam.PTransform):
    """(rows, ...) -> ONE {"rows", "unhashed", "hashed", "grouped"} element."""

    def expand(self, row_sets):
        keyed, unhashed = [], []
        for i, rows in enumerate(row_sets):
            out = rows | f"KeyByHash{i}" >> beam.FlatMap(_keyed).with_outputs(
                UNHASHED_TAG, main="keyed"
            )
            keyed.append(out.keyed)
            unhashed.append(out[UNHASHED_TAG])
        pairs = tuple(keyed) | "AllHashed" >> beam.Flatten()
        groups = (
            pairs
            | "GroupByHash" >> beam.GroupByKey()
            | "Groups" >> beam.FlatMap(_group).with_outputs("grouped", main="rows")
        )
        hashed = pairs | "CountHashed" >> beam.combiners.Count.Globally()
        grouped = groups.grouped | "CountGrouped" >> beam.CombineGlobally(sum)
        not_hashed = (
            tuple(unhashed)
            | "AllUnhashed" >> beam.Flatten()
            | "CountUnhashed" >> beam.combiners.Count.Globally()
        )
        return (
            groups.rows
            | "AllDuplicates" >> beam.combiners.ToList()
            | "Assemble"
            >> beam.Map(
                lambda rows, hashed, grouped, unhashed: {
                    "rows": ordered(rows),
                    "hashed": hashed,
                    "grouped": grouped,
                    "unhashed": unhashed,
                },
                hashed=beam.pvalue.AsSingleton(hashed),
                grouped=beam.pvalue.AsSingleton(grouped),
                unhashed=beam.pvalue.AsSingleton(not_hashed),
            )
        )
