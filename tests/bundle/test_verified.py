"""bundle.verified: every file checked against its digest in model.json before a model is
used; a tampered, half-copied or edited bundle is refused, locally and from a bucket."""

import hashlib
import json
import os
import shutil

import pytest

from bucketscore.bundle.meta import BundleError, InputSpec, read_meta
from bucketscore.bundle.verified import check_version, fetch_verified
from bucketscore.model_export.sealing import write_bundle
from tests.support.storage_servers import unique_bucket_name

FILES = {"saved_model/saved_model.pb": b"graph", "saved_model/variables/v.data": b"weights"}


def _fake_bundle(tmp_path):
    src = tmp_path / "src"
    (src / "saved_model" / "variables").mkdir(parents=True)
    (src / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    (src / "saved_model" / "variables" / "v.data").write_bytes(b"weights")
    return src


def _hand_made_bundle(folder, files=FILES, **change) -> dict:
    """A bundle written here, digests and version computed with hashlib (not the code
    under test); returns its model.json document."""
    digests = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    lines = "".join(f"{rel}\0{digests[rel]}\n" for rel in sorted(digests))
    doc = {
        "format_version": 1,
        "name": "hand-made",
        "version": hashlib.sha256(lines.encode()).hexdigest()[:16],
        "labels": ["a", "b"],
        "input": {"height": 8, "width": 8, "channels": 1},
        "files": digests,
        **change,
    }
    for rel, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(folder, rel)), exist_ok=True)
        with open(os.path.join(folder, rel), "wb") as f:
            f.write(data)
    with open(os.path.join(folder, "model.json"), "w") as f:
        json.dump(doc, f)
    return doc


def test_tampered_bundle_is_refused(tmp_path):
    src = _fake_bundle(tmp_path)
    out = tmp_path / "out"
    write_bundle(str(src), str(out), name="m", labels=["a"], input_spec=InputSpec(8, 8, 1))
    (out / "saved_model" / "variables" / "v.data").write_bytes(b"evil weights")
    with pytest.raises(BundleError, match="does not match its digest"):
        fetch_verified(str(out), dest=str(tmp_path / "c1"))
    shutil.rmtree(out / "saved_model" / "variables")
    with pytest.raises(BundleError, match="missing"):
        fetch_verified(str(out), dest=str(tmp_path / "c2"))


def test_edited_model_json_is_refused(tmp_path):
    src = _fake_bundle(tmp_path)
    out = tmp_path / "out"
    write_bundle(str(src), str(out), name="m", labels=["a"], input_spec=InputSpec(8, 8, 1))
    doc = json.loads((out / "model.json").read_text())
    doc["files"]["saved_model/saved_model.pb"] = "0" * 64
    (out / "model.json").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="version"):
        fetch_verified(str(out), dest=str(tmp_path / "c"))


def test_a_bundle_made_by_hand_is_accepted_where_it_is(tmp_path):
    doc = _hand_made_bundle(str(tmp_path / "b"))
    meta, local = fetch_verified(str(tmp_path / "b") + "/")
    assert local == str(tmp_path / "b")  # used in place, no copy
    assert meta.version == doc["version"] and meta.files == doc["files"]


def test_a_copy_to_dest_holds_every_file_and_model_json(tmp_path):
    doc = _hand_made_bundle(str(tmp_path / "b"))
    meta, local = fetch_verified(str(tmp_path / "b"), dest=str(tmp_path / "copy"))
    assert local == str(tmp_path / "copy")
    for rel, data in FILES.items():
        assert (tmp_path / "copy" / rel).read_bytes() == data
    assert read_meta(local).version == doc["version"] == meta.version


def test_check_version_alone(tmp_path):
    doc = _hand_made_bundle(str(tmp_path / "b"))
    check_version("b", read_meta(str(tmp_path / "b")))  # as written: no error
    (tmp_path / "b" / "model.json").write_text(json.dumps(dict(doc, version="0" * 16)))
    with pytest.raises(BundleError, match="b: version 0000000000000000 does not match"):
        check_version("b", read_meta(str(tmp_path / "b")))


def test_a_half_copied_bundle_is_refused(tmp_path):
    """model.json is written last: a copy cut short has none (no bundle), or, copied by
    other means, lacks a file it lists (refused before any model is loaded)."""
    _hand_made_bundle(str(tmp_path / "b"))
    os.remove(tmp_path / "b" / "model.json")
    with pytest.raises(BundleError, match="no model bundle at"):
        fetch_verified(str(tmp_path / "b"))
    _hand_made_bundle(str(tmp_path / "c"))
    os.remove(tmp_path / "c" / "saved_model" / "variables" / "v.data")
    with pytest.raises(BundleError, match="saved_model/variables/v.data is listed .* but missing"):
        fetch_verified(str(tmp_path / "c"))


def test_a_file_of_the_same_size_with_other_bytes_is_refused(tmp_path):
    _hand_made_bundle(str(tmp_path / "b"))
    (tmp_path / "b" / "saved_model" / "saved_model.pb").write_bytes(b"GRAPH")
    with pytest.raises(BundleError, match="saved_model.pb does not match its digest"):
        fetch_verified(str(tmp_path / "b"))


def test_a_tampered_bundle_in_a_bucket_leaves_nothing_in_the_cache(
    s3_server, tmp_path, monkeypatch
):
    from bucketscore.storage import uris

    monkeypatch.setenv("BUCKETSCORE_CACHE_DIR", str(tmp_path / "cache"))
    local = str(tmp_path / "b")
    doc = _hand_made_bundle(local)
    bucket = s3_server.create_bucket(unique_bucket_name("verified"))
    client = s3_server.boto3_client()
    for rel in [*FILES, "model.json"]:
        with open(os.path.join(local, rel), "rb") as f:
            body = f.read()
        if rel.endswith("v.data"):
            body = b"evil weights"
        client.put_object(Bucket=bucket, Key=f"m/{rel}", Body=body)
    uris.set_options(s3_server.beam_options())
    with pytest.raises(BundleError, match="v.data does not match its digest"):
        fetch_verified(f"s3://{bucket}/m")
    bundles = tmp_path / "cache" / "bundles"
    assert not [n for n in os.listdir(bundles) if not n.startswith((".use-", ".fill-"))]
    # The same bundle, intact, is fetched into the cache folder of its version.
    client.put_object(Bucket=bucket, Key="m/saved_model/variables/v.data", Body=b"weights")
    meta, folder = fetch_verified(f"s3://{bucket}/m")
    assert folder == str(bundles / doc["version"]) and meta.version == doc["version"]
    assert (bundles / doc["version"] / "saved_model" / "variables" / "v.data").read_bytes() == (
        b"weights"
    )
