"""Which images report.html shows (run_folder.report_selection): what a mistake is, the
orders that pick the most confident mistakes, the least confident rows and the first
failures (ties broken by URI), the per-class groups in model label order, and the element
the page is drawn from.
"""

from __future__ import annotations

import pickle

from bucketscore.run_folder.report_selection import (
    MAX_CLASSES_SHOWN,
    assemble_items,
    by_predicted_label,
    failure_dict,
    failure_key,
    has_prediction,
    is_mistake,
    least_confident_key,
    mistake_key,
    per_class_items,
)
from tests.support.report_rows import LABELS, prediction_row


def test_is_mistake():
    assert is_mistake(prediction_row("a", "cat", "dog", 0.9))
    assert not is_mistake(prediction_row("a", "cat", "cat", 0.9))
    assert not is_mistake(prediction_row("a", None, "dog", 0.9))  # unlabelled
    assert not is_mistake(prediction_row("a", "cat", None, 0.2, below=True))  # abstained
    assert is_mistake(prediction_row("a", "owl", "dog", 0.9))
    assert not is_mistake(
        prediction_row("a", "owl", "dog", 0.9), labels=LABELS
    )  # unknown to the model
    assert is_mistake(prediction_row("a", "cat", "dog", 0.9), labels=LABELS)


def _uris(rows):
    return [r["uri"] for r in rows]


def test_mistake_key_puts_the_most_confident_first_and_the_smaller_uri_on_ties():
    rows = [
        prediction_row("b.png", "cat", "dog", 0.75),
        prediction_row("c.png", "cat", "dog", 0.95),
        prediction_row("a.png", "cat", "dog", 0.75),
        prediction_row("d.png", "cat", "dog", 0.10),
    ]
    # Top.Of keeps the largest keys: sorted descending is the order the page shows.
    assert _uris(sorted(rows, key=mistake_key, reverse=True)) == [
        "c.png",
        "a.png",
        "b.png",
        "d.png",
    ]
    assert max(rows[:3], key=mistake_key)["uri"] == "c.png"
    assert max([rows[0], rows[2]], key=mistake_key)["uri"] == "a.png"


def test_least_confident_key_puts_the_least_confident_first_and_the_smaller_uri_on_ties():
    rows = [
        prediction_row("b.png", None, "dog", 0.40),
        prediction_row("z.png", "cat", None, 0.05, below=True),
        prediction_row("a.png", None, "dog", 0.40),
        prediction_row("c.png", None, "cat", 0.99),
    ]
    order = sorted(rows, key=least_confident_key, reverse=True)
    assert _uris(order) == ["z.png", "a.png", "b.png", "c.png"]


def test_the_tie_breaker_survives_pickling():
    """Beam pickles the keys' values between workers: the order must hold after it."""
    key_a = pickle.loads(pickle.dumps(mistake_key(prediction_row("a.png", "c", "d", 0.5))))
    key_b = pickle.loads(pickle.dumps(mistake_key(prediction_row("b.png", "c", "d", 0.5))))
    assert key_b < key_a and not key_a < key_b and key_a != key_b
    assert key_a == mistake_key(prediction_row("a.png", "x", "y", 0.5))


def test_failures_are_kept_by_uri_whatever_their_type():
    from collections import namedtuple

    Schemad = namedtuple("Schemad", "uri stage error")
    got = [
        failure_dict({"uri": "/b.png", "stage": "read", "error": "gone", "extra": 1}),
        failure_dict(Schemad("/a.png", "decode", "bad")),
    ]
    assert got == [
        {"uri": "/b.png", "stage": "read", "error": "gone"},
        {"uri": "/a.png", "stage": "decode", "error": "bad"},
    ]
    assert sorted(got, key=failure_key)[0]["uri"] == "/a.png"


def test_per_class_items_follow_the_model_labels_then_the_others_sorted():
    rows = {label: [prediction_row(f"{label}.png", None, label, 0.9)] for label in ("owl", "dog")}
    rows["cat"] = []
    rows["ant"] = [prediction_row("ant.png", None, "ant", 0.8)]
    groups = per_class_items(rows.items(), labels=LABELS)
    assert [g["label"] for g in groups] == ["cat", "dog", "ant", "owl"]
    assert _uris(groups[1]["rows"]) == ["dog.png"]
    assert [g["label"] for g in per_class_items(rows.items())] == ["ant", "cat", "dog", "owl"]
    many = [(f"l{i:03d}", []) for i in range(MAX_CLASSES_SHOWN + 4)]
    assert len(per_class_items(many)) == MAX_CLASSES_SHOWN
    assert per_class_items(many, n_classes=2) == [
        {"label": "l000", "rows": []},
        {"label": "l001", "rows": []},
    ]


def test_rows_with_a_prediction_are_grouped_by_it():
    row = prediction_row("a.png", None, "dog", 0.9)
    assert has_prediction(row) and by_predicted_label(row) == ("dog", row)
    assert not has_prediction(prediction_row("b.png", "cat", None, 0.1, below=True))


def test_assemble_items_is_the_one_element_of_four_lists():
    items = assemble_items(iter([1]), (2,), least_confident=[3], most_confident=iter([4]))
    assert items == {
        "mistakes": [1],
        "failures": [2],
        "least_confident": [3],
        "most_confident": [4],
    }
    assert assemble_items([], []) == {
        "mistakes": [],
        "failures": [],
        "least_confident": [],
        "most_confident": [],
    }
