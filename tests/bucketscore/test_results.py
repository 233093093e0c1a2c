"""`bucketscore.results`: a run's results as pandas objects, for local, S3 (SeaweedFS) and
GCS (emulator) runs, compared with the run's own files read independently (open(), boto3,
google-cloud-storage; CSV and JSON parsed by the tests' own helpers)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bucketscore.cli.main import main
from tests.support.helpers import (
    REPO,
    copy_demo_subset,
    parse_csv,
    parse_predictions_csv,
    write_file,
)
from tests.support.storage_servers import unique_bucket_name
from tests.support.stores import GCSStore, S3Store

FAST = ["--no_progress", "--direct_num_workers", "1", "--direct_running_mode", "in_memory"]


@pytest.fixture(scope="module")
def images(demo_bundle, tmp_path_factory) -> str:
    """Two digits per class and one broken file (an errors row)."""
    folder = str(tmp_path_factory.mktemp("results_api") / "images")
    copy_demo_subset(demo_bundle.data, folder, per_class=2)
    write_file(os.path.join(folder, "4", "broken.png"), b"\x89PNG\r\n\x1a\n garbage")
    return folder


def _score(images, model, output, run_id, flags=()) -> None:
    status = main(
        [
            "score",
            "--input",
            images,
            "--model",
            model,
            "--output",
            output,
            "--run_id",
            run_id,
            "--top_k",
            "3",
            "--max_error_ratio",
            "0.5",
            *FAST,
            *flags,
        ]
    )
    assert status == 0


def check_against_files(run, files: dict[str, bytes]) -> None:
    """`run` (a results.Run) holds exactly what the run folder's files say."""
    names = sorted(files)
    csv_rows = parse_predictions_csv(
        files[n].decode() for n in names if n.startswith("predictions") and n.endswith(".csv")
    )
    assert any(n.startswith("predictions") and n.endswith(".parquet") for n in names)
    frame = run.predictions
    assert list(frame.columns) == [
        "uri",
        "true_label",
        "predicted_label",
        "confidence",
        "correct",
        "top_k_labels",
        "top_k_scores",
        "below_threshold",
        "width",
        "height",
        "model_version",
        "run_id",
        "true_label_score",
        "sha256",
    ]
    assert len(frame) == len(csv_rows) == 20
    by_uri = {r["uri"]: r for r in csv_rows}
    for row in frame.to_dict("records"):
        want = by_uri[row["uri"]]
        assert type(row["top_k_labels"]) is list and type(row["top_k_scores"]) is list
        assert row["top_k_labels"] == want["top_k_labels"]
        np.testing.assert_allclose(row["top_k_scores"], want["top_k_scores"], rtol=1e-6)
        np.testing.assert_allclose(row["confidence"], want["confidence"], rtol=1e-6)
        for column in (
            "true_label",
            "predicted_label",
            "correct",
            "below_threshold",
            "width",
            "height",
            "model_version",
            "run_id",
            "sha256",
        ):
            value = None if pd.isna(row[column]) else row[column]  # pandas' missing: NaN
            assert value == want[column], column
        if want["true_label_score"] is None:
            assert pd.isna(row["true_label_score"])
        else:
            np.testing.assert_allclose(row["true_label_score"], want["true_label_score"], rtol=1e-6)

    errors = parse_csv(files["errors.csv"].decode())
    assert run.errors.to_dict("records") == errors and len(errors) == 1
    assert run.errors["stage"].tolist() == ["decode"]

    assert run.summary == json.loads(files["summary.json"])
    assert run.manifest == json.loads(files["manifest.json"])
    assert run.completed and "_SUCCESS" in files

    per_class = list(csv.DictReader(io.StringIO(files["per_class.csv"].decode())))
    assert list(run.per_class.columns) == list(per_class[0])
    assert len(run.per_class) == len(per_class)
    for got, want in zip(run.per_class.to_dict("records"), per_class):
        assert str(got["label"]) == want["label"]
        for key in ("precision", "recall", "f1"):
            assert got[key] == pytest.approx(float(want[key]))
        assert got["support"] == int(want["support"])

    lines = list(csv.reader(io.StringIO(files["confusion_matrix.csv"].decode())))
    labels = lines[0][1:]
    assert list(run.confusion.columns) == labels and list(run.confusion.index) == labels
    assert run.confusion.values.tolist() == [[int(x) for x in line[1:]] for line in lines[1:]]
    assert int(np.trace(run.confusion.values)) == run.summary["counts"]["correct"]

    # suspect labels and duplicates: the CSV files, typed; the curve from summary.json
    for frame, name in (
        (run.suspect_labels, "suspect_labels.csv"),
        (run.duplicates, "duplicates.csv"),
    ):
        rows = list(csv.DictReader(io.StringIO(files[name].decode())))
        assert list(frame.columns) == list(
            csv.DictReader(io.StringIO(files[name].decode())).fieldnames
        )
        assert len(frame) == len(rows)
    curve = run.summary["threshold_evidence"]["curve"]
    assert run.thresholds.to_dict("records") == curve


