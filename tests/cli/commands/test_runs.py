"""`bucketscore runs` and `bucketscore compare` on real runs (local folders and S3).

Three runs of the demo model through the CLI: a plain one, one with a --min_confidence that
leaves about half the images without a prediction (so the results differ), and one on a
subset of the classes whose `_SUCCESS` is then deleted (an incomplete run). Every figure
runs/compare print is checked against values computed here from the written CSV files,
with scikit-learn for the per-class metrics.
"""

from __future__ import annotations

import glob
import json
import os

import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from bucketscore.cli.main import main
from tests.support.helpers import copy_demo_subset, parse_csv, parse_predictions_csv, write_file
from tests.support.storage_servers import unique_bucket_name

FIRST, SECOND, THIRD = "zz-first", "mm-second", "aa-third"  # newest last; ids sort backwards


def _predictions(run_dir: str) -> dict[str, dict]:
    rows = []
    for name in sorted(glob.glob(os.path.join(run_dir, "predictions*.csv"))):
        with open(name, encoding="utf-8") as f:
            rows += parse_predictions_csv([f.read()])
    return {r["uri"]: r for r in rows}


def _errors(run_dir: str) -> list[dict]:
    with open(os.path.join(run_dir, "errors.csv"), encoding="utf-8") as f:
        return parse_csv(f.read())


