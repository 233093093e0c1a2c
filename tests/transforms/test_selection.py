"""transforms.selection: LeaveOut drops the --exclude matches; KeepFirst keeps the n smallest
by a key, whatever the order images arrive in."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.storage.selection import sample_key
from bucketscore.transforms.records import ListedImage
from bucketscore.transforms.selection import KeepFirst, LeaveOut

URIS = [f"s3://b/in/{d}/{i:03d}.png" for d in ("cats", "dogs", "thumbs") for i in range(20)]


def images():
    return [ListedImage(u, "s3://b/in/", 1, 1.0) for u in reversed(URIS)]


def test_leave_out_drops_the_matches_only():
    with TestPipeline() as p:
        kept = p | beam.Create(images()) | beam.ParDo(LeaveOut(("thumbs/*", "*/019.png")))
        expected = [u for u in URIS if "/thumbs/" not in u and not u.endswith("/019.png")]
        assert_that(kept | beam.Map(lambda i: i.uri), equal_to(expected))


def test_keep_first_by_uri_and_by_hash():
    by_uri = sorted(URIS)[:7]
    by_hash = sorted(URIS, key=sample_key)[:7]
    assert by_hash != by_uri  # the sample is not the first N in any folder order
    with TestPipeline() as p:
        listed = p | beam.Create(images())
        first = listed | "ByUri" >> KeepFirst(7) | "U1" >> beam.Map(lambda i: i.uri)
        sample = (
            listed | "ByHash" >> KeepFirst(7, key=sample_key) | "U2" >> beam.Map(lambda i: i.uri)
        )
        assert_that(first, equal_to(by_uri), label="first")
        assert_that(sample, equal_to(by_hash), label="sample")


def test_keep_first_of_fewer_keeps_all():
    with TestPipeline() as p:
        kept = p | beam.Create(images()[:3]) | KeepFirst(10) | beam.Map(lambda i: i.uri)
        assert_that(kept, equal_to(list(reversed(URIS))[:3]))
