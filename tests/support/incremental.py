"""A first --incremental run to build on, for the incremental tests."""

from __future__ import annotations

from bucketscore.cli.main import main
from tests.support.helpers import copy_demo_subset, read_local_run


def _score(images, model, out, run_id, *extra):
    return main(
        [
            "score",
            "--input",
            str(images),
            "--model",
            str(model),
            "--output",
            str(out),
            "--run_id",
            run_id,
            "--incremental",
            *extra,
        ]
    )


def first_day(demo_bundle, tmp_path, per_class: int):
    """(images folder, output, the first run) after a first --incremental run on
    per_class images of each digit."""
    images, out = tmp_path / "imgs", tmp_path / "out"
    copy_demo_subset(demo_bundle.data, str(images), per_class=per_class)
    assert _score(images, demo_bundle.model, out, "day1") == 0
    return images, out, read_local_run(str(out / "day1"))
