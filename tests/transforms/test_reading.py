"""transforms.reading: ReadImageBytes reads each listed object (bytes and counts on), an
object that cannot be read becomes an errors row of the read stage."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

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


def test_read_bytes_and_counts(tmp_path):
    from bucketscore.transforms import counters

    (tmp_path / "a.png").write_bytes(b"12345")
    (tmp_path / "b.png").write_bytes(b"xy")
    images = [ListedImage(str(tmp_path / n), str(tmp_path), size=1) for n in ("a.png", "b.png")]
    images.append(ListedImage(str(tmp_path / "gone.png"), str(tmp_path)))
    p = TestPipeline()
    out = p | beam.Create(images) | beam.ParDo(ReadImageBytes()).with_outputs(ERRORS_TAG, main="ok")
    assert_that(
        out.ok | beam.Map(lambda b: (b.image, b.data)),
        equal_to([(images[0], b"12345"), (images[1], b"xy")]),  # the listed record goes on
    )
    result = p.run()
    result.wait_until_finish()
    got = counters.beam_counters(result)
    assert (got["read"], got["bytes_read"], got["failed"]) == (2, 7, 1)
