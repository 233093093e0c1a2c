"""transforms/suspect_labels.py: the largest margins kept (as run_folder.suspects orders
them, the reference), and the element the finishing step gets."""

from __future__ import annotations

import random

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.run_folder.suspects import as_tuple, ordered
from bucketscore.transforms.suspect_labels import LargestMargins, found


def _records(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        given, suggested = rng.random() * 0.5, 0.5 + rng.random() * 0.5
        out.append(
            {
                "uri": f"s3://b/{seed}/{i:04d}.png",
                "given_label": "a",
                "suggested_label": "b",
                "given_score": given,
                "suggested_score": suggested,
                "margin": round(suggested - given, 2),  # ties: the URI decides
            }
        )
    return out


def test_the_largest_margins_are_kept():
    records = _records(300, 1)
    with TestPipeline() as p:
        kept = p | beam.Create([as_tuple(r) for r in records]) | LargestMargins(20)
        assert_that(
            kept | beam.Map(lambda k: found(k, 300, 7, shown=0)),
            equal_to([{"rows": ordered(records)[:20], "count": 300, "unchecked": 7, "shown": []}]),
        )


def test_no_suspects_keep_an_empty_list():
    with TestPipeline() as p:
        kept = p | beam.Create([]) | LargestMargins(5)
        assert_that(kept, equal_to([[]]))


def test_shown_suspects_get_a_thumbnail_entry():
    kept = [as_tuple(r) for r in _records(10, 2)]
    shown = found(kept, 10, 0, shown=3)["shown"]
    # The URIs do not exist: no preview, no failure.
    assert [("thumbnail" in r, r["thumbnail"]) for r in shown] == [(True, None)] * 3
