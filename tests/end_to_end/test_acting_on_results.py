"""From "scored" to "acted upon", end to end: threshold evidence, calibration, suspect labels
and duplicate images on the demo digits with 5% of the labels flipped and planted copies,
each checked against an independent computation (numpy over the written rows, cleanlab,
hashlib over the files); an --incremental run keeps the scores and hashes it carries."""

from __future__ import annotations

import csv
import glob
import hashlib
import os
import random
import shutil

import numpy as np
import pytest

from bucketscore.cli.main import main
from tests.support.helpers import read_local_run, read_parquet_rows

FLIP_SHARE = 0.05


@pytest.fixture(scope="module")
def flipped(demo_bundle, tmp_path_factory):
    """Every held-out demo digit, labelled by a CSV in which 5% of the labels are flipped
    to another digit, plus planted copies: digit 3's first image twice more (one copy
    labelled 3, one labelled 5) and digit 7's first image once more labelled 7."""
    root = tmp_path_factory.mktemp("acting")
    images = root / "images"
    shutil.copytree(demo_bundle.data, images)
    files = sorted(glob.glob(str(images / "*" / "*.png")))
    rng = random.Random(7)
    flips = set(rng.sample(files, round(FLIP_SHARE * len(files))))
    labels = {}
    for path in files:
        real = os.path.basename(os.path.dirname(path))
        labels[path] = rng.choice([d for d in "0123456789" if d != real]) if path in flips else real
    three, seven = (
        sorted(glob.glob(str(images / "3" / "*.png")))[0],
        sorted(glob.glob(str(images / "7" / "*.png")))[0],
    )
    planted = {
        str(images / "copies" / "a.png"): (three, "3"),
        str(images / "copies" / "b.png"): (three, "5"),
        str(images / "copies" / "c.png"): (seven, "7"),
    }
    os.makedirs(images / "copies")
    for copy, (source, label) in planted.items():
        shutil.copy(source, copy)
        labels[copy] = label
    csv_path = root / "labels.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        for path, label in sorted(labels.items()):
            writer.writerow([os.path.relpath(path, images), label])
    out = root / "out"
    argv = [
        "score",
        "--input",
        str(images),
        "--model",
        demo_bundle.model,
        "--output",
        str(out),
        "--run_id",
        "full",
        "--labels",
        f"csv:{csv_path}",
        "--top_k",
        "10",  # every class: the test rebuilds each image's whole distribution
        "--target_accuracy",
        "0.9",
        "--no_progress",
    ]
    return {
        "images": images,
        "out": out,
        "argv": argv,
        "labels": labels,
        "flips": {p for p in flips},
        "planted": planted,
        "csv": csv_path,
    }


@pytest.fixture(scope="module")
def full_run(flipped):
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(flipped["argv"]) == 0
    run = read_local_run(str(flipped["out"] / "full"))
    run["printed"] = printed.getvalue()
    return run


def _matrix(rows, labels):
    """The full probability matrix and given-label indices from rows with top_k = all."""
    index = {label: i for i, label in enumerate(labels)}
    probabilities = np.zeros((len(rows), len(labels)))
    for n, row in enumerate(rows):
        for label, score in zip(row["top_k_labels"], row["top_k_scores"]):
            probabilities[n, index[label]] = score
    given = np.array([index[row["true_label"]] for row in rows])
    return probabilities, given


def test_rows_keep_the_given_labels_score_and_the_bytes_hash(flipped, full_run):
    for row in full_run["predictions"]:
        scores = dict(zip(row["top_k_labels"], row["top_k_scores"]))
        assert row["true_label_score"] == pytest.approx(scores[row["true_label"]], abs=1e-6)
        with open(row["uri"], "rb") as f:
            assert row["sha256"] == hashlib.sha256(f.read()).hexdigest()


