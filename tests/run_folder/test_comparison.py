"""Comparing two runs (run_folder.comparison), on run folders written here row by row: the
images in common, accuracy, top-k accuracy, macro F1 and per-class figures of each run against
scikit-learn over the same rows, the changed images (fixed, broken, changed), the warnings,
the text `bucketscore compare` prints, and runs read back from SeaweedFS.
"""

from __future__ import annotations

import json
import os

import pytest
from sklearn.metrics import precision_recall_fscore_support

from bucketscore.run_folder.comparison import compare_runs, format_comparison, read_run
from bucketscore.run_folder.history import RunHistoryError
from bucketscore.run_folder.schemas import PREDICTION_COLUMNS, csv_text
from tests.support.helpers import write_file
from tests.support.report_rows import prediction_row
from tests.support.storage_servers import unique_bucket_name

LABELS = ["cat", "dog", "fox"]
# uri: (true label, A's prediction, B's prediction); None: no prediction / not in that run.
IMAGES = {
    "s3://i/1.png": ("cat", "cat", "dog"),  # broken
    "s3://i/2.png": ("cat", "dog", "cat"),  # fixed
    "s3://i/3.png": ("dog", "dog", "dog"),
    "s3://i/4.png": ("dog", "<below>", "dog"),  # fixed: A abstained
    "s3://i/5.png": (None, "fox", "cat"),  # changed: no label to judge by
    "s3://i/6.png": ("fox", "fox", "fox"),
    "s3://i/7.png": ("fox", "cat", "<below>"),  # changed: wrong, then no prediction
    "s3://i/8.png": ("cat", "cat", None),  # only in A
    "s3://i/9.png": ("dog", None, "dog"),  # only in B
}


def _rows(side: int) -> list[dict]:
    rows = []
    for uri, (true, *preds) in IMAGES.items():
        pred = preds[side]
        if pred is None:
            continue
        below = pred == "<below>"
        rows.append(
            prediction_row(uri, true, None if below else pred, 0.3 if below else 0.9, below)
        )
    return rows


def _write_run(folder, rows, complete=True, labels=LABELS, shards=2) -> str:
    for i in range(shards):
        text = csv_text(
            PREDICTION_COLUMNS, ([r.get(c) for c in PREDICTION_COLUMNS] for r in rows[i::shards])
        )
        write_file(os.path.join(folder, f"predictions-{i:05d}-of-{shards:05d}.csv"), text.encode())
    summary = {"model": {"name": "toy", "version": "v1", "labels": labels}, "top_k": 2}
    summary.update(accuracy=0.5, top_k_accuracy=0.75, macro={"f1": 0.25})
    write_file(os.path.join(folder, "summary.json"), json.dumps(summary).encode())
    write_file(
        os.path.join(folder, "manifest.json"),
        json.dumps({"model": {"name": "toy", "version": "v1"}}).encode(),
    )
    if complete:
        write_file(os.path.join(folder, "_SUCCESS"), b"{}")
    return str(folder)


@pytest.fixture()
def runs(tmp_path):
    return _write_run(tmp_path / "A", _rows(0)), _write_run(tmp_path / "B", _rows(1))


def _expected_per_class(side: int) -> dict:
    """scikit-learn over the labelled images in both runs (no prediction: "<none>")."""
    common = [u for u, (t, a, b) in IMAGES.items() if a and b and t]
    y_true = [IMAGES[u][0] for u in common]
    y_pred = [IMAGES[u][1 + side].replace("<below>", "<none>") for u in common]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=LABELS, zero_division=0)
    return {label: (p[i], r[i], f[i], s[i]) for i, label in enumerate(LABELS)}


