"""storage.listing without Beam: which objects an input names (image names, prefixes, globs,
single files, overlapping inputs) and how planning rounds cut a listing into tasks that
together list every object once.

Every planned listing is compared with a plain full listing of the same store: os.walk for
local folders, boto3's paginator for SeaweedFS, google-cloud-storage for the GCS emulator.
The Beam stage that runs this plan (ListImages) is tested in tests/transforms/test_listing.py.
"""

import pytest

from bucketscore.storage import uris
from bucketscore.storage.listing import (
    FILE,
    GLOB,
    PREFIX,
    READY,
    count_images,
    expand,
    is_image_name,
    label_bases,
    list_input,
    list_task,
    resolve_inputs,
    root_tasks,
    split_input,
)
from tests.support.helpers import write_file
from tests.support.listing_trees import (
    TREE_IMAGES,
    gcs_listing_bucket,
    s3_listing,
    s3_listing_bucket,
    walk_images,
    write_day_class_folders,
    write_tree,
)


def _plan(inputs, rounds):
    """The tasks after `rounds` planning rounds (the Beam-free planner, as ListImages runs
    it), and every object they list (with repeats, if any)."""
    tasks = root_tasks(resolve_inputs(inputs))
    for _ in range(rounds):
        tasks = [t for task in tasks for t in expand(task)]
    listed = [o.uri for task in tasks for page in list_task(task) for o in page]
    return tasks, listed


def _listed_with_bases(inputs):
    """(uri, base) of every object the inputs name, listed without planning rounds."""
    tasks = root_tasks(resolve_inputs(inputs))
    return sorted((o.uri, o.base) for task in tasks for page in list_task(task) for o in page)


def test_is_image_name():
    assert is_image_name("s3://b/x/IMG_0001.JPG")
    assert is_image_name("a.WebP") and is_image_name("a.tiff")
    assert not is_image_name("a.txt") and not is_image_name("jpg") and not is_image_name("a.jpg.gz")


def test_split_input_prefix_and_glob(tmp_path):
    assert split_input("s3://b/p") == ("s3://b/p/", None)
    assert split_input("gs://b/p/*/x*.png") == ("gs://b/p/", "gs://b/p/*/x*.png")
    base, glob = split_input(str(tmp_path))
    assert base == str(tmp_path) + "/" and glob is None


def test_each_input_kind_is_resolved(tmp_path):
    write_tree(str(tmp_path))
    one = str(tmp_path / "a" / "b" / "3.jpeg")
    specs = {s.uri: s for s in resolve_inputs([str(tmp_path / "c"), one, str(tmp_path / "*.PNG")])}
    assert specs[str(tmp_path / "c")].kind == PREFIX
    assert specs[str(tmp_path / "c")].base == str(tmp_path / "c") + "/"
    assert (specs[one].kind, specs[one].base, specs[one].size) == (
        FILE,
        str(tmp_path / "a" / "b") + "/",
        1,
    )
    assert specs[str(tmp_path / "*.PNG")].kind == GLOB
    # An image name that does not exist is a prefix (nothing below it, so nothing listed).
    (gone,) = resolve_inputs([str(tmp_path / "gone.png")])
    assert gone.kind == PREFIX and _plan([gone.uri], 0)[1] == []
    assert label_bases([one, str(tmp_path / "c")]) == [
        str(tmp_path / "a" / "b") + "/",
        str(tmp_path / "c") + "/",
    ]


def test_a_prefix_names_every_image_below_it_in_any_case(tmp_path):
    write_tree(str(tmp_path))
    assert sorted(o.uri for o in list_input(str(tmp_path))) == sorted(
        str(tmp_path / n) for n in TREE_IMAGES
    )
    # `*` stays within a folder, `**` crosses folders (as Beam's own match).
    assert [o.uri for o in list_input(str(tmp_path / "a" / "*.png"))] == [str(tmp_path / "a/1.png")]
    assert sorted(o.uri for o in list_input(str(tmp_path / "**.png"))) == sorted(
        [str(tmp_path / "a/1.png")]
    )


def test_overlapping_inputs_name_each_object_once_with_the_base_that_sorts_first(tmp_path):
    write_tree(str(tmp_path))
    a = str(tmp_path / "a") + "/"
    # a/b is inside a: dropped; a/*.png is covered by the prefix a/.
    assert [s.uri for s in resolve_inputs([a, str(tmp_path / "a" / "b")])] == [a]
    for inputs in (
        [str(tmp_path / "a"), str(tmp_path / "a" / "b"), str(tmp_path / "a" / "*.png")],
        [str(tmp_path / "a" / "*.png"), str(tmp_path / "a" / "b"), str(tmp_path / "a")],
    ):
        assert _listed_with_bases(inputs) == [
            (str(tmp_path / "a/1.png"), a),
            (str(tmp_path / "a/2.JPG"), a),
            (str(tmp_path / "a/b/3.jpeg"), a),
            (str(tmp_path / "a/b/4.Tiff"), a),
        ]
    # A glob whose base is outside a prefix input: neither covers the other; the object both
    # name goes with the glob's base (it sorts first), the prefix keeps the rest.
    b = str(tmp_path / "a" / "b") + "/"
    assert _listed_with_bases([b, str(tmp_path / "a" / "**.JPEG")]) == [
        (str(tmp_path / "a/b/3.jpeg"), b),
        (str(tmp_path / "a/b/4.Tiff"), b),
    ]  # the glob is case-sensitive: it names no object
    assert _listed_with_bases([b, str(tmp_path / "a" / "**.jpeg")]) == [
        (str(tmp_path / "a/b/3.jpeg"), a),
        (str(tmp_path / "a/b/4.Tiff"), b),
    ]


