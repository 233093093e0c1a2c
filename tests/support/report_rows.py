"""What the report tests share (tests/run_folder/test_report_*.py, test_thumbnails.py,
test_report_selection.py, tests/transforms/test_report_items.py): prediction rows as the
pipeline writes them, a summary document with a given confusion matrix, images and PNG
sizes, and two real unlabelled runs of the demo model (made once per test session).
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from tests.support.helpers import copy_demo_subset, write_file

LABELS = ["cat", "dog", "fox"]


def prediction_row(uri, true, pred, conf, below=False) -> dict:
    """A prediction row (run_folder.schemas.PREDICTION_COLUMNS) with top-2 labels."""
    return {
        "uri": uri,
        "true_label": true,
        "predicted_label": pred,
        "confidence": conf,
        "correct": None if true is None else pred == true,
        "top_k_labels": [pred or "cat", "dog"],
        "top_k_scores": [conf, 1 - conf],
        "below_threshold": below,
        "width": 10,
        "height": 10,
        "model_version": "v",
        "run_id": "r",
    }


def summary_of_matrix(labels=LABELS, matrix=None, abstained=0) -> dict:
    """A summary.json-shaped document whose confusion matrix is `matrix` (rows: true label,
    columns: predicted), plus `abstained` images of the first label below the threshold;
    listed = scored + 2, failed = 2, top-2."""
    from bucketscore.run_folder.accuracy import summarise_rows
    from bucketscore.run_folder.summary import build_summary

    matrix = matrix or [[5, 1, 0], [0, 4, 2], [1, 0, 6]]
    rows, n = [], 0
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            for _ in range(count):
                n += 1
                rows.append(prediction_row(f"s3://b/{n}.png", labels[i], labels[j], 0.9))
    for _ in range(abstained):
        rows.append(prediction_row("s3://b/low.png", labels[0], None, 0.1, below=True))
    scores = summarise_rows(rows, labels)
    model = {"uri": "s3://m/", "name": "toy", "version": "v1", "labels": list(labels)}
    scored = scores["counts"]["scored"]
    return build_summary("run1", scores, listed=scored + 2, failed=2, model=model, top_k=2)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of PNG bytes; fails unless they are a PNG that decodes."""
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    img.load()
    return img.size


def rgb(h, w, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


_made: dict = {}


def unlabelled_runs(demo_bundle, tmp_path_factory):
    """Two unlabelled runs (`--labels none`) under one output folder, returned: u1 on all
    classes (3 images each), then u2 on mostly 1s and 7s (a predicted-class shift)."""
    from bucketscore.cli.main import main

    if demo_bundle.model in _made:
        return _made[demo_bundle.model]
    root = tmp_path_factory.mktemp("unlabelled")
    first, second, out = root / "first", root / "second", root / "out"
    copy_demo_subset(demo_bundle.data, str(first), per_class=3)
    copy_demo_subset(demo_bundle.data, str(second), per_class=1)
    for digit in ("1", "7"):
        for name in sorted(os.listdir(os.path.join(demo_bundle.data, digit)))[1:9]:
            with open(os.path.join(demo_bundle.data, digit, name), "rb") as f:
                write_file(str(second / digit / name), f.read())
    for run_id, images in (("u1", first), ("u2", second)):
        argv = ["score", "--input", str(images), "--model", demo_bundle.model]
        argv += ["--output", str(out), "--run_id", run_id, "--labels", "none", "--no_progress"]
        assert main(argv) == 0
    _made[demo_bundle.model] = out
    return out