def test_the_figures_are_over_the_labelled_images_in_both_runs(runs):
    got = compare_runs(*runs)
    assert got["images"] == {"common": 7, "only_in_a": 1, "only_in_b": 1, "labelled_common": 6}
    # A: right on 1, 3, 6 of 6; B: right on 2, 3, 4, 6.
    assert got["accuracy"] == {"a": 0.5, "b": 4 / 6, "delta": pytest.approx(4 / 6 - 0.5)}
    # The top-2 labels are [prediction (or cat when none), dog]: A has the true label there
    # for 1, 3, 4, 6 (not 2: [dog, dog]; not 7: [cat, dog]); B for 2, 3, 4, 6.
    assert got["top_k_accuracy"] == {"a": 4 / 6, "b": 4 / 6, "delta": 0.0}
    want_a, want_b = _expected_per_class(0), _expected_per_class(1)
    assert [c["label"] for c in got["per_class"]] == LABELS
    for c in got["per_class"]:
        a, b = want_a[c["label"]], want_b[c["label"]]
        assert c["support"] == a[3] == b[3]
        for i, metric in enumerate(("precision", "recall", "f1")):
            assert c[metric]["a"] == pytest.approx(a[i]) and c[metric]["b"] == pytest.approx(b[i])
            assert c[metric]["delta"] == pytest.approx(b[i] - a[i])
    macro_a = sum(v[2] for v in want_a.values()) / 3
    macro_b = sum(v[2] for v in want_b.values()) / 3
    assert got["macro_f1"]["a"] == pytest.approx(macro_a)
    assert got["macro_f1"]["b"] == pytest.approx(macro_b)


def test_each_runs_calibration_and_suspects_are_shown_beside(runs):
    got = compare_runs(*runs)
    assert got["own"]["calibration_ece"] == {"a": None, "b": None, "delta": None}
    for run, ece, count in ((runs[0], 0.05, 7), (runs[1], 0.02, 3)):
        with open(os.path.join(run, "summary.json")) as f:
            summary = json.load(f)
        summary["calibration"] = {"ece": ece, "mce": 0.1}
        summary["suspect_labels"] = {"count": count}
        write_file(os.path.join(run, "summary.json"), json.dumps(summary).encode())
    got = compare_runs(*runs)
    assert got["own"]["calibration_ece"]["delta"] == pytest.approx(-0.03)
    assert got["own"]["suspect_labels"] == {"a": 7, "b": 3, "delta": -4}
    text = format_comparison(got)
    assert "calibration error (ECE) A 0.0500, B 0.0200 (-0.0300); suspect labels A 7, B 3" in text


def test_changed_images_broken_first_then_fixed_then_changed(runs):
    changed = compare_runs(*runs)["changed"]
    assert [(c["change"], c["uri"]) for c in changed["images"]] == [
        ("broken", "s3://i/1.png"),
        ("fixed", "s3://i/2.png"),
        ("fixed", "s3://i/4.png"),
        ("changed", "s3://i/5.png"),
        ("changed", "s3://i/7.png"),
    ]
    assert (changed["count"], changed["fixed"], changed["broken"], changed["changed"]) == (
        5,
        2,
        1,
        2,
    )
    four = changed["images"][2]
    assert four["a"] == {"predicted_label": None, "confidence": 0.3}
    assert four["b"] == {"predicted_label": "dog", "confidence": 0.9}
    assert four["true_label"] == "dog"


def test_each_side_as_its_files_describe_it(runs):
    got = compare_runs(*runs)
    assert got["a"]["run_id"] == "A" and got["a"]["uri"] == runs[0] + "/"
    assert (got["a"]["images"], got["b"]["images"]) == (8, 8)
    assert got["b"]["model_version"] == "v1" and got["b"]["model_name"] == "toy"
    assert (got["b"]["accuracy"], got["b"]["top_k"], got["b"]["macro_f1"]) == (0.5, 2, 0.25)
    assert got["warnings"] == [
        "the runs scored different images (1 only in A, 1 only in B): the figures below are "
        "over the 7 in both"
    ]


def test_warnings_for_incomplete_runs_other_labels_and_disagreeing_truths(tmp_path):
    rows_b = _rows(1)
    rows_b[0]["true_label"] = "dog"  # 1.png: B's labels say dog
    a = _write_run(tmp_path / "A", _rows(0), complete=False)
    b = _write_run(tmp_path / "B", rows_b, labels=["cat", "dog", "fox", "owl"])
    got = compare_runs(a, b)
    assert got["warnings"][0] == f"run A ({a}/) has no _SUCCESS: it is not complete"
    assert (
        "the two models have different labels (only B's: owl): images labelled with a label "
        "one model lacks count as misses for it"
    ) in got["warnings"]
    assert "1 images have a different true label in each run (B's is used)" in got["warnings"]
    assert got["changed"]["images"][0] == {
        "uri": "s3://i/1.png",
        "true_label": "dog",  # B's
        "change": "fixed",
        "a": {"predicted_label": "cat", "confidence": 0.9},
        "b": {"predicted_label": "dog", "confidence": 0.9},
    }


