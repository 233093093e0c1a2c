"""transforms/suspect_labels.py: the Beam pass over rows gives what judging each row with
run_folder.suspects gives (the reference), keeps the largest margins, counts every one."""

from __future__ import annotations

import random

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.run_folder.suspects import judge, ordered
from bucketscore.transforms.suspect_labels import FindSuspects

LABELS = ["a", "b", "c", "d"]
THRESHOLDS = {"a": 0.7, "b": 0.6, "c": 0.5, "d": 0.4}


def _rows(n: int, seed: int, k: int = 2) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        p = [rng.random() for _ in LABELS]
        total = sum(p)
        p = [x / total for x in p]
        given = rng.choice(LABELS)
        order = sorted(range(len(LABELS)), key=lambda j: -p[j])[:k]
        rows.append(
            {
                "uri": f"s3://b/{seed}/{i:04d}.png",
                "true_label": given,
                "true_label_score": p[LABELS.index(given)],
                "top_k_labels": [LABELS[j] for j in order],
                "top_k_scores": [p[j] for j in order],
            }
        )
    return rows


def test_two_row_collections_give_the_reference_suspects_capped_and_counted():
    scored, carried = _rows(300, 1), _rows(200, 2)
    judged = [judge(r, THRESHOLDS) for r in scored + carried]
    reference = ordered([rec for rec, _u in judged if rec is not None])
    unchecked = sum(u for _rec, u in judged)
    assert len(reference) > 20 and unchecked > 0  # the data exercises both outcomes
    with TestPipeline() as p:
        summary = p | "Summary" >> beam.Create([{"true_label_score_means": THRESHOLDS}])
        a = p | "Scored" >> beam.Create(scored)
        b = p | "Carried" >> beam.Create(carried)
        found = (a, b, summary) | FindSuspects(max_rows=20, shown=0)
        assert_that(
            found,
            equal_to(
                [
                    {
                        "rows": reference[:20],
                        "count": len(reference),
                        "unchecked": unchecked,
                        "shown": [],
                    }
                ]
            ),
        )


def test_shown_suspects_get_a_thumbnail_entry(tmp_path):
    rows = _rows(100, 3)
    with TestPipeline() as p:
        summary = p | "Summary" >> beam.Create([{"true_label_score_means": THRESHOLDS}])
        found = (p | beam.Create(rows), summary) | FindSuspects(max_rows=50, shown=3)
        assert_that(
            found | beam.Map(lambda f: [("thumbnail" in r, r["thumbnail"]) for r in f["shown"]]),
            equal_to([[(True, None)] * 3]),  # the URIs do not exist: no preview, no failure
        )
