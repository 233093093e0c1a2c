"""What an --incremental run keeps from its base run: which images are unchanged, and the
row an unchanged image carries over.

An image is unchanged when the base run listed the same URI with the same size and
modification time and scored it (it has a prediction row there). It then keeps that row:
its `run_id` still says which run scored it, while its true label and `correct` follow the
current labels. Everything else is scored: new images, changed ones, and those that failed
last time (no row). The Beam stage that applies this rule is transforms/carry_over.py; the
base run is found through run_folder/state.py.
"""

from __future__ import annotations

from typing import Iterable, Optional

from bucketscore.run_folder.accuracy import is_correct


def listing_key(size, mtime) -> tuple[int, float]:
    """What a listing says of an object's content: (size, modification time)."""
    return int(size), float(mtime)


def unchanged(size, mtime, previous: Iterable[tuple[int, float]], rows: Iterable[dict]) -> bool:
    """Whether an image listed now with `size`/`mtime` keeps its row: the base run listed it
    with the same key (`previous`: its listing keys for this URI) and scored it (`rows`)."""
    previous, rows = list(previous), list(rows)
    return bool(rows and previous and previous[0] == listing_key(size, mtime))


def carried_row(row: dict, true_label: Optional[str]) -> dict:
    """The base run's prediction row with the current true label and its correctness.

    Its score and hash are kept (`true_label_score` and `sha256`, empty in a base run
    written before they existed). When the true label changed, its score is the new label's
    probability if the row's top-k holds it, else unknown (None)."""
    out = dict(row)
    out.setdefault("true_label_score", None)
    out.setdefault("sha256", None)
    if true_label != row.get("true_label"):
        scores = dict(zip(row.get("top_k_labels") or [], row.get("top_k_scores") or []))
        score = scores.get(true_label) if true_label else None
        out["true_label_score"] = None if score is None else float(score)
    out["true_label"] = true_label
    out["correct"] = is_correct(out["predicted_label"], true_label)
    return out


def read_base(base_run: str) -> dict[str, tuple[tuple[int, float], dict]]:
    """{uri: (listing key, prediction row)} of every image the base run listed and scored,
    read from its object index and predictions Parquet files (carried-over rows included).
    For base runs small enough to hold in memory (pipelines/features/incremental.py)."""
    import io

    import pyarrow.parquet as pq

    from bucketscore.run_folder import layout
    from bucketscore.storage import uris

    def rows(pattern: str) -> list[dict]:
        out = []
        for meta in sorted(uris.match(uris.join(base_run, pattern)), key=lambda m: m.path):
            out += pq.read_table(io.BytesIO(uris.read_bytes(meta.path))).to_pylist()
        return out

    keys = {
        r["uri"]: listing_key(r["size"], r["mtime"]) for r in rows(f"{layout.OBJECTS}*.parquet")
    }
    return {
        r["uri"]: (keys[r["uri"]], r)
        for r in rows(f"{layout.PREDICTIONS}*.parquet")
        if r["uri"] in keys
    }