def test_count_images_stops_past_the_limit(tmp_path):
    write_tree(str(tmp_path))
    assert count_images([str(tmp_path)], limit=100) == len(TREE_IMAGES) == 9
    assert count_images([str(tmp_path)], limit=9) == 9
    assert count_images([str(tmp_path)], limit=8) is None
    assert count_images([str(tmp_path / "a"), str(tmp_path / "c")], limit=100) == 8
    assert count_images(["manifest:" + str(tmp_path / "none.txt")], limit=5) is None


def test_many_local_folders_fan_out_and_list_what_os_walk_lists(tmp_path):
    write_day_class_folders(str(tmp_path))
    expected = walk_images(tmp_path)
    assert len(expected) == 108
    tasks, listed = _plan([str(tmp_path)], rounds=3)
    assert len(tasks) == 36  # one per class folder
    assert sorted(listed) == expected  # each once


def test_a_flat_local_folder_is_cut_into_key_ranges(tmp_path):
    for i in range(1000):
        write_file(str(tmp_path / "flat" / f"img_{i:05d}.png"), b"")
    write_file(str(tmp_path / "flat" / "img_00500.txt"), b"")  # at a cut: still not listed
    expected = walk_images(tmp_path / "flat")
    tasks, listed = _plan([str(tmp_path / "flat")], rounds=1)
    assert len(tasks) == 1000 // 64 and all(t.kind == READY and t.flat for t in tasks)
    assert sorted(listed) == expected


@pytest.fixture(scope="module")
def s3_flat(s3_server):
    bucket = s3_listing_bucket(s3_server)
    uris.set_options(s3_server.beam_options())  # for the planner called here
    return bucket, s3_server.boto3_client()


def test_a_flat_s3_prefix_is_split_by_key_ranges(s3_flat):
    bucket, client = s3_flat
    root = f"s3://{bucket}/flat/"
    expected = s3_listing(client, bucket, "flat/")
    assert len(expected) == 2600
    first = expand(root_tasks(resolve_inputs([root]))[0])
    # The first page (1,000 keys) was truncated: what follows it is cut into ranges.
    assert len(first) > 8 and all(t.after or t.before for t in first)
    assert all(t.before is None or not is_image_name(t.before) for t in first)
    for rounds in (0, 1, 2, 3):
        tasks, listed = _plan([root], rounds)
        assert sorted(listed) == expected, rounds  # the same set, each key once
        assert (len(tasks) == 1) == (rounds == 0)


def test_many_s3_sub_prefixes_fan_out(s3_flat):
    bucket, client = s3_flat
    root = f"s3://{bucket}/hashed/"
    expected = s3_listing(client, bucket, "hashed/")
    first = expand(root_tasks(resolve_inputs([root]))[0])
    # 97 sub-prefixes, more than MAX_CHILDREN: ranges of consecutive ones.
    assert 2 < len(first) <= 64 and all(t.prefix == root for t in first)
    tasks, listed = _plan([root], rounds=3)
    assert len(tasks) > 97 and sorted(listed) == expected


@pytest.mark.parametrize("prefix", ["tricky/", "small/"])
def test_names_that_sort_apart_in_folder_order_are_listed_once(s3_flat, prefix):
    bucket, client = s3_flat
    root = f"s3://{bucket}/{prefix}"
    expected = s3_listing(client, bucket, prefix)
    for rounds in (1, 2, 3):
        tasks, listed = _plan([root], rounds)
        assert sorted(listed) == expected, rounds
        assert len(tasks) > 1


def test_a_single_bucket_object_is_one_file_input(s3_flat):
    bucket, _client = s3_flat
    one = f"s3://{bucket}/flat/img_000007.png"
    (spec,) = resolve_inputs([one])
    assert (spec.kind, spec.base, spec.size) == (FILE, f"s3://{bucket}/flat/", 1)
    assert _plan([one], rounds=3)[1] == [one]


def test_gcs_prefixes_and_key_ranges(gcs_server):
    bucket, expected = gcs_listing_bucket(gcs_server)
    tasks, listed = _plan([f"gs://{bucket}/"], rounds=3)
    ranged = [t for t in tasks if t.after or t.before]
    assert len(ranged) == 300 // 64  # the flat prefix: level tasks by key range
    assert sorted(listed) == expected
