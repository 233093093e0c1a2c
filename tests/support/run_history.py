"""Three real runs under one results folder, for the tests of `bucketscore runs` and
`bucketscore compare` (tests/cli/commands/test_runs.py, test_compare.py), and the comparison
computed independently of bucketscore (scikit-learn over the written CSV rows).

The runs (demo model, 3 images per digit and one broken file): FIRST a plain run, SECOND with
a --min_confidence that leaves about half the images without a prediction (so the results
differ), THIRD on the digits 0-4 only, its `_SUCCESS` deleted (an incomplete run). They are
made once per test session.
"""

from __future__ import annotations

import glob
import json
import os

import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from tests.support.helpers import copy_demo_subset, parse_csv, parse_predictions_csv, write_file

FIRST, SECOND, THIRD = "zz-first", "mm-second", "aa-third"  # newest last; ids sort backwards


def run_predictions(run_dir: str) -> dict[str, dict]:
    """{uri: row} of every predictions*.csv of a local run."""
    rows = []
    for name in sorted(glob.glob(os.path.join(run_dir, "predictions*.csv"))):
        with open(name, encoding="utf-8") as f:
            rows += parse_predictions_csv([f.read()])
    return {r["uri"]: r for r in rows}


def run_errors(run_dir: str) -> list[dict]:
    with open(os.path.join(run_dir, "errors.csv"), encoding="utf-8") as f:
        return parse_csv(f.read())


_made: dict = {}


def history_runs(demo_bundle, tmp_path_factory) -> dict:
    """{images, out, labels, version}: the three runs under `out` (see the module
    docstring), and bookkeeping beside them that is no run (`_state/`)."""
    from bucketscore.cli.main import main

    if demo_bundle.model in _made:
        return _made[demo_bundle.model]
    root = tmp_path_factory.mktemp("history")
    images, out = str(root / "images"), str(root / "results")
    copy_demo_subset(demo_bundle.data, images, per_class=3)
    write_file(os.path.join(images, "4", "broken.png"), b"not a png")
    base = ["--input", images, "--model", demo_bundle.model, "--output", out]
    assert main(["score", *base, "--run_id", FIRST]) == 0
    confidences = sorted(
        r["confidence"] for r in run_predictions(os.path.join(out, FIRST)).values()
    )
    threshold = confidences[len(confidences) // 2]
    assert main(["score", *base, "--run_id", SECOND, "--min_confidence", str(threshold)]) == 0
    subset = [os.path.join(images, str(d)) + "/" for d in range(5)]
    argv = ["score", "--input", *subset, "--model", demo_bundle.model, "--output", out]
    assert main([*argv, "--run_id", THIRD]) == 0
    os.remove(os.path.join(out, THIRD, "_SUCCESS"))
    # Bookkeeping beside the runs (as --incremental keeps) is not a run.
    write_file(os.path.join(out, "_state", "abc.json"), b'{"run_id": "zz-first"}')
    write_file(os.path.join(out, "_state", "summary.json"), b"{}")
    _made[demo_bundle.model] = {
        "images": images,
        "out": out,
        "labels": list(demo_bundle.meta.labels),
        "version": demo_bundle.meta.version,
    }
    return _made[demo_bundle.model]


def cli_json(capsys, *argv) -> tuple[int, object]:
    """(exit status, what the command printed: parsed JSON when it printed JSON)."""
    from bucketscore.cli.main import main

    capsys.readouterr()
    status = main(list(argv))
    out = capsys.readouterr().out
    return status, (json.loads(out) if status == 0 or out.strip().startswith(("{", "[")) else out)


def expected_comparison(dir_a: str, dir_b: str, labels: list[str]) -> dict:
    """The comparison computed independently: sklearn over the CSV rows in both runs."""
    a, b = run_predictions(dir_a), run_predictions(dir_b)
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
    """`compare --json`'s figures equal `expected_comparison`'s."""
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
