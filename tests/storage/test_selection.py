"""storage.selection: which listed images --exclude leaves out, and the order --sample picks by."""

import hashlib

from bucketscore.storage.listing import ListedObject
from bucketscore.storage.selection import excluded, relative_path, sample_key


def image(uri: str, base: str = "s3://b/in/") -> ListedObject:
    return ListedObject(uri, base, 10, 1.0)


def test_the_path_below_the_input_is_what_globs_see():
    assert relative_path(image("s3://b/in/cats/a.png")) == "cats/a.png"
    assert relative_path(image("s3://b/one.png", base="")) == "s3://b/one.png"


def test_excluded_matches_the_relative_path_or_the_whole_uri():
    thumbs = image("s3://b/in/cats/thumbs/a.png")
    assert excluded(thumbs, ("*/thumbs/*",))
    assert excluded(thumbs, ("s3://b/in/cats/*",))
    assert not excluded(image("s3://b/in/cats/a.png"), ("*/thumbs/*",))
    assert excluded(image("s3://b/in/raw/x.TIF"), ("raw/*",))
    assert not excluded(image("s3://b/in/raw/x.TIF"), ("raw/*.tif",))  # case counts
    assert not excluded(thumbs, ())


def test_the_sample_order_is_a_hash_of_the_uri():
    uri = "gs://b/in/x.png"
    assert sample_key(uri) == hashlib.sha256(uri.encode()).hexdigest()
    assert sample_key(uri) != sample_key(uri + "x")
