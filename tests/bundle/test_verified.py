"""The bundle: model.json round trip, digests verified, tampering refused."""

import json
import os
import shutil

import pytest

from bucketscore.bundle.meta import BundleError, BundleMeta, InputSpec, read_meta
from bucketscore.bundle.verified import fetch_verified
from bucketscore.model_export.sealing import write_bundle


def _fake_bundle(tmp_path):
    src = tmp_path / "src"
    (src / "saved_model" / "variables").mkdir(parents=True)
    (src / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    (src / "saved_model" / "variables" / "v.data").write_bytes(b"weights")
    return src


def test_write_read_round_trip(tmp_path):
    src = _fake_bundle(tmp_path)
    meta = write_bundle(
        str(src),
        str(tmp_path / "out"),
        name="m",
        labels=["a", "b"],
        input_spec=InputSpec(8, 9, 3, "crop"),
        metrics={"test_accuracy": 0.5},
    )
    back = read_meta(str(tmp_path / "out"))
    assert back == meta
    assert set(back.files) == {"saved_model/saved_model.pb", "saved_model/variables/v.data"}
    assert back.input == InputSpec(8, 9, 3, "crop") and back.metrics["test_accuracy"] == 0.5
    _, local = fetch_verified(str(tmp_path / "out"), dest=str(tmp_path / "copy"))
    assert open(os.path.join(local, "saved_model", "saved_model.pb"), "rb").read() == b"graph"


def test_version_changes_with_content(tmp_path):
    src = _fake_bundle(tmp_path)
    v1 = write_bundle(
        str(src), str(tmp_path / "o1"), name="m", labels=["a"], input_spec=InputSpec(8, 8, 1)
    ).version
    (src / "saved_model" / "variables" / "v.data").write_bytes(b"other weights")
    v2 = write_bundle(
        str(src), str(tmp_path / "o2"), name="m", labels=["a"], input_spec=InputSpec(8, 8, 1)
    ).version
    assert v1 != v2


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


@pytest.mark.parametrize(
    "change,message",
    [
        ({"labels": []}, "labels"),
        ({"labels": ["a", "a"]}, "unique"),
        ({"input": {"height": 8, "width": 8, "channels": 2}}, "channels"),
        ({"input": {"height": 8, "width": 8, "channels": 3, "resize": "zoom"}}, "resize"),
        ({"format_version": 99}, "format_version"),
    ],
)
def test_bad_model_json(change, message):
    doc = {
        "format_version": 1,
        "name": "m",
        "version": "v",
        "labels": ["a"],
        "input": {"height": 8, "width": 8, "channels": 3},
        "files": {},
    }
    doc.update(change)
    with pytest.raises(BundleError, match=message):
        BundleMeta.from_json(json.dumps(doc))


def test_missing_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(BundleError, match="no model bundle"):
        read_meta(str(tmp_path / "nothing"))
