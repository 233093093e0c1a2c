"""run_folder.comparison: two runs that kept different top k are compared at one k (the
smaller), named as such; the same labels in another order are no difference."""

import json
import os

from bucketscore.run_folder.comparison import compare_runs, format_comparison
from bucketscore.run_folder.layout import SUCCESS, SUMMARY
from bucketscore.run_folder.schemas import PREDICTION_COLUMNS, csv_line, prediction_csv_line


def write_run(folder, rows, top_k, labels):
    os.makedirs(folder)
    with open(os.path.join(folder, "predictions-00000-of-00001.csv"), "w") as f:
        f.write(csv_line(PREDICTION_COLUMNS) + "\n")
        f.writelines(prediction_csv_line(r) + "\n" for r in rows)
    with open(os.path.join(folder, SUMMARY), "w") as f:
        json.dump({"top_k": top_k, "model": {"labels": labels}}, f)
    open(os.path.join(folder, SUCCESS), "w").write("{}\n")
    return str(folder)


def row(uri, true, ranked):
    return {
        "uri": uri,
        "true_label": true,
        "predicted_label": ranked[0],
        "confidence": 0.5,
        "correct": ranked[0] == true,
        "top_k_labels": ranked,
        "top_k_scores": [0.5 / (i + 1) for i in range(len(ranked))],
        "below_threshold": False,
        "width": 1,
        "height": 1,
        "model_version": "v",
        "run_id": "r",
    }


def test_top_k_accuracy_is_compared_at_the_smaller_k(tmp_path):
    labels = ["a", "b", "c", "d"]
    # the true label is 4th for two images, 3rd for one, 1st for one
    ranks = [
        ("x1", "d", ["a", "b", "c", "d"]),
        ("x2", "d", ["b", "c", "a", "d"]),
        ("x3", "c", ["a", "b", "c", "d"]),
        ("x4", "a", ["a", "b", "c", "d"]),
    ]
    a = write_run(tmp_path / "a", [row(u, t, r[:3]) for u, t, r in ranks], 3, labels)
    b = write_run(tmp_path / "b", [row(u, t, r) for u, t, r in ranks], 4, list(reversed(labels)))
    c = compare_runs(a, b)
    assert c["top_k"] == 3
    # at k = 3 both runs have 2 of 4 right; B's own top-4 (1.0) is not what is compared
    assert c["top_k_accuracy"] == {"a": 0.5, "b": 0.5, "delta": 0.0}
    assert any("A kept the top 3 labels per image, B the top 4" in w for w in c["warnings"])
    assert not any("different labels" in w for w in c["warnings"])  # same set, other order
    assert "top-3 accuracy" in format_comparison(c)


def test_different_label_sets_are_named(tmp_path):
    a = write_run(tmp_path / "a", [row("x", "a", ["a"])], 1, ["a", "b"])
    b = write_run(tmp_path / "b", [row("x", "a", ["a"])], 1, ["a", "c"])
    (w,) = [w for w in compare_runs(a, b)["warnings"] if "different labels" in w]
    assert "only A's: b" in w and "only B's: c" in w
