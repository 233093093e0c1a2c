"""End to end through the CLI on real object stores: SeaweedFS (S3) and the GCS emulator.

Images and the model bundle are uploaded with the stores' own clients (boto3,
google-cloud-storage), the run reads and writes the buckets through Beam, and the results
are read back with the same native clients and checked against a direct model call and
scikit-learn.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from bucketscore.cli.main import main
from bucketscore.storage import uris
from tests.support.helpers import (
    check_summary_against_sklearn,
    copy_demo_subset,
    direct_probabilities,
    parse_csv,
    parse_predictions_csv,
)
from tests.support.storage_servers import unique_bucket_name
from tests.support.stores import GCSStore, S3Store


@pytest.fixture(params=["s3", "gcs"])
def store(request):
    if request.param == "s3":
        return S3Store(request.getfixturevalue("s3_server"))
    return GCSStore(request.getfixturevalue("gcs_server"))


def _upload_tree(store, bucket, prefix, folder):
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, "rb") as f:
                store.put(bucket, f"{prefix}{rel}", f.read())


def test_score_a_bucket(store, demo_bundle, tmp_path, capsys):
    images_bucket, results_bucket = unique_bucket_name("images"), unique_bucket_name("results")
    store.make_bucket(images_bucket)
    store.make_bucket(results_bucket)
    local = tmp_path / "imgs"
    copy_demo_subset(demo_bundle.data, str(local), per_class=2)
    # Names people really use: spaces and unicode, and an undecodable file.
    with open(local / "4" / os.listdir(local / "4")[0], "rb") as f:
        digit = f.read()
    (local / "4" / "scan 2026 – naïve.png").write_bytes(digit)
    if store.scheme == "s3":
        # gcp-storage-emulator serves such names under a download link it does not quote
        # (404); real GCS quotes it. So '#' and '%' are exercised on S3 only.
        (local / "4" / "hash#and%25percent.PNG").write_bytes(digit)
    expected_rows = 22 if store.scheme == "s3" else 21
    (local / "4" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    _upload_tree(store, images_bucket, "2026-11/", str(local))
    _upload_tree(store, images_bucket, "models/digits/", demo_bundle.model)

    s = store.scheme
    status = main(
        [
            "score",
            "--input",
            f"{s}://{images_bucket}/2026-11/",
            "--model",
            f"{s}://{images_bucket}/models/digits",
            "--output",
            f"{s}://{results_bucket}/runs",
            "--run_id",
            "nov",
            "--max_error_ratio",
            "0.2",
            *store.flags,
        ]
    )
    printed = capsys.readouterr()
    assert status == 0, printed.err

    keys = store.keys(results_bucket, "runs/nov/")
    names = {k[len("runs/nov/") :] for k in keys}
    assert {
        "errors.csv",
        "summary.json",
        "per_class.csv",
        "confusion_matrix.csv",
        "manifest.json",
        "_SUCCESS",
    } <= names
    assert any(n.startswith("predictions") and n.endswith(".parquet") for n in names)
    assert not any("beam-temp" in n for n in names)

    rows = parse_predictions_csv(
        store.get(results_bucket, k).decode()
        for k in keys
        if k.rsplit("/", 1)[-1].startswith("predictions") and k.endswith(".csv")
    )
    errors = parse_csv(store.get(results_bucket, "runs/nov/errors.csv").decode())
    summary = json.loads(store.get(results_bucket, "runs/nov/summary.json"))

    assert len(rows) == expected_rows
    assert [e["uri"] for e in errors] == [f"{s}://{images_bucket}/2026-11/4/broken.png"]
    assert summary["counts"]["listed"] == expected_rows + 1
    assert summary["counts"]["failed"] == 1
    assert f"{s}://{images_bucket}/2026-11/4/scan 2026 – naïve.png" in {r["uri"] for r in rows}
    if s == "s3":
        assert f"s3://{images_bucket}/2026-11/4/hash#and%25percent.PNG" in {r["uri"] for r in rows}

    prefix = f"{s}://{images_bucket}/2026-11/"
    files = {r["uri"]: (local / uris.relative_to(r["uri"], prefix)).read_bytes() for r in rows}
    expected = direct_probabilities(demo_bundle.model, files)
    labels = list(demo_bundle.meta.labels)
    for r in rows:
        p = expected[r["uri"]]
        assert r["predicted_label"] == labels[int(np.argmax(p))]
        np.testing.assert_allclose(r["confidence"], p.max(), rtol=1e-5)
        assert r["true_label"] == r["uri"].split("/")[-2]
    check_summary_against_sklearn(summary, rows, labels)

    # Credentials never land in what the run writes.
    manifest = store.get(results_bucket, "runs/nov/manifest.json").decode()
    if s == "s3":
        assert store.server.secret_key not in manifest
        assert store.server.secret_key not in printed.out + printed.err

    # make download / bucketscore download copies the CSV and JSON files locally.
    dest = tmp_path / "downloaded"
    assert main(["download", f"{s}://{results_bucket}/runs/nov/", str(dest), *store.flags]) == 0
    got = sorted(os.listdir(dest / "nov"))
    assert "summary.json" in got and "errors.csv" in got and "_SUCCESS" in got
    assert not any(n.endswith(".parquet") for n in got)
    assert json.loads((dest / "nov" / "summary.json").read_text()) == summary
