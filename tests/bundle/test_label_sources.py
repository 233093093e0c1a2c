"""Labels CSVs: identical duplicate rows are fine, conflicting ones are a clear error."""

from __future__ import annotations

import pytest

from bucketscore.bundle.label_sources import LabelSourceError, read_labels_csv
from bucketscore.cli.main import main
from tests.support.helpers import copy_demo_subset


def test_identical_duplicates_are_fine(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("path,label\na.png,cat\na.png,cat\nb.png,dog\n")
    assert read_labels_csv(str(path)) == {"a.png": "cat", "b.png": "dog"}


def test_conflicting_duplicates_are_an_error_naming_them(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(
        "path,label\na.png,cat\nb.png,dog\na.png,dog\nb.png,dog\nc.png,x\nc.png,y\nc.png,z\n"
    )
    with pytest.raises(LabelSourceError) as e:
        read_labels_csv(str(path))
    text = str(e.value)
    assert "2 path(s)" in text and "a.png: cat, dog" in text and "c.png: x, y, z" in text
    assert "b.png" not in text


def test_score_refuses_a_conflicting_csv_before_running(demo_bundle, tmp_path, capsys):
    images = tmp_path / "images"
    rels = copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label\n" + "".join(f"{r},{r[0]}\n" for r in rels) + f"{rels[0]},9\n")
    status = main(
        [
            "score",
            "--input",
            str(images),
            "--model",
            demo_bundle.model,
            "--output",
            str(tmp_path / "out"),
            "--labels",
            f"csv:{csv}",
        ]
    )
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{rels[0]}: 0, 9" in err[0]
    assert not (tmp_path / "out").exists()
