"""Prediction rows with suspects, unlabelled rows, planted copies and unhashed rows, and
Parquet files of them: what the label checks are tested on (tests/transforms/
test_label_checks.py: the Beam stage; tests/pipelines/test_inline_run.py: the in-process
executor)."""

from __future__ import annotations

import hashlib
import random

import pyarrow as pa
import pyarrow.parquet as pq

from bucketscore.run_folder.schemas import PREDICTIONS_SCHEMA

LABELS = ["a", "b", "c", "d"]
THRESHOLDS = {"a": 0.7, "b": 0.6, "c": 0.5, "d": 0.4}


def prediction_rows(n: int, seed: int) -> list[dict]:
    """n rows over LABELS: every 17th a copy of an earlier one, every 97th (from 5) unhashed,
    a fifth unlabelled."""
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


def write_predictions(path, rows, row_group_size):
    """Write `rows` with the predictions schema; returns them as written (float32 scores)."""
    table = pa.Table.from_pylist(rows, schema=PREDICTIONS_SCHEMA)
    pq.write_table(table, path, row_group_size=row_group_size)
    return pq.read_table(path).to_pylist()  # as written (float32 scores)
