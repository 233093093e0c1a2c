"""ListImages: prefixes, globs, single files, extensions in any case, each object once,
listed by many tasks (sub-prefixes, key ranges) and streamed into the stages after it.

Every fanned-out listing is compared with a plain full listing of the same store: os.walk
for local folders, boto3's paginator for SeaweedFS, google-cloud-storage for the GCS
emulator.
"""

import os
import threading

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.storage import uris
from bucketscore.storage.listing import (
    READY,
    expand,
    is_image_name,
    list_task,
    resolve_inputs,
    root_tasks,
    split_input,
)
from bucketscore.transforms import counters
from bucketscore.transforms.listing import ListImages
from tests.support.helpers import write_file
from tests.support.storage_servers import unique_bucket_name


def _tree(root):
    names = [
        "a/1.png",
        "a/2.JPG",
        "a/b/3.jpeg",
        "a/b/4.Tiff",
        "c/5.webp",
        "c/6.gif",
        "c/7.bmp",
        "c/8.tif",
        "c/notes.txt",
        "c/model.json",
        "top.PNG",
        "c/noext",
    ]
    for n in names:
        write_file(os.path.join(root, n), b"x")
    return names


def _walk(root):
    """Every image below a local folder, by os.walk: the plain listing to compare with."""
    return sorted(
        os.path.join(d, n) for d, _, files in os.walk(root) for n in files if is_image_name(n)
    )


def _uris_of(pcoll):
    return pcoll | beam.Map(lambda i: i.uri)


def test_is_image_name():
    assert is_image_name("s3://b/x/IMG_0001.JPG")
    assert is_image_name("a.WebP") and is_image_name("a.tiff")
    assert not is_image_name("a.txt") and not is_image_name("jpg") and not is_image_name("a.jpg.gz")


def test_split_input_prefix_and_glob(tmp_path):
    assert split_input("s3://b/p") == ("s3://b/p/", None)
    assert split_input("gs://b/p/*/x*.png") == ("gs://b/p/", "gs://b/p/*/x*.png")
    base, glob = split_input(str(tmp_path))
    assert base == str(tmp_path) + "/" and glob is None


def test_prefix_lists_every_image_below_it(tmp_path):
    _tree(str(tmp_path))
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
    _tree(str(tmp_path))
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
    _tree(str(tmp_path))
    one = str(tmp_path / "a" / "b" / "3.jpeg")
    with TestPipeline() as p:
        images = p | ListImages([one])
        assert_that(
            images | beam.Map(lambda i: (i.uri, i.base, i.size)),
            equal_to([(one, str(tmp_path / "a" / "b") + "/", 1)]),
        )


def _plan(inputs, rounds):
    """The tasks after `rounds` planning rounds (the Beam-free planner, as ListImages runs
    it), and every object they list (with repeats, if any)."""
    tasks = root_tasks(resolve_inputs(inputs))
    for _ in range(rounds):
        tasks = [t for task in tasks for t in expand(task)]
    listed = [o.uri for task in tasks for page in list_task(task) for o in page]
    return tasks, listed


def test_many_local_folders_fan_out_and_list_what_os_walk_lists(tmp_path):
    for day in range(3):
        for label in range(12):
            for i in range(3):
                write_file(str(tmp_path / f"2026-11-{day:02d}" / f"c{label}" / f"{i}.png"), b"")
    (tmp_path / "2026-11-00" / "c0" / "notes.txt").write_text("not listed")
    expected = _walk(tmp_path)
    assert len(expected) == 108
    tasks, listed = _plan([str(tmp_path)], rounds=3)
    assert len(tasks) == 36  # one per class folder
    assert sorted(listed) == expected  # each once
    with TestPipeline() as p:
        assert_that(_uris_of(p | ListImages([str(tmp_path)])), equal_to(expected))


def test_a_flat_local_folder_is_cut_into_key_ranges(tmp_path):
    for i in range(1000):
        write_file(str(tmp_path / "flat" / f"img_{i:05d}.png"), b"")
    write_file(str(tmp_path / "flat" / "img_00500.txt"), b"")  # at a cut: still not listed
    expected = _walk(tmp_path / "flat")
    tasks, listed = _plan([str(tmp_path / "flat")], rounds=1)
    assert len(tasks) == 1000 // 64 and all(t.kind == READY and t.flat for t in tasks)
    assert sorted(listed) == expected