def test_a_run_compared_with_itself_changes_nothing(runs):
    got = compare_runs(runs[0], runs[0])
    assert got["changed"]["count"] == 0 and got["warnings"] == []
    # All of A's labelled images now (8.png too): right on 1, 3, 6, 8 of 7.
    assert got["accuracy"] == {"a": 4 / 7, "b": 4 / 7, "delta": 0.0}


def test_what_is_not_a_run(tmp_path, runs):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunHistoryError, match="empty: nothing there"):
        read_run(str(tmp_path / "empty"))
    write_file(str(tmp_path / "other" / "summary.json"), b"{}")
    with pytest.raises(RunHistoryError, match="other: no predictions"):
        compare_runs(runs[0], str(tmp_path / "other"))
    with pytest.raises(RunHistoryError, match="no such folder"):
        compare_runs(runs[0], str(tmp_path / "missing"))
    run = read_run(runs[1])
    assert run.completed and run.model_labels == LABELS and len(run.predictions) == 8
    assert run.predictions["s3://i/7.png"].predicted_label is None


def test_the_text_compare_prints(runs):
    text = format_comparison(compare_runs(*runs), show=2)
    lines = text.splitlines()
    assert lines[0].startswith(f"A: {runs[0]}/  model toy@v1, 8 images, complete")
    assert "images in both runs: 7 (only in A: 1, only in B: 1); labelled: 6" in text
    assert "warning: the runs scored different images" in text
    assert " ".join(next(x for x in lines if x.startswith("accuracy")).split()) == (
        f"accuracy 0.5000 0.6667 {4 / 6 - 0.5:+.4f}"
    )
    assert any(x.startswith("top-2 accuracy") for x in lines)
    assert "predictions changed: 5 (fixed 2, broken 1, other 2)" in text
    shown = [x for x in lines if x.startswith(("  broken", "  fixed", "  changed"))]
    assert shown == [
        "  broken  s3://i/1.png  true cat: A cat (0.9000) -> B dog (0.9000)",
        "  fixed   s3://i/2.png  true cat: A dog (0.9000) -> B cat (0.9000)",
    ]
    assert "  ... 3 more (--show N, or --json for all)" in lines


def test_many_classes_show_the_largest_f1_drops_first(tmp_path):
    labels = [f"c{i:02d}" for i in range(40)]
    rows_a = [prediction_row(f"/{i}.png", labels[i], labels[i], 0.9) for i in range(40)]
    rows_b = [dict(r) for r in rows_a]
    for i in (3, 17):  # two classes get worse
        rows_b[i] = prediction_row(f"/{i}.png", labels[i], labels[(i + 1) % 40], 0.9)
    a = _write_run(tmp_path / "A", rows_a, labels=labels)
    b = _write_run(tmp_path / "B", rows_b, labels=labels)
    text = format_comparison(compare_runs(a, b), max_classes=3)
    assert "(3 of 40 classes shown: the largest F1 drops first; --json has all)" in text
    table = text.split("per class", 1)[1].split("predictions changed", 1)[0]
    shown = [line.split()[0] for line in table.splitlines()[2:] if line.strip()]
    # c03 and c17 drop from 1 to 0; c04 and c18 from 1 to 2/3 (a wrong prediction of them).
    assert shown == ["c03", "c17", "c04"]


def test_runs_read_back_from_s3(s3_server, runs):
    bucket = s3_server.create_bucket(unique_bucket_name("compare"))
    client = s3_server.boto3_client()
    for name in os.listdir(runs[1]):
        with open(os.path.join(runs[1], name), "rb") as f:
            client.put_object(Bucket=bucket, Key=f"results/B/{name}", Body=f.read())
    got = compare_runs(runs[0], f"s3://{bucket}/results/B", s3_server.beam_options())
    local = compare_runs(*runs)
    assert got["b"]["uri"] == f"s3://{bucket}/results/B/"
    for key in ("images", "accuracy", "top_k_accuracy", "macro_f1", "per_class", "changed"):
        assert got[key] == local[key], key
