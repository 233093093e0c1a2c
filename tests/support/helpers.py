"""Test helpers: make images, read a run's results back, and independent expectations.

The expectations here never use the pipeline: predictions come from a direct call of the
bundle's SavedModel, metrics from scikit-learn over the prediction rows as written.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Iterable

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def image_bytes(array: np.ndarray, fmt: str = "PNG", **save_args) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **save_args)
    return buf.getvalue()


def write_file(path: str, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def copy_demo_subset(src_folder: str, dest_folder: str, per_class: int) -> list[str]:
    """Copy the first `per_class` images of each class folder; returns relative paths."""
    out = []
    for label in sorted(os.listdir(src_folder)):
        names = sorted(os.listdir(os.path.join(src_folder, label)))[:per_class]
        for name in names:
            with open(os.path.join(src_folder, label, name), "rb") as f:
                write_file(os.path.join(dest_folder, label, name), f.read())
            out.append(f"{label}/{name}")
    return out


def _parse_cell(column: str, text: str):
    if column in ("top_k_labels",):
        return text.split(";") if text else []
    if column in ("top_k_scores",):
        return [float(x) for x in text.split(";")] if text else []
    if column in ("confidence",):
        return float(text)
    if column in ("true_label_score",):
        return float(text) if text else None
    if column in ("width", "height"):
        return int(text)
    if column in ("correct", "below_threshold"):
        return None if text == "" else text == "true"
    if column in ("true_label", "predicted_label", "sha256"):
        return text or None
    return text


def parse_predictions_csv(texts: Iterable[str]) -> list[dict]:
    rows = []
    for text in texts:
        for row in csv.DictReader(io.StringIO(text)):
            rows.append({k: _parse_cell(k, v) for k, v in row.items()})
    return rows


def parse_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def read_local_run(run_dir: str) -> dict:
    """{'predictions': rows, 'errors': rows, 'summary': dict, 'files': names} of a local run."""
    names = sorted(os.listdir(run_dir))

    def text(name):
        with open(os.path.join(run_dir, name), encoding="utf-8") as f:
            return f.read()

    out = {
        "files": names,
        "predictions": parse_predictions_csv(
            text(n) for n in names if n.startswith("predictions") and n.endswith(".csv")
        ),
        "errors": parse_csv(text("errors.csv")) if "errors.csv" in names else None,
    }
    for name in ("summary.json", "manifest.json"):
        out[name.split(".")[0]] = json.loads(text(name)) if name in names else None
    return out


def read_parquet_rows(paths: Iterable[str]) -> list[dict]:
    import pyarrow.parquet as pq

    rows = []
    for path in paths:
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def direct_probabilities(bundle_dir: str, image_files: dict[str, bytes]) -> dict[str, np.ndarray]:
    """uri -> probabilities from calling the SavedModel directly (no pipeline, no Beam)."""
    import tensorflow as tf

    from bucketscore.bundle.images import decode_image
    from bucketscore.bundle.meta import read_meta

    meta = read_meta(bundle_dir)
    fn = tf.saved_model.load(os.path.join(bundle_dir, "saved_model")).signatures["serving_default"]
    out = {}
    for uri, data in image_files.items():
        pixels, _w, _h = decode_image(data, meta.input)
        out[uri] = fn(images=tf.constant(pixels[None]))["probabilities"].numpy()[0]
    return out


def check_summary_against_sklearn(summary: dict, rows: list[dict], model_labels: list[str]):
    """The summary's figures must equal scikit-learn's over the written prediction rows."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    known = set(model_labels)
    labelled = [r for r in rows if r["true_label"] in known]
    assert summary["counts"]["labelled"] == len(labelled)
    if not labelled:
        assert summary["accuracy"] is None
        return
    y_true = [r["true_label"] for r in labelled]
    y_pred = [r["predicted_label"] or "<none>" for r in labelled]
    assert summary["accuracy"] == pytest_approx(accuracy_score(y_true, y_pred))
    top_k = np.mean([r["true_label"] in r["top_k_labels"] for r in labelled])
    assert summary["top_k_accuracy"] == pytest_approx(top_k)
    present = [lab for lab in model_labels if lab in set(y_true) | set(y_pred)]
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=present, average=average, zero_division=0
        )
        assert summary[average]["precision"] == pytest_approx(p)
        assert summary[average]["recall"] == pytest_approx(r)
        assert summary[average]["f1"] == pytest_approx(f)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=present, zero_division=0)
    got = {c["label"]: c for c in summary["per_class"]}
    assert sorted(got) == sorted(present)
    for i, label in enumerate(present):
        assert got[label]["precision"] == pytest_approx(p[i])
        assert got[label]["recall"] == pytest_approx(r[i])
        assert got[label]["f1"] == pytest_approx(f[i])
        assert got[label]["support"] == s[i]
    cm = confusion_matrix(y_true, y_pred, labels=model_labels)
    assert summary["confusion_matrix"]["labels"] == list(model_labels)
    assert summary["confusion_matrix"]["matrix"] == cm.tolist()


def pytest_approx(value):
    import pytest

    return pytest.approx(value, rel=1e-9, abs=1e-12)
