"""ListImages, the Beam stage: prefixes, globs, single files, extensions in any case, each
object once, listed by many tasks (sub-prefixes, key ranges) and streamed into the stages
after it.

Every listing is compared with a plain full listing of the same store: os.walk for local
folders, boto3's paginator for SeaweedFS, google-cloud-storage for the GCS emulator. How the
planner cuts the listing (storage.listing, no Beam) is tested in tests/storage/test_listing.py.
"""

import threading

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.storage import uris
from bucketscore.transforms import counters
from bucketscore.transforms.listing import ListImages
from tests.support.helpers import write_file
from tests.support.listing_trees import (
    gcs_listing_bucket,
    s3_listing,
    s3_listing_bucket,
    walk_images,
    write_day_class_folders,
    write_tree,
)


def _uris_of(pcoll):
    return pcoll | beam.Map(lambda i: i.uri)


def test_prefix_lists_every_image_below_it(tmp_path):
    write_tree(str(tmp_path))
    with TestPipeline() as p:
        assert_that(
            _uris_of(p | ListImages([str(tmp_path)])),
            equal_to(
                [
                    str(tmp_path / n)
                    for n in [
                        "a/1.png",
                        "a/2.JPG",
                        "a/b/3.jpeg",
                        "a/b/4.Tiff",
                        "c/5.webp",
                        "c/6.gif",
                        "c/7.bmp",
                        "c/8.tif",
                        "top.PNG",
                    ]
                ]
            ),
        )


def test_overlapping_inputs_list_each_object_once(tmp_path):
    write_tree(str(tmp_path))
    with TestPipeline() as p:
        images = p | ListImages(
            [str(tmp_path / "a"), str(tmp_path / "a" / "b"), str(tmp_path / "a" / "*.png")]
        )
        assert_that(
            images | beam.Map(lambda i: (i.uri, i.base)),
            equal_to(
                [
                    (str(tmp_path / "a/1.png"), str(tmp_path / "a") + "/"),
                    (str(tmp_path / "a/2.JPG"), str(tmp_path / "a") + "/"),
                    (str(tmp_path / "a/b/3.jpeg"), str(tmp_path / "a") + "/"),
                    (str(tmp_path / "a/b/4.Tiff"), str(tmp_path / "a") + "/"),
                ]
            ),
        )


@pytest.mark.parametrize("order", [1, -1], ids=["inner-first", "outer-first"])
def test_overlapping_inputs_keep_the_base_that_sorts_first(tmp_path, order):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.png").write_bytes(b"x")
    (tmp_path / "a" / "y.png").write_bytes(b"x")
    # A glob whose base is outside a prefix input: neither covers the other; the object
    # both name is kept with the glob's base (it sorts first), the prefix keeps the rest.
    (tmp_path / "a" / "b" / "z.jpg").write_bytes(b"x")
    inputs = [str(tmp_path / "a" / "b"), str(tmp_path / "a" / "**.png")][::order]
    with TestPipeline() as p:
        images = p | ListImages(inputs)
        assert_that(
            images | beam.Map(lambda i: (i.uri, i.base)),
            equal_to(
                [
                    (str(tmp_path / "a" / "b" / "x.png"), str(tmp_path / "a") + "/"),
                    (str(tmp_path / "a" / "y.png"), str(tmp_path / "a") + "/"),
                    (str(tmp_path / "a" / "b" / "z.jpg"), str(tmp_path / "a" / "b") + "/"),
                ]
            ),
        )


def test_nothing_found_is_an_empty_collection(tmp_path):
    with TestPipeline() as p:
        assert_that(p | ListImages([str(tmp_path / "missing")]), equal_to([]))


def test_a_single_image_file_is_one_image(tmp_path):
    write_tree(str(tmp_path))
    one = str(tmp_path / "a" / "b" / "3.jpeg")
    with TestPipeline() as p:
        images = p | ListImages([one])
        assert_that(
            images | beam.Map(lambda i: (i.uri, i.base, i.size)),
            equal_to([(one, str(tmp_path / "a" / "b") + "/", 1)]),
        )


def test_many_local_folders_are_listed_as_os_walk_lists_them(tmp_path):
    write_day_class_folders(str(tmp_path))
    expected = walk_images(tmp_path)
    assert len(expected) == 108
    with TestPipeline() as p:
        assert_that(_uris_of(p | ListImages([str(tmp_path)])), equal_to(expected))


@pytest.fixture(scope="module")
def s3_flat(s3_server):
    """The listing bucket of tests/support/listing_trees.py (2,600 flat images, many hashed
    sub-prefixes, names that sort apart in folder order)."""
    bucket = s3_listing_bucket(s3_server)
    uris.set_options(s3_server.beam_options())
    return bucket, s3_server.boto3_client(), PipelineOptions(s3_server.beam_options())


def test_a_flat_s3_prefix_is_listed_whole(s3_flat):
    bucket, client, options = s3_flat
    root = f"s3://{bucket}/flat/"
    expected = s3_listing(client, bucket, "flat/")
    assert len(expected) == 2600
    with TestPipeline(options=options) as p:
        assert_that(_uris_of(p | ListImages([root])), equal_to(expected))


def test_many_s3_sub_prefixes_and_a_glob(s3_flat):
    bucket, client, options = s3_flat
    root = f"s3://{bucket}/hashed/"
    expected = s3_listing(client, bucket, "hashed/")
    with TestPipeline(options=options) as p:
        images = p | ListImages([root, f"s3://{bucket}/flat/img_0000*.png"])
        assert_that(
            _uris_of(images),
            equal_to(expected + [f"s3://{bucket}/flat/img_{i:06d}.png" for i in range(100)]),
        )


@pytest.mark.parametrize("prefix", ["tricky/", "small/"])
def test_names_that_sort_apart_in_folder_order_are_listed_once(s3_flat, prefix):
    bucket, client, options = s3_flat
    root = f"s3://{bucket}/{prefix}"
    expected = s3_listing(client, bucket, prefix)
    with TestPipeline(options=options) as p:
        assert_that(_uris_of(p | ListImages([root])), equal_to(expected))


def test_gcs_prefixes_and_key_ranges(gcs_server):
    bucket, expected = gcs_listing_bucket(gcs_server)
    with TestPipeline() as p:
        assert_that(_uris_of(p | ListImages([f"gs://{bucket}/"])), equal_to(expected))


def test_a_single_bucket_object_is_one_image(s3_flat):
    bucket, _client, options = s3_flat
    one = f"s3://{bucket}/flat/img_000007.png"
    with TestPipeline(options=options) as p:
        assert_that(_uris_of(p | ListImages([one])), equal_to([one]))


_seen: list = []
_lock = threading.Lock()


class _Note(beam.DoFn):
    """Notes how many images were listed when the first one arrives here."""

    def process(self, image):
        with _lock:
            if not _seen:
                _seen.append(counters.snapshot().get("listed", 0))
        yield image


def test_images_flow_on_before_listing_ends(tmp_path):
    for label in range(8):
        for i in range(300):
            write_file(str(tmp_path / f"c{label}" / f"{i:04d}.png"), b"")
    counters.reset()
    _seen.clear()
    with TestPipeline(runner=FnApiRunner()) as p:
        images = p | ListImages([str(tmp_path)]) | beam.ParDo(_Note())
        assert_that(images | beam.combiners.Count.Globally(), equal_to([2400]))
    assert counters.snapshot()["listed"] == 2400
    assert 0 < _seen[0] < 2400  # a stage after listing ran while listing went on