def test_suspect_labels_follow_the_rule_and_find_the_flipped_ones_as_cleanlab_does(
    demo_bundle, flipped, full_run
):
    from cleanlab.filter import find_label_issues

    rows = full_run["predictions"]
    labels = list(demo_bundle.meta.labels)
    probabilities, given = _matrix(rows, labels)
    # The rule, independently: t_j = mean p_j over the images labelled j; suspect when
    # p_given < t_given and another class j has p_j >= t_j.
    t = np.array([probabilities[given == j, j].mean() for j in range(len(labels))])
    expected = {}
    for n, row in enumerate(rows):
        own = probabilities[n, given[n]]
        others = [j for j in range(len(labels)) if j != given[n] and probabilities[n, j] >= t[j]]
        if own < t[given[n]] and others:
            j = max(others, key=lambda j: probabilities[n, j])
            expected[row["uri"]] = (labels[j], probabilities[n, j] - own)
    written = list(csv.DictReader(open(flipped["out"] / "full" / "suspect_labels.csv")))
    assert {r["uri"]: r["suggested_label"] for r in written} == {
        uri: label for uri, (label, _margin) in expected.items()
    }
    margins = [float(r["margin"]) for r in written]
    assert margins == sorted(margins, reverse=True)
    for r in written:
        assert float(r["margin"]) == pytest.approx(expected[r["uri"]][1], abs=1e-6)
    summary = full_run["summary"]
    assert summary["suspect_labels"]["count"] == len(expected)
    assert summary["suspect_labels"]["unchecked"] == 0  # top_k = every class
    # Against the flipped labels, beside cleanlab's own rule on the same probabilities.
    flips = flipped["flips"]
    found = set(expected)
    precision, recall = len(found & flips) / len(found), len(found & flips) / len(flips)
    issues = find_label_issues(given, probabilities, filter_by="confident_learning")
    by_cleanlab = {rows[n]["uri"] for n in np.flatnonzero(issues)}
    cl_precision = len(by_cleanlab & flips) / max(len(by_cleanlab), 1)
    cl_recall = len(by_cleanlab & flips) / len(flips)
    print(
        f"\nsuspects: precision {precision:.3f} recall {recall:.3f} ({len(found)} found, "
        f"{len(flips)} flipped); cleanlab: precision {cl_precision:.3f} recall {cl_recall:.3f}"
    )
    assert precision >= 0.8 and recall >= 0.8
    assert cl_precision >= 0.8 and cl_recall >= 0.8


def test_the_threshold_curve_and_calibration_equal_numpy_over_the_rows(full_run):
    rows = full_run["predictions"]
    summary = full_run["summary"]
    confidence = np.array([r["confidence"] for r in rows], dtype=np.float64)
    right = np.array([r["top_k_labels"][0] == r["true_label"] for r in rows])
    curve = summary["threshold_evidence"]["curve"]
    assert len(curve) == 190
    for point in curve:
        kept = confidence >= point["threshold"]
        assert point["kept"] == kept.sum() and point["correct"] == right[kept].sum()
        assert point["coverage"] == pytest.approx(kept.mean())
    # --target_accuracy 0.9: the lowest threshold whose kept images reach it
    reaching = [p["threshold"] for p in curve if p["kept"] and p["correct"] / p["kept"] >= 0.9]
    assert summary["target_accuracy"]["threshold"] == min(reaching)
    assert f"threshold: {summary['target_accuracy']['text']}" in full_run["printed"]
    # ECE and MCE: ten equal-width bins, |accuracy - mean confidence| weighted by share
    bins = np.minimum((confidence * 10).astype(int), 9)
    gaps = [
        (np.sum(bins == m), abs(right[bins == m].mean() - confidence[bins == m].mean()))
        for m in range(10)
        if np.any(bins == m)
    ]
    ece = sum(n * gap for n, gap in gaps) / len(rows)
    assert summary["calibration"]["ece"] == pytest.approx(ece, abs=1e-9)
    assert summary["calibration"]["mce"] == pytest.approx(max(g for _n, g in gaps), abs=1e-9)
    # per class: over the images predicted as the class
    per_class = {r["label"]: r for r in summary["per_class"]}
    top1 = np.array([r["top_k_labels"][0] for r in rows])
    for label, figures in per_class.items():
        mine = top1 == label
        if not mine.any():
            continue
        b, c, ok = bins[mine], confidence[mine], right[mine]
        want = sum(np.sum(b == m) * abs(ok[b == m].mean() - c[b == m].mean()) for m in set(b))
        assert float(figures["ece"]) == pytest.approx(want / mine.sum(), abs=1e-6)


