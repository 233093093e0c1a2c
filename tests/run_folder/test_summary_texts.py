"""run_folder.summary: the texts every place shows of a run's counts (scored with what was
carried over, what was selected), and the warning that the model may be the wrong one."""

from bucketscore.run_folder.summary import label_warnings, scored_text, selection_text


def test_scored_says_what_was_carried_over_only_when_something_was():
    assert scored_text(210) == "210"
    assert scored_text(210, 0) == "210"
    assert scored_text(210, 200) == "210 (10 now, 200 carried over)"


def test_selection_says_how_many_of_how_many_and_how():
    assert selection_text(None) == ""
    text = selection_text({"listed": 450, "selected": 20, "exclude": ["3/*"], "sample": 20})
    assert text == "20 of 450 listed (3/* excluded; a sample by URI hash)"
    assert "first in URI order" in selection_text({"listed": 9, "selected": 5, "limit": 5})


def summary(labelled, unknown: dict, model_labels):
    return {
        "counts": {
            "scored": labelled + sum(unknown.values()),
            "labelled": labelled,
            "unknown_label": sum(unknown.values()),
        },
        "unknown_labels": unknown,
        "model": {"labels": model_labels},
        "examples": {},
    }


def test_most_labels_unknown_to_the_model_is_a_warning_naming_a_few():
    digits = [str(d) for d in range(10)]
    s = summary(0, {"cat": 120, "dog": 60, "fish": 20}, digits)
    (warning,) = label_warnings(s, "folder")
    assert "200 of 200 labelled images have labels this model does not know" in warning
    assert "cat, dog, fish" in warning and "0, 1, 2" in warning
    assert "no accuracy could be computed" in warning and "right model" in warning
    some = summary(50, {"cat": 60}, digits)
    assert "accuracy is over the 50 images" in label_warnings(some, "folder")[0]


def test_a_few_unknown_labels_are_no_warning():
    assert label_warnings(summary(90, {"cat": 10}, ["a", "b"]), "folder") == []


def test_partition_folders_keep_their_own_advice():
    s = summary(0, {"2026-11-30": 100, "2026-12-01": 100}, ["a", "b"])
    (warning,) = label_warnings(s, "folder")
    assert "look like dates or partitions" in warning and "--labels none" in warning