def _s3_put_all(s3_server, bucket, keys):
    from concurrent.futures import ThreadPoolExecutor

    s3_server.create_bucket(bucket)
    client = s3_server.boto3_client()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
    return client


def _s3_listing(client, bucket, prefix):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(
        f"s3://{bucket}/{o['Key']}"
        for page in pages
        for o in page.get("Contents", [])
        if is_image_name(o["Key"])
    )


@pytest.fixture(scope="module")
def s3_flat(s3_server):
    """A SeaweedFS bucket with a flat prefix of 2,600 images (more than two pages) and a
    prefix with many sub-prefixes (hashed two-level names)."""
    bucket = unique_bucket_name("listing")
    keys = [f"flat/img_{i:06d}.png" for i in range(2600)] + ["flat/img_000100.txt"]
    keys += [f"hashed/{i % 97:02x}/{i % 7}/{i:05d}.jpg" for i in range(700)]
    # Folders and files whose names share a start (`w001/`, `w001-b/`, `w001.png`): byte
    # order puts `w001-1.png` before `w001/x.png`, SeaweedFS (folder by folder) after.
    for i in range(600):
        w = f"w{i:03d}"
        keys += [f"tricky/{w}/x.png", f"tricky/{w}-b/y.png", f"tricky/{w}.png", f"tricky/{w}-1.png"]
        if i < 40:
            keys.append(f"small/{w}/x.png" if i % 2 else f"small/{w}-b/{w}.png")
    client = _s3_put_all(s3_server, bucket, keys)
    uris.set_options(s3_server.beam_options())  # for the planner called here
    return bucket, client, PipelineOptions(s3_server.beam_options())


def test_a_flat_s3_prefix_is_split_by_key_ranges(s3_flat):
    bucket, client, options = s3_flat
    root = f"s3://{bucket}/flat/"
    expected = _s3_listing(client, bucket, "flat/")
    assert len(expected) == 2600
    first = expand(root_tasks(resolve_inputs([root]))[0])
    # The first page (1,000 keys) was truncated: what follows it is cut into ranges.
    assert len(first) > 8 and all(t.after or t.before for t in first)
    assert all(t.before is None or not is_image_name(t.before) for t in first)
    for rounds in (0, 1, 2, 3):
        tasks, listed = _plan([root], rounds)
        assert sorted(listed) == expected, rounds  # the same set, each key once
        assert (len(tasks) == 1) == (rounds == 0)
    with TestPipeline(options=options) as p:
        assert_that(_uris_of(p | ListImages([root])), equal_to(expected))


def test_many_s3_sub_prefixes_fan_out(s3_flat):
    bucket, client, options = s3_flat
    root = f"s3://{bucket}/hashed/"
    expected = _s3_listing(client, bucket, "hashed/")
    first = expand(root_tasks(resolve_inputs([root]))[0])
    # 97 sub-prefixes, more than MAX_CHILDREN: ranges of consecutive ones.
    assert 2 < len(first) <= 64 and all(t.prefix == root for t in first)
    tasks, listed = _plan([root], rounds=3)
    assert len(tasks) > 97 and sorted(listed) == expected
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
    expected = _s3_listing(client, bucket, prefix)
    for rounds in (1, 2, 3):
        tasks, listed = _plan([root], rounds)
        assert sorted(listed) == expected, rounds
        assert len(tasks) > 1
    with TestPipeline(options=options) as p:
        assert_that(_uris_of(p | ListImages([root])), equal_to(expected))


def test_gcs_prefixes_and_key_ranges(gcs_server):
    client = gcs_server.client()
    bucket = unique_bucket_name("listing")
    gcs_server.create_bucket(bucket)
    names = [f"d{d}/c{c}/{i:04d}.png" for d in range(2) for c in range(3) for i in range(5)]
    names += [f"flat/{i:04d}.jpg" for i in range(300)] + ["flat/0150.txt", "d0/top.png"]
    for name in names:
        client.bucket(bucket).blob(name).upload_from_string(b"x")
    expected = sorted(
        f"gs://{bucket}/{b.name}" for b in client.list_blobs(bucket) if is_image_name(b.name)
    )
    tasks, listed = _plan([f"gs://{bucket}/"], rounds=3)
    ranged = [t for t in tasks if t.after or t.before]
    assert len(ranged) == 300 // 64  # the flat prefix: level tasks by key range
    assert sorted(listed) == expected
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