def _local_files(folder: str) -> dict[str, bytes]:
    return {
        n: open(os.path.join(folder, n), "rb").read()
        for n in os.listdir(folder)
        if os.path.isfile(os.path.join(folder, n))
    }


def test_local_run_as_dataframes(demo_bundle, images, tmp_path, capsys):
    import bucketscore.results as results

    out = str(tmp_path / "results")
    _score(images, demo_bundle.model, out, "first")
    _score(images, demo_bundle.model, out, "second", ["--min_confidence", "0.999"])
    capsys.readouterr()
    run_dir = os.path.join(out, "second")
    run = results.load(run_dir)
    check_against_files(run, _local_files(run_dir))
    assert run.run_id == "second" and "20 predictions" in repr(run)
    # pandas as people use it: the accuracy from the rows equals the summary's.
    labelled = run.predictions[run.predictions["true_label"].notna()]
    assert (labelled["predicted_label"] == labelled["true_label"]).mean() == pytest.approx(
        run.summary["accuracy"]
    )
    assert run.predictions["below_threshold"].sum() == run.summary["counts"]["below_threshold"]

    # Without the Parquet files the CSV files give the same frame, same types.
    copy = str(tmp_path / "csv-only" / "second")
    shutil.copytree(run_dir, copy)
    for name in os.listdir(copy):
        if name.endswith(".parquet"):
            os.remove(os.path.join(copy, name))
    from_csv = results.load(copy).predictions
    pd.testing.assert_frame_equal(
        from_csv.sort_values("uri").reset_index(drop=True),
        run.predictions.sort_values("uri").reset_index(drop=True),
        check_exact=False,
        rtol=1e-6,
    )

    table = results.runs(out)
    assert table["run_id"].tolist() == ["second", "first"]  # newest first
    assert table["status"].tolist() == ["complete", "complete"]
    first = json.load(open(os.path.join(out, "first", "summary.json")))
    row = table.set_index("run_id").loc["first"]
    assert (row["listed"], row["scored"], row["failed"]) == (21, 20, 1)
    assert row["accuracy"] == pytest.approx(first["accuracy"])
    assert row["model_version"] == demo_bundle.meta.version
    assert str(table["started_at"].dtype).startswith("datetime64")


def test_clear_errors(demo_bundle, images, tmp_path, capsys):
    import bucketscore.results as results

    out = str(tmp_path / "results")
    _score(images, demo_bundle.model, out, "only")
    capsys.readouterr()
    with pytest.raises(results.ResultsError, match="not a bucketscore run folder.*runs"):
        results.load(out)  # the results prefix, not a run
    with pytest.raises(results.ResultsError, match="no such folder"):
        results.load(str(tmp_path / "nothing"))
    with pytest.raises(results.ResultsError, match="not a bucketscore run folder"):
        results.load(images)
    with pytest.raises(results.ResultsError, match="unknown storage option"):
        results.load(os.path.join(out, "only"), options=["--s3_endpont_url=http://x"])
    with pytest.raises(results.ResultsError, match="list of flags or a dict"):
        results.runs(out, options="--s3_endpoint_url=http://x")
    os.makedirs(tmp_path / "empty")
    assert results.runs(str(tmp_path / "empty")).empty


def test_importing_the_api_loads_no_beam():
    code = (
        "import sys\nimport bucketscore.results\n"
        "print(sorted({'apache_beam', 'tensorflow'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("scheme", ["s3", "gcs"])
def test_bucket_run_as_dataframes(scheme, request, demo_bundle, images, capsys):
    import bucketscore.results as results

    store = (
        S3Store(request.getfixturevalue("s3_server"))
        if scheme == "s3"
        else GCSStore(request.getfixturevalue("gcs_server"))
    )
    bucket = unique_bucket_name("results-api")
    store.make_bucket(bucket)
    output = f"{store.scheme}://{bucket}/runs"
    _score(images, demo_bundle.model, output, "nov", store.flags)
    capsys.readouterr()
    prefix = "runs/nov/"
    files = {
        k[len(prefix) :]: store.get(bucket, k)
        for k in store.keys(bucket, prefix)
        if "/" not in k[len(prefix) :]
    }
    # Storage options as Beam flags, and as a dict.
    options = {f.split("=", 1)[0][2:]: f.split("=", 1)[1] for f in store.flags}
    run = results.load(f"{output}/nov/", options=store.flags)
    check_against_files(run, files)
    table = results.runs(output, options=options or None)
    assert table["run_id"].tolist() == ["nov"]
    assert table.loc[0, "scored"] == 20 and table.loc[0, "uri"] == f"{output}/nov/"