@pytest.fixture(scope="module")
def history(demo_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    images, out = str(root / "images"), str(root / "results")
    copy_demo_subset(demo_bundle.data, images, per_class=3)
    write_file(os.path.join(images, "4", "broken.png"), b"not a png")
    base = ["--input", images, "--model", demo_bundle.model, "--output", out]
    assert main(["score", *base, "--run_id", FIRST]) == 0
    confidences = sorted(r["confidence"] for r in _predictions(os.path.join(out, FIRST)).values())
    threshold = confidences[len(confidences) // 2]
    assert main(["score", *base, "--run_id", SECOND, "--min_confidence", str(threshold)]) == 0
    subset = [os.path.join(images, str(d)) + "/" for d in range(5)]
    assert (
        main(
            [
                "score",
                "--input",
                *subset,
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                THIRD,
            ]
        )
        == 0
    )
    os.remove(os.path.join(out, THIRD, "_SUCCESS"))
    # Bookkeeping beside the runs (as --incremental keeps) is not a run.
    write_file(os.path.join(out, "_state", "abc.json"), b'{"run_id": "zz-first"}')
    write_file(os.path.join(out, "_state", "summary.json"), b"{}")
    return {
        "images": images,
        "out": out,
        "labels": list(demo_bundle.meta.labels),
        "version": demo_bundle.meta.version,
    }


def _cli_json(capsys, *argv) -> tuple[int, object]:
    capsys.readouterr()
    status = main(list(argv))
    out = capsys.readouterr().out
    return status, (json.loads(out) if status == 0 or out.strip().startswith(("{", "[")) else out)


def _n_images(folder: str) -> int:
    return sum(len(files) for _root, _dirs, files in os.walk(folder))


# --------------------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------------------
def test_runs_lists_newest_first_with_counts_accuracy_and_completion(history, capsys):
    out = history["out"]
    status, runs = _cli_json(capsys, "runs", "--output", out, "--json")
    assert status == 0
    assert [r["run_id"] for r in runs] == [THIRD, SECOND, FIRST]
    for r in runs:
        run_dir = os.path.join(out, r["run_id"])
        rows, errors = _predictions(run_dir), _errors(run_dir)
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
    assert main(["runs", "--output", os.path.join(history["out"], FIRST)]) == 0
    assert "is itself a run folder" in capsys.readouterr().err
    assert main(["runs", "--output", history["out"], "--no_such_flag"]) == 2
    assert "unknown option" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------
def expected_comparison(dir_a: str, dir_b: str, labels: list[str]) -> dict:
    """The comparison computed independently: sklearn over the CSV rows in both runs."""
    a, b = _predictions(dir_a), _predictions(dir_b)
    common = sorted(set(a) & set(b))
    labelled = [u for u in common if b[u]["true_label"] in labels]
    y_true = [b[u]["true_label"] for u in labelled]
    preds = {
        k: [run[u]["predicted_label"] or "<none>" for u in labelled]
        for k, run in (("a", a), ("b", b))
    }
    present = sorted(set(y_true) | {p for k in preds for p in preds[k] if p != "<none>"})
    per_class, macro = {}, {}
    for k in ("a", "b"):
        p, r, f, s = precision_recall_fscore_support(
            y_true, preds[k], labels=present, zero_division=0
        )
        macro[k] = float(f.mean())
        for i, label in enumerate(present):
            per_class.setdefault(label, {"support": int(s[i])})[k] = (p[i], r[i], f[i])
    changed = {}
    for u in common:
        pa, pb, t = a[u]["predicted_label"], b[u]["predicted_label"], b[u]["true_label"]
        if pa != pb:
            changed[u] = "fixed" if pb == t else "broken" if pa == t else "changed"
    return {
        "common": len(common),
        "only_a": len(set(a) - set(b)),
        "only_b": len(set(b) - set(a)),
        "labelled": len(labelled),
        "accuracy": {k: accuracy_score(y_true, preds[k]) for k in ("a", "b")},
        "top_k": {
            k: sum(b[u]["true_label"] in run[u]["top_k_labels"] for u in labelled) / len(labelled)
            for k, run in (("a", a), ("b", b))
        },
        "macro": macro,
        "per_class": per_class,
        "changed": changed,
    }


def check_comparison(got: dict, want: dict) -> None:
    approx = pytest.approx
    assert got["images"] == {
        "common": want["common"],
        "only_in_a": want["only_a"],
        "only_in_b": want["only_b"],
        "labelled_common": want["labelled"],
    }
    for key, exp in (
        ("accuracy", want["accuracy"]),
        ("top_k_accuracy", want["top_k"]),
        ("macro_f1", want["macro"]),
    ):
        assert got[key]["a"] == approx(exp["a"]) and got[key]["b"] == approx(exp["b"]), key
        assert got[key]["delta"] == approx(exp["b"] - exp["a"]), key
    assert sorted(c["label"] for c in got["per_class"]) == sorted(want["per_class"])
    for c in got["per_class"]:
        exp = want["per_class"][c["label"]]
        assert c["support"] == exp["support"]
        for i, metric in enumerate(("precision", "recall", "f1")):
            assert c[metric]["a"] == approx(exp["a"][i]) and c[metric]["b"] == approx(exp["b"][i])
            assert c[metric]["delta"] == approx(exp["b"][i] - exp["a"][i])
    changed = got["changed"]
    assert {c["uri"]: c["change"] for c in changed["images"]} == want["changed"]
    assert changed["count"] == len(want["changed"])
    for kind in ("fixed", "broken", "changed"):
        assert changed[kind] == list(want["changed"].values()).count(kind)


def test_compare_json_matches_independent_figures(history, capsys):
    out, labels = history["out"], history["labels"]
    dir_a, dir_b = os.path.join(out, FIRST), os.path.join(out, SECOND)
    status, got = _cli_json(capsys, "compare", dir_a, dir_b, "--json")
    assert status == 0
    want = expected_comparison(dir_a, dir_b, labels)
    check_comparison(got, want)
    assert want["changed"] and want["accuracy"]["b"] < want["accuracy"]["a"]  # they do differ
    assert got["a"]["run_id"] == FIRST and got["b"]["run_id"] == SECOND
    assert got["a"]["model_version"] == got["b"]["model_version"] == history["version"]
    assert got["a"]["completed"] and got["b"]["completed"] and got["warnings"] == []
    # Each changed image carries both predictions, as written in the CSVs.
    a, b = _predictions(dir_a), _predictions(dir_b)
    for c in got["changed"]["images"]:
        assert c["a"]["predicted_label"] == a[c["uri"]]["predicted_label"]
        assert c["b"]["predicted_label"] == b[c["uri"]]["predicted_label"]
        assert c["b"]["confidence"] == pytest.approx(b[c["uri"]]["confidence"])


def test_compare_a_subset_and_an_incomplete_run(history, capsys):
    out = history["out"]
    dir_a, dir_c = os.path.join(out, FIRST), os.path.join(out, THIRD)
    status, got = _cli_json(capsys, "compare", dir_a, dir_c, "--json")
    assert status == 0
    check_comparison(got, expected_comparison(dir_a, dir_c, history["labels"]))
    assert got["images"]["only_in_a"] == 15 and got["images"]["only_in_b"] == 0
    assert got["b"]["completed"] is False
    assert any("not complete" in w for w in got["warnings"])
    assert any("different images" in w for w in got["warnings"])


def test_compare_text_output_and_the_release_gate(history, capsys):
    out = history["out"]
    dir_a, dir_b = os.path.join(out, FIRST), os.path.join(out, SECOND)
    want = expected_comparison(dir_a, dir_b, history["labels"])
    capsys.readouterr()
    assert main(["compare", dir_a, dir_b, "--show", "3"]) == 0
    text = capsys.readouterr().out
    acc = want["accuracy"]
    assert f"accuracy {acc['a']:.4f} {acc['b']:.4f} {acc['b'] - acc['a']:+.4f}" in " ".join(
        text.split()
    )
    n = len(want["changed"])
    assert f"predictions changed: {n}" in text
    listed = [
        line
        for line in text.splitlines()
        if line.startswith("  broken") or line.startswith("  fixed") or line.startswith("  changed")
    ]
    assert len(listed) == min(3, n)
    # The gate: B withholds predictions, so it is worse than A.
    assert main(["compare", dir_a, dir_b, "--max_accuracy_drop", "0"]) == 1
    assert "B is worse" in capsys.readouterr().out
    assert main(["compare", dir_a, dir_b, "--max_accuracy_drop", "1"]) == 0
    assert "B passes" in capsys.readouterr().out
    # A run compared with itself: nothing changed, no delta, and the gate passes.
    status, same = _cli_json(capsys, "compare", dir_a, dir_a, "--json", "--max_accuracy_drop", "0")
    assert status == 0 and same["changed"]["count"] == 0 and same["accuracy"]["delta"] == 0
    assert same["verdict"]["passed"] is True


def test_compare_wrong_places(history, tmp_path, capsys):
    dir_a = os.path.join(history["out"], FIRST)
    assert main(["compare", dir_a, str(tmp_path)]) == 1
    assert "nothing there" in capsys.readouterr().err
    assert main(["compare", dir_a, str(tmp_path / "missing")]) == 1
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["compare", dir_a])
    assert e.value.code == 2


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

    status, runs = _cli_json(capsys, "runs", "--output", results, "--json", *flags)
    assert status == 0
    assert [r["run_id"] for r in runs] == ["s3-run", THIRD, SECOND]
    assert [r["completed"] for r in runs] == [True, False, True]
    local = {
        r["run_id"]: r for r in _cli_json(capsys, "runs", "--output", history["out"], "--json")[1]
    }
    for r in runs[1:]:
        for key in ("listed", "scored", "failed", "accuracy", "model_version", "status"):
            assert r[key] == local[r["run_id"]][key], key
    assert runs[0]["listed"] == 31 and runs[0]["accuracy"] == local[FIRST]["accuracy"]

    # The S3 run scored the same images as FIRST with the same model: same comparison.
    status, got = _cli_json(
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
