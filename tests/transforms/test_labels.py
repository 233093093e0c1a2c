"""AttachLabels: folder, regex, csv (relative and full paths), none."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.bundle.label_sources import LabelSource
from bucketscore.transforms.labels import AttachLabels
from bucketscore.transforms.records import ListedImage

IMAGES = [
    ListedImage("s3://b/in/cats/x1.jpg", "s3://b/in/"),
    ListedImage("s3://b/in/dogs/deep/homer_simpson_pic_0132.jpg", "s3://b/in/"),
    ListedImage("s3://b/in/top.png", "s3://b/in/"),
]


def _run(source, expected):
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(IMAGES)
            | beam.ParDo(AttachLabels(source))
            | beam.Map(lambda i: (i.uri.rsplit("/", 1)[-1], i.true_label))
        )
        assert_that(out, equal_to(expected))


def test_folder_labels():
    _run(
        LabelSource.parse("folder"),
        [("x1.jpg", "cats"), ("homer_simpson_pic_0132.jpg", "deep"), ("top.png", "in")],
    )


def test_regex_labels_first_group_of_file_name():
    _run(
        LabelSource.parse(r"regex:(.+)_pic_\d+"),
        [("x1.jpg", None), ("homer_simpson_pic_0132.jpg", "homer_simpson"), ("top.png", None)],
    )


def test_csv_labels_relative_or_full(tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text(
        "path,label\ncats/x1.jpg,tabby\ns3://b/in/dogs/deep/homer_simpson_pic_0132.jpg,homer\n"
    )
    _run(
        LabelSource.parse(f"csv:{table}"),
        [("x1.jpg", "tabby"), ("homer_simpson_pic_0132.jpg", "homer"), ("top.png", None)],
    )


def test_none_labels():
    _run(
        LabelSource.parse("none"),
        [("x1.jpg", None), ("homer_simpson_pic_0132.jpg", None), ("top.png", None)],
    )
