"""--incremental scheduled runs end to end: only new and changed images are scored, the rest
carried over; never built on an incomplete run."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np

from tests.support.helpers import (
    check_summary_against_sklearn,
    copy_demo_subset,
    direct_probabilities,
    read_local_run,
)
from tests.support.incremental import _score, first_day


def test_incremental_scores_only_new_and_changed(demo_bundle, tmp_path):
    images, out, first = first_day(demo_bundle, tmp_path, per_class=4)  # 40 images
    assert first["summary"]["counts"]["carried_over"] == 0
    assert first["summary"]["beam_counters"]["scored"] == 40

    # Day 2: 10 new images, 1 changed (another digit written over it).
    extra = tmp_path / "extra"
    copy_demo_subset(demo_bundle.data, str(extra), per_class=5)
    for label in os.listdir(extra):
        name = sorted(os.listdir(extra / label))[4]
        shutil.copy(extra / label / name, images / label / name)
    changed = images / "3" / sorted(os.listdir(images / "3"))[0]
    eight = sorted(os.listdir(images / "8"))[0]
    shutil.copy(images / "8" / eight, changed)  # now an 8 in folder 3: prediction changes
    os.utime(changed, (time.time() + 5, time.time() + 5))
    assert _score(images, demo_bundle.model, out, "day2") == 0
    second = read_local_run(str(out / "day2"))
    c = second["summary"]["counts"]
    assert c["listed"] == 50 and c["scored"] == 50 and c["carried_over"] == 39
    assert second["summary"]["beam_counters"]["scored"] == 11
    assert second["summary"]["incremental"]["scored_now"] == 11
    # The files were counted before _SUCCESS (run_folder/file_counts.py): 11 rows scored
    # now, 39 in predictions-carried-*, 50 in the object index.
    verified = second["summary"]["verified_files"]
    assert (verified["predictions"]["rows"], verified["carried"]["rows"]) == (11, 39)
    assert verified["carried"]["csv_rows"] == 39 and verified["objects"]["rows"] == 50
    # the listing is fanned out as in any run (the join is done in one process here:
    # workers.INCREMENTAL_WORKERS)
    assert second["manifest"]["arguments"]["listing_rounds"] == 3
    assert second["manifest"]["inference"]["workers"] == 1
    rows = {r["uri"]: r for r in second["predictions"]}
    assert len(rows) == 50
    # Carried rows say which run scored them; the 11 new ones are this run's.
    assert sum(r["run_id"] == "day2" for r in rows.values()) == 11
    assert rows[str(changed)]["run_id"] == "day2"
    # Every row (carried or not) equals a direct model call on the current file.
    files = {uri: open(uri, "rb").read() for uri in rows}
    expected = direct_probabilities(demo_bundle.model, files)
    labels = demo_bundle.meta.labels
    for uri, r in rows.items():
        assert r["predicted_label"] == labels[int(np.argmax(expected[uri]))], uri
    assert rows[str(changed)]["predicted_label"] == "8" and rows[str(changed)]["correct"] is False
    check_summary_against_sklearn(second["summary"], second["predictions"], list(labels))

    # A new model version (same weights, one more file in the bundle): all scored again.
    from bucketscore.bundle.meta import InputSpec
    from bucketscore.model_export.sealing import write_bundle

    other = tmp_path / "other_model"
    shutil.copytree(demo_bundle.model, other)
    (other / "NOTES.txt").write_text("re-released")
    doc = json.loads((other / "model.json").read_text())
    new = write_bundle(
        str(other),
        str(other),
        name=doc["name"],
        labels=doc["labels"],
        input_spec=InputSpec(**doc["input"]),
        outputs=tuple(doc["outputs"]),
    )
    assert new.version != demo_bundle.meta.version
    assert _score(images, other, out, "day3") == 0
    third = read_local_run(str(out / "day3"))
    assert third["summary"]["counts"]["carried_over"] == 0
    assert third["summary"]["beam_counters"]["scored"] == 50


def test_incremental_never_builds_on_an_incomplete_run(demo_bundle, tmp_path):
    images, out = tmp_path / "imgs", tmp_path / "out"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    assert _score(images, demo_bundle.model, out, "a") == 0
    os.remove(out / "a" / "_SUCCESS")  # as if it had died before finishing
    assert _score(images, demo_bundle.model, out, "b") == 0
    assert read_local_run(str(out / "b"))["summary"]["counts"]["carried_over"] == 0