def test_planted_copies_are_grouped_and_differing_labels_warned(flipped, full_run):
    by_hash = {}
    for path, label in flipped["labels"].items():
        with open(path, "rb") as f:
            by_hash.setdefault(hashlib.sha256(f.read()).hexdigest(), []).append((path, label))
    expected = {h: sorted(m) for h, m in by_hash.items() if len(m) > 1}
    assert len(expected) == 2  # the planted groups (the demo digits are all distinct)
    written = list(csv.DictReader(open(flipped["out"] / "full" / "duplicates.csv")))
    groups = {}
    for r in written:
        groups.setdefault(r["sha256"], []).append((r["uri"], r["true_label"]))
        assert int(r["copies"]) == len(expected[r["sha256"]])
        differ = len({label for _p, label in expected[r["sha256"]]}) > 1
        assert r["labels_differ"] == ("true" if differ else "false")
    assert {h: sorted(m) for h, m in groups.items()} == expected
    section = full_run["summary"]["duplicates"]
    assert section == {
        "groups": 2,
        "images": 5,
        "groups_with_different_labels": 1,
        "unhashed": 0,
    }
    assert any("identical images" in w for w in full_run["summary"]["warnings"])
    page = open(flipped["out"] / "full" / "report.html").read()
    for section_id in ("thresholds", "suspect-labels", "duplicates", "reliability"):
        assert f'id="{section_id}"' in page


def test_no_label_checks_writes_neither_file(flipped, tmp_path):
    argv = list(flipped["argv"])
    argv[argv.index("--output") + 1] = str(tmp_path)
    assert main([*argv, "--no_label_checks"]) == 0
    run = read_local_run(str(tmp_path / "full"))
    assert "suspect_labels.csv" not in run["files"] and "duplicates.csv" not in run["files"]
    assert "suspect_labels" not in run["summary"] and run["summary"]["calibration"]["ece"] >= 0


def test_an_incremental_run_carries_scores_and_hashes_and_finds_the_same(
    demo_bundle, flipped, tmp_path
):
    images = tmp_path / "images"
    shutil.copytree(flipped["images"], images)
    argv = list(flipped["argv"])
    argv[argv.index("--input") + 1] = str(images)
    argv[argv.index("--output") + 1] = str(tmp_path / "out")
    argv[argv.index("--labels") + 1] = f"csv:{flipped['csv']}"
    argv[argv.index("--run_id") + 1] = "day1"
    assert main([*argv, "--incremental"]) == 0
    # Day 2: one more copy of the digit-7 image (a third member of its group).
    shutil.copy(
        flipped["planted"][str(flipped["images"] / "copies" / "c.png")][0].replace(
            str(flipped["images"]), str(images)
        ),
        images / "copies" / "d.png",
    )
    argv[argv.index("--run_id") + 1] = "day2"
    argv[argv.index("--labels") + 1] = "folder"
    assert main([*argv, "--incremental"]) == 0
    day1 = read_local_run(str(tmp_path / "out" / "day1"))
    day2 = read_local_run(str(tmp_path / "out" / "day2"))
    assert day2["summary"]["counts"]["carried_over"] == day1["summary"]["counts"]["scored"]
    carried = read_parquet_rows(
        glob.glob(str(tmp_path / "out" / "day2" / "predictions-carried-*.parquet"))
    )
    before = {r["uri"]: r for r in day1["predictions"]}
    for row in carried:
        assert row["sha256"] == before[row["uri"]]["sha256"]
        if row["true_label"] == before[row["uri"]]["true_label"]:
            assert row["true_label_score"] == pytest.approx(before[row["uri"]]["true_label_score"])
    dup = day2["summary"]["duplicates"]
    # labels are the folder names now: copies/ for the copies, so a.png and b.png agree
    assert dup["groups"] == 2 and dup["images"] == 6 and dup["unhashed"] == 0
