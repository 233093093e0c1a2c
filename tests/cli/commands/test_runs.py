"""`bucketscore runs` on real runs (local folders and S3).

Three runs of the demo model through the CLI (tests/support/run_history.py): a plain one,
one with a --min_confidence that leaves about half the images without a prediction, and one
on a subset of the classes whose `_SUCCESS` is then deleted (an incomplete run). Every figure
`runs` prints is checked against values computed here from the written CSV files. The run
listing itself (run_folder.history) is tested directly in tests/run_folder/test_history.py.
"""

from __future__ import annotations

import os

import pytest

from bucketscore.cli.main import main
from tests.support.run_history import (
    FIRST,
    SECOND,
    THIRD,
    check_comparison,
    cli_json,
    expected_comparison,
    history_runs,
    run_errors,
    run_predictions,
)
from tests.support.storage_servers import unique_bucket_name


@pytest.fixture(scope="module")
def history(demo_bundle, tmp_path_factory):
    return history_runs(demo_bundle, tmp_path_factory)


def _n_images(folder: str) -> int:
    return sum(len(files) for _root, _dirs, files in os.walk(folder))


# --------------------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------------------
def test_runs_lists_newest_first_with_counts_accuracy_and_completion(history, capsys):
    out = history["out"]
    status, runs = cli_json(capsys, "runs", "--output", out, "--json")
    assert status == 0
    assert [r["run_id"] for r in runs] == [THIRD, SECOND, FIRST]
    for r in runs:
        run_dir = os.path.join(out, r["run_id"])
        rows, errors = run_predictions(run_dir), run_errors(run_dir)
        labelled = [x for x in rows.values() if x["true_label"] in history["labels"]]
        assert r["completed"] == os.path.exists(os.path.join(run_dir, "_SUCCESS"))
        assert r["status"] == ("complete" if r["completed"] else "incomplete")
        assert (r["scored"], r["failed"]) == (len(rows), len(errors))
        assert r["listed"] == len(rows) + len(errors)
        assert r["accuracy"] == pytest.approx(
            sum(x["predicted_label"] == x["true_label"] for x in labelled) / len(labelled)
        )
        assert {r["model_version"]} == {x["model_version"] for x in rows.values()}
        assert r["uri"] == run_dir + "/"
    assert runs[0]["completed"] is False and runs[1]["completed"] is runs[2]["completed"] is True
    assert runs[2]["listed"] == _n_images(history["images"]) == 31
    assert runs[1]["accuracy"] < runs[2]["accuracy"]  # half the predictions withheld


def test_runs_table_and_limit(history, capsys):
    capsys.readouterr()
    assert main(["runs", "--output", history["out"], "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "RUN",
        "STARTED",
        "STATUS",
        "LISTED",
        "SCORED",
        "FAILED",
        "ACCURACY",
        "MODEL",
    ]
    assert [line.split()[0] for line in lines[1:]] == [THIRD, SECOND]
    assert lines[1].split()[2] == "incomplete" and lines[2].split()[2] == "complete"
    assert history["version"] in lines[2]


def test_runs_wrong_places(history, tmp_path, capsys):
    assert main(["runs", "--output", str(tmp_path / "nothing-here")]) == 1
    assert "no such folder" in capsys.readouterr().err
    assert main(["runs", "--output", str(tmp_path)]) == 0
    assert "no runs under" in capsys.readouterr().err
    assert main(["runs", "--output", os.path.join(history["out"], FIRST)]) == 1
    err = capsys.readouterr().err
    assert "is itself a run folder" in err
    assert f"(bucketscore runs --output {history['out']}/)" in err
    assert main(["runs", "--output", history["out"], "--no_such_flag"]) == 2
    assert "unknown option" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# On S3: one real run writes to the bucket, two more are uploaded with boto3
# --------------------------------------------------------------------------------------
def _upload(client, bucket, key_prefix, folder):
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            client.put_object(Bucket=bucket, Key=f"{key_prefix}{name}", Body=f.read())


def test_runs_and_compare_on_s3(history, demo_bundle, s3_server, capsys):
    bucket = s3_server.create_bucket(unique_bucket_name("history"))
    client = s3_server.boto3_client()
    flags = s3_server.beam_options()
    results = f"s3://{bucket}/results/"
    _upload(client, bucket, f"results/{SECOND}/", os.path.join(history["out"], SECOND))
    _upload(client, bucket, f"results/{THIRD}/", os.path.join(history["out"], THIRD))
    client.put_object(Bucket=bucket, Key="results/notes.txt", Body=b"not a run")
    client.put_object(Bucket=bucket, Key="results/other/readme.txt", Body=b"not a run either")
    assert (
        main(
            [
                "score",
                "--input",
                history["images"],
                "--model",
                demo_bundle.model,
                "--output",
                results,
                "--run_id",
                "s3-run",
                *flags,
            ]
        )
        == 0
    )

    status, runs = cli_json(capsys, "runs", "--output", results, "--json", *flags)
    assert status == 0
    assert [r["run_id"] for r in runs] == ["s3-run", THIRD, SECOND]
    assert [r["completed"] for r in runs] == [True, False, True]
    local = {
        r["run_id"]: r for r in cli_json(capsys, "runs", "--output", history["out"], "--json")[1]
    }
    for r in runs[1:]:
        for key in ("listed", "scored", "failed", "accuracy", "model_version", "status"):
            assert r[key] == local[r["run_id"]][key], key
    assert runs[0]["listed"] == 31 and runs[0]["accuracy"] == local[FIRST]["accuracy"]

    # The S3 run scored the same images as FIRST with the same model: same comparison.
    status, got = cli_json(
        capsys, "compare", f"{results}s3-run", f"{results}{SECOND}/", "--json", *flags
    )
    assert status == 0
    check_comparison(
        got,
        expected_comparison(
            os.path.join(history["out"], FIRST),
            os.path.join(history["out"], SECOND),
            history["labels"],
        ),
    )
    assert got["a"]["uri"] == f"{results}s3-run/"
