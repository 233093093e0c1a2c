"""ListImages: prefixes, globs, extensions in any case, each object once."""
import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.storage.listing import is_image_name, split_input
from bucketscore.transforms.listing import ListImages
from bucketscore.transforms.records import ListedImage
from tests.helpers import write_file


def _tree(root):
    names = ["a/1.png", "a/2.JPG", "a/b/3.jpeg", "a/b/4.Tiff", "c/5.webp", "c/6.gif",
             "c/7.bmp", "c/8.tif", "c/notes.txt", "c/model.json", "top.PNG", "c/noext"]
    for n in names:
        write_file(os.path.join(root, n), b"x")
    return names


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
        uris = p | ListImages([str(tmp_path)]) | beam.Map(lambda i: i.uri)
        assert_that(uris, equal_to([str(tmp_path / n) for n in
                                    ["a/1.png", "a/2.JPG", "a/b/3.jpeg", "a/b/4.Tiff", "c/5.webp",
                                     "c/6.gif", "c/7.bmp", "c/8.tif", "top.PNG"]]))


def test_overlapping_inputs_list_each_object_once(tmp_path):
    _tree(str(tmp_path))
    with TestPipeline() as p:
        images = p | ListImages([str(tmp_path / "a"), str(tmp_path / "a" / "b"),
                                 str(tmp_path / "a" / "*.png")])
        assert_that(images | beam.Map(lambda i: (i.uri, i.base)), equal_to([
            (str(tmp_path / "a/1.png"), str(tmp_path / "a") + "/"),
            (str(tmp_path / "a/2.JPG"), str(tmp_path / "a") + "/"),
            (str(tmp_path / "a/b/3.jpeg"), str(tmp_path / "a") + "/"),
            (str(tmp_path / "a/b/4.Tiff"), str(tmp_path / "a") + "/"),
        ]))


def test_nothing_found_is_an_empty_collection(tmp_path):
    with TestPipeline() as p:
        assert_that(p | ListImages([str(tmp_path / "missing")]), equal_to([]))


def test_chunks_are_few_but_enough_to_spread():
    from bucketscore.transforms.listing import MAX_CHUNK, MIN_CHUNKS, chunk_size

    assert chunk_size(0) == chunk_size(1) == chunk_size(MIN_CHUNKS) == 1
    assert chunk_size(100) == 2 and -(-100 // chunk_size(100)) >= MIN_CHUNKS // 2
    assert chunk_size(4000) == 63  # 64 chunks: every worker of a machine gets several
    assert chunk_size(10_000_000) == MAX_CHUNK


def test_a_chunk_round_trips_and_is_one_small_blob():
    import pickle

    from bucketscore.transforms.listing import pack_chunk, unpack_chunk

    images = [ListedImage(f"s3://bucket/photos/2026/{i:06d}.jpg", "s3://bucket/photos/", i * 7,
                          1.5e9 + i) for i in range(256)]
    blob = pack_chunk(images)
    assert isinstance(blob, bytes) and list(unpack_chunk(blob)) == images
    assert len(blob) < len(pickle.dumps(images)) / 4  # what the shuffle holds per image


def test_overlapping_inputs_keep_the_base_that_sorts_first(tmp_path):
    from bucketscore.transforms.listing import list_inputs

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.png").write_bytes(b"x")
    for inputs in ([str(tmp_path / "a" / "b"), str(tmp_path / "a")],
                   [str(tmp_path / "a"), str(tmp_path / "a" / "b")]):
        found = list_inputs(inputs)
        assert [(i.uri, i.base) for i in found] == [(str(tmp_path / "a" / "b" / "x.png"),
                                                    str(tmp_path / "a") + "/")]
