"""ReadImageBytes errors rows, and CSV formatting of awkward values."""

import csv
import io

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.run_folder.schemas import csv_line
from bucketscore.transforms.reading import ReadImageBytes
from bucketscore.transforms.records import ERRORS_TAG, ListedImage


def test_unreadable_objects_become_errors_rows(tmp_path):
    ok = tmp_path / "ok.png"
    ok.write_bytes(b"abc")
    images = [
        ListedImage(str(ok), str(tmp_path)),
        ListedImage(str(tmp_path / "deleted since listing.png"), str(tmp_path)),
    ]
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(images)
            | beam.ParDo(ReadImageBytes()).with_outputs(ERRORS_TAG, main="ok")
        )
        assert_that(out.ok | beam.Map(lambda b: b.data), equal_to([b"abc"]), label="read")
        assert_that(
            out[ERRORS_TAG] | beam.Map(lambda e: (e.uri, e.stage)),
            equal_to([(str(tmp_path / "deleted since listing.png"), "read")]),
            label="errors",
        )


def test_csv_line_quotes_and_joins():
    line = csv_line(['s3://b/a, "b".png', None, True, 0.5, ["x", "y"], [0.25, 0.125]])
    assert next(csv.reader(io.StringIO(line))) == [
        's3://b/a, "b".png',
        "",
        "true",
        "0.5",
        "x;y",
        "0.25;0.125",
    ]
