"""`--input manifest:URI` (text, CSV, JSON Lines; labels from it; missing objects as errors
rows) and a single image file as `--input`, end to end through the CLI, on local files and
on SeaweedFS. Predictions are checked against a direct call of the SavedModel."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from bucketscore.cli.main import main
from tests.support.helpers import (
    check_summary_against_sklearn,
    copy_demo_subset,
    direct_probabilities,
    parse_csv,
    parse_predictions_csv,
    read_local_run,
)
from tests.support.storage_servers import unique_bucket_name


@pytest.fixture(scope="module")
def images(demo_bundle, tmp_path_factory):
    folder = tmp_path_factory.mktemp("manifest-images")
    rels = copy_demo_subset(demo_bundle.data, str(folder), per_class=2)  # 20 images
    return str(folder), rels


def _check_rows(demo_bundle, rows, read):
    """Each row's prediction equals a direct model call on the image's bytes."""
    expected = direct_probabilities(demo_bundle.model, {r["uri"]: read(r["uri"]) for r in rows})
    labels = list(demo_bundle.meta.labels)
    for r in rows:
        assert r["predicted_label"] == labels[int(np.argmax(expected[r["uri"]]))], r["uri"]


def test_local_manifests_in_three_formats(demo_bundle, images, tmp_path, capsys):
    folder, rels = images
    lists = tmp_path / "lists"
    lists.mkdir()
    paths = [os.path.join(folder, r) for r in rels]
    # text: 6 absolute paths (no labels) and a duplicate line
    (lists / "a.txt").write_text("\n".join(paths[:6] + [paths[0]]) + "\n")
    # CSV with labels: 6 more, one labelled wrong on purpose (the manifest's label is used,
    # not the folder's), one named with a path relative to the manifest's folder
    rel = os.path.relpath(paths[6], lists)
    csv_rows = [f"{rel},{rels[6].split('/')[0]}"]
    csv_rows += [f"{p},{r.split('/')[0]}" for p, r in zip(paths[7:11], rels[7:11])]
    csv_rows.append(f"{paths[11]},9" if not rels[11].startswith("9/") else f"{paths[11]},0")
    (lists / "b.csv").write_text("uri,label\n" + "\n".join(csv_rows) + "\n")
    # JSON Lines with labels: 4 more, one missing object, one also named by the CSV
    docs = [{"uri": p, "label": r.split("/")[0]} for p, r in zip(paths[12:16], rels[12:16])]
    docs += [
        {"uri": os.path.join(folder, "gone", "missing.png"), "label": "3"},
        {"uri": paths[7], "label": rels[7].split("/")[0]},
    ]
    (lists / "c.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    out = tmp_path / "out"
    status = main(
        [
            "score",
            "--input",
            f"manifest:{lists / 'a.txt'}",
            f"manifest:{lists / 'b.csv'}",
            f"manifest:{lists / 'c.jsonl'}",
            "--model",
            demo_bundle.model,
            "--output",
            str(out),
            "--run_id",
            "m",
            "--labels",
            "manifest",
            "--max_error_ratio",
            "0.5",
        ]
    )
    assert status == 0, capsys.readouterr().err
    run = read_local_run(str(out / "m"))
    rows = run["predictions"]
    by_uri = {r["uri"]: r for r in rows}
    assert sorted(by_uri) == sorted(paths[:16]) and len(rows) == 16  # each once
    assert [(e["uri"], e["stage"]) for e in run["errors"]] == [
        (os.path.join(folder, "gone", "missing.png"), "read")
    ]
    counts = run["summary"]["counts"]
    assert (counts["listed"], counts["scored"], counts["failed"]) == (17, 16, 1)
    for p in paths[:6]:
        assert by_uri[p]["true_label"] is None  # a text manifest has no labels
    for p, r in zip(paths[6:11] + paths[12:16], rels[6:11] + rels[12:16]):
        assert by_uri[p]["true_label"] == r.split("/")[0]
    assert by_uri[paths[11]]["true_label"] != rels[11].split("/")[0]  # the manifest's
    assert counts["labelled"] == 10
    _check_rows(demo_bundle, rows, lambda u: open(u, "rb").read())
    check_summary_against_sklearn(run["summary"], rows, list(demo_bundle.meta.labels))


def test_manifest_in_a_bucket_naming_objects_there(
    demo_bundle, images, s3_server, tmp_path, capsys
):
    folder, rels = images
    bucket = unique_bucket_name("manifest-run")
    s3_server.create_bucket(bucket)
    client = s3_server.boto3_client()
    for rel in rels[:8]:
        with open(os.path.join(folder, rel), "rb") as f:
            client.put_object(Bucket=bucket, Key=f"imgs/{rel}", Body=f.read())
    lines = [
        json.dumps({"uri": f"s3://{bucket}/imgs/{r}", "label": r.split("/")[0]}) for r in rels[:8]
    ]
    lines.insert(3, json.dumps({"uri": f"s3://{bucket}/imgs/nope.png"}))
    lines.insert(5, json.dumps({"uri": "../imgs/" + rels[0]}))  # relative, a duplicate
    client.put_object(Bucket=bucket, Key="lists/m.jsonl", Body="\n".join(lines).encode())
    status = main(
        [
            "score",
            "--input",
            f"manifest:s3://{bucket}/lists/m.jsonl",
            "--model",
            demo_bundle.model,
            "--output",
            f"s3://{bucket}/out",
            "--run_id",
            "m",
            "--labels",
            "manifest",
            "--max_error_ratio",
            "0.5",
            *s3_server.beam_options(),
        ]
    )
    assert status == 0, capsys.readouterr().err

    def get(key):
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()

    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="out/m/")["Contents"]]
    rows = parse_predictions_csv(
        get(k).decode() for k in keys if "/predictions" in k and k.endswith(".csv")
    )
    errors = parse_csv(get("out/m/errors.csv").decode())
    assert sorted(r["uri"] for r in rows) == sorted(f"s3://{bucket}/imgs/{r}" for r in rels[:8])
    assert [(e["uri"], e["stage"]) for e in errors] == [(f"s3://{bucket}/imgs/nope.png", "read")]
    assert "404" in errors[0]["error"] or "not found" in errors[0]["error"].lower()
    assert all(r["true_label"] == r["uri"].split("/")[-2] for r in rows)
    summary = json.loads(get("out/m/summary.json"))
    assert summary["counts"]["listed"] == 9
    _check_rows(demo_bundle, rows, lambda u: get(u.split("/", 3)[3]))


def test_manifest_options_that_do_not_fit_exit_2(demo_bundle, images, tmp_path, capsys):
    folder, _rels = images
    (tmp_path / "m.txt").write_text("x.png\n")
    args = ["score", "--model", demo_bundle.model, "--output", str(tmp_path / "out")]
    assert main(args + ["--input", folder, "--labels", "manifest"]) == 2
    assert "--labels manifest" in capsys.readouterr().err
    assert main(args + ["--input", f"manifest:{tmp_path / 'm.txt'}", "--incremental"]) == 2
    assert "--incremental" in capsys.readouterr().err


def test_a_single_image_file_local_and_in_a_bucket(
    demo_bundle, images, s3_server, tmp_path, capsys
):
    folder, rels = images
    one = os.path.join(folder, rels[5])
    out = tmp_path / "out"
    assert (
        main(
            [
                "score",
                "--input",
                one,
                "--model",
                demo_bundle.model,
                "--output",
                str(out),
                "--run_id",
                "one",
            ]
        )
        == 0
    ), capsys.readouterr().err
    run = read_local_run(str(out / "one"))
    assert [r["uri"] for r in run["predictions"]] == [one]
    assert run["predictions"][0]["true_label"] == rels[5].split("/")[0]  # its folder
    _check_rows(demo_bundle, run["predictions"], lambda u: open(u, "rb").read())

    bucket = unique_bucket_name("one-image")
    s3_server.create_bucket(bucket)
    client = s3_server.boto3_client()
    with open(one, "rb") as f:
        client.put_object(Bucket=bucket, Key=f"imgs/{rels[5]}", Body=f.read())
    client.put_object(Bucket=bucket, Key=f"imgs/{rels[5]}.bak/other.png", Body=b"x")
    uri = f"s3://{bucket}/imgs/{rels[5]}"
    assert (
        main(
            [
                "score",
                "--input",
                uri,
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out-s3"),
                "--run_id",
                "one",
                *s3_server.beam_options(),
            ]
        )
        == 0
    )
    run = read_local_run(str(tmp_path / "out-s3" / "one"))
    assert [r["uri"] for r in run["predictions"]] == [uri] and run["errors"] == []
