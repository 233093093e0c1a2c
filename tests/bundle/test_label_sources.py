"""bundle.label_sources: --labels parsed (folder, regex:, csv:, manifest, none), each
source's label for an image, and labels CSVs (identical duplicate rows are fine,
conflicting ones are a clear error)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import pytest

from bucketscore.bundle.label_sources import (
    LabelSource,
    LabelSourceError,
    csv_candidates,
    csv_key,
    label_of,
    read_labels_csv,
)
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


@pytest.mark.parametrize(
    "text,message",
    [
        ("regex:[", "not a valid pattern"),
        ("regex:abc", "group"),
        ("csv:", "needs the URI"),
        ("label", "expected one of"),
    ],
)
def test_bad_label_sources(text, message):
    with pytest.raises(LabelSourceError, match=message):
        LabelSource.parse(text)


def test_csv_without_header_is_refused(tmp_path):
    from bucketscore.bundle.label_sources import read_labels_csv

    bad = tmp_path / "l.csv"
    bad.write_text("a.jpg,cat\n")
    with pytest.raises(LabelSourceError, match="path"):
        read_labels_csv(str(bad))


@pytest.mark.parametrize(
    "text,kind,argument,has_labels",
    [
        ("", "folder", "", True),
        (None, "folder", "", True),
        (" folder ", "folder", "", True),
        ("manifest", "manifest", "", True),
        ("none", "none", "", False),
        (r"regex:(.+)_\d+", "regex", r"(.+)_\d+", True),
        ("csv:gs://b/labels.csv", "csv", "gs://b/labels.csv", True),
    ],
)
def test_parse(text, kind, argument, has_labels):
    source = LabelSource.parse(text)
    assert (source.kind, source.argument, source.has_labels) == (kind, argument, has_labels)


@dataclass(frozen=True)
class Image:
    """What the label sources read of an image (the pipeline's ListedImage has more)."""

    uri: str
    base: str
    true_label: Optional[str] = None


IMAGE = Image("s3://b/in/cats/deep/tom_pic_07.jpg", "s3://b/in/")


def test_the_label_of_an_image_under_each_source():
    assert label_of(LabelSource.parse("folder"), IMAGE) == "deep"
    assert label_of(LabelSource.parse(r"regex:(.+)_pic_\d+"), IMAGE) == "tom"
    assert label_of(LabelSource.parse(r"regex:(dog)"), IMAGE) is None  # no match
    assert label_of(LabelSource.parse(r"regex:(x?)tom"), IMAGE) is None  # empty group
    assert label_of(LabelSource.parse("none"), IMAGE) is None
    assert label_of(LabelSource.parse("manifest"), IMAGE) is None
    assert label_of(
        LabelSource.parse("manifest"), Image(IMAGE.uri, IMAGE.base, "from-manifest")
    ) == ("from-manifest")
    # The regex is searched in the file name only, not in the folders above it.
    assert label_of(LabelSource("regex", "(cats)"), IMAGE, pattern=re.compile("(cats)")) is None
    assert label_of(LabelSource.parse("folder"), Image("top.png", "")) is None


def test_a_csv_names_an_image_by_full_uri_or_relative_to_its_input(tmp_path):
    source = LabelSource.parse(f"csv:{tmp_path / 'labels.csv'}")
    table = {"cats/deep/tom_pic_07.jpg": "relative", "s3://b/in/cats/x.jpg": "full"}
    assert csv_key(IMAGE) == [IMAGE.uri, "cats/deep/tom_pic_07.jpg"]
    assert label_of(source, IMAGE, table=table) == "relative"
    assert label_of(source, Image("s3://b/in/cats/x.jpg", "s3://b/in/"), table=table) == ("full")
    assert label_of(source, Image("s3://b/in/dogs/y.jpg", "s3://b/in/"), table=table) is None
    # Without a table given, the CSV is read.
    (tmp_path / "labels.csv").write_text("path,label\ncats/deep/tom_pic_07.jpg,read\n")
    assert label_of(source, IMAGE) == "read"


def test_a_csv_with_a_bom_upper_case_header_and_blank_cells(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes("\ufeffPath, LABEL \na.png,cat\nb.png,\n,dog\n c.png , owl \n".encode())
    assert read_labels_csv(str(path)) == {"a.png": "cat", "c.png": "owl"}


def test_a_labels_csv_that_cannot_be_read_is_a_label_source_error(tmp_path):
    with pytest.raises(LabelSourceError, match="cannot read the labels CSV"):
        read_labels_csv(str(tmp_path / "missing.csv"))


def test_many_conflicts_name_ten_and_count_the_rest(tmp_path):
    path = tmp_path / "labels.csv"
    rows = "".join(f"p{i:02d}.png,a\np{i:02d}.png,b\n" for i in range(13))
    path.write_text("path,label\n" + rows)
    with pytest.raises(LabelSourceError) as e:
        read_labels_csv(str(path))
    text = str(e.value)
    assert "13 path(s)" in text and "(and 3 more)" in text
    assert "p09.png: a, b" in text and "p10.png" not in text


def test_csv_candidates():
    assert csv_candidates("s3://b/x.png", ["gs://c/"]) == ["s3://b/x.png"]
    assert csv_candidates("/data/x.png", ["gs://c/"]) == ["/data/x.png"]
    assert csv_candidates("cats/x.png", ["gs://c/in/", "s3://d/"]) == [
        "gs://c/in/cats/x.png",
        "s3://d/cats/x.png",
    ]
