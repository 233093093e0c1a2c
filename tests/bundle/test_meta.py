"""bundle.meta: model.json parsed and validated (labels, input, format version, backends),
written back unchanged, and the bundle version as the digest of the file digests."""

from __future__ import annotations

import hashlib
import json

import pytest

from bucketscore.bundle.meta import (
    BundleError,
    BundleMeta,
    InputSpec,
    content_version,
    files_backends,
    read_meta,
    sha256_file,
)


def _doc(**change) -> dict:
    doc = {
        "format_version": 1,
        "name": "m",
        "version": "v",
        "labels": ["a"],
        "input": {"height": 8, "width": 8, "channels": 3},
        "files": {},
    }
    doc.update(change)
    return doc


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


@pytest.mark.parametrize(
    "text,message",
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        (json.dumps({"format_version": 1, "name": "m", "labels": ["a"]}), "lacks version, input"),
        (json.dumps(_doc(labels=["a", ""])), "non-empty strings"),
        (json.dumps(_doc(labels="a,b")), "non-empty list"),
        (json.dumps(_doc(input={"height": 8, "width": 8, "channels": 3, "dpi": 72})), "dpi"),
    ],
)
def test_malformed_model_json_names_the_file_and_the_problem(text, message):
    with pytest.raises(BundleError, match=message) as e:
        BundleMeta.from_json(text, where="s3://b/m/model.json")
    assert str(e.value).startswith("s3://b/m/model.json")


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"height": 0, "width": 8, "channels": 1}, "input size must be positive, not 0x8"),
        ({"height": 8, "width": -1, "channels": 1}, "input size must be positive, not 8x-1"),
        ({"height": 8, "width": 8, "channels": 4}, "input.channels must be 1 or 3, not 4"),
        ({"height": 8, "width": 8, "channels": 1, "interpolation": "x"}, "input.interpolation"),
    ],
)
def test_the_input_section_is_checked(spec, message):
    with pytest.raises(BundleError, match="^model.json: " + message):
        BundleMeta.from_json(json.dumps(_doc(input=spec)))
    with pytest.raises(BundleError, match=message):
        InputSpec(**spec)


def test_a_written_model_json_reads_back_the_same_with_unknown_keys_kept():
    meta = BundleMeta(
        name="pets",
        version="0123456789abcdef",
        labels=("cat", "dog"),
        input=InputSpec(24, 20, 3, "crop", "bicubic"),
        files={"saved_model/saved_model.pb": "1" * 64, "model.onnx": "2" * 64},
        metrics={"test_accuracy": 0.75},
        outputs=("probabilities", "embeddings"),
        extra={"embedding_dim": 16, "training": {"epochs": 3}},
    )
    text = meta.to_json()
    doc = json.loads(text)
    assert list(doc["files"]) == ["model.onnx", "saved_model/saved_model.pb"]  # sorted
    assert doc["input"] == {
        "height": 24,
        "width": 20,
        "channels": 3,
        "resize": "crop",
        "interpolation": "bicubic",
    }
    assert doc["embedding_dim"] == 16 and doc["training"] == {"epochs": 3}
    back = BundleMeta.from_json(text)
    assert back == meta
    assert back.has_embeddings and back.has_onnx and back.has_saved_model


def test_defaults_for_what_older_bundles_leave_out():
    meta = BundleMeta.from_json(json.dumps(_doc(files={"saved_model/x.pb": "0" * 64})))
    assert meta.outputs == ("probabilities",) and not meta.has_embeddings
    assert meta.metrics == {} and meta.extra == {}
    assert meta.input == InputSpec(8, 8, 3, "squash", "bilinear")
    assert meta.backends == ("tf",)  # no `backends` key: what the files say


def test_files_backends_reads_the_model_files():
    assert files_backends({}) == ()
    assert files_backends({"model.onnx": "x"}) == ("onnx",)
    assert files_backends({"saved_model/saved_model.pb": "x", "model.onnx": "x"}) == (
        "tf",
        "onnx",
    )
    # A file merely named like the folder is not a SavedModel; a nested onnx is not model.onnx.
    assert files_backends({"saved_model.pb": "x", "sub/model.onnx": "x"}) == ()


def test_content_version_is_the_digest_of_sorted_path_digest_lines():
    files = {"b.txt": "2" * 64, "a.txt": "1" * 64}
    by_hand = hashlib.sha256(f"a.txt\0{'1' * 64}\nb.txt\0{'2' * 64}\n".encode()).hexdigest()[:16]
    assert content_version(files) == by_hand
    assert content_version(dict(reversed(list(files.items())))) == by_hand  # order-free
    assert content_version({**files, "b.txt": "3" * 64}) != by_hand  # any digest changes it
    assert content_version({"c.txt": "1" * 64, "b.txt": "2" * 64}) != by_hand  # or any path


def test_sha256_file_is_hashlibs_digest_of_the_bytes(tmp_path):
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one 1 MiB read
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(str(path)) == hashlib.sha256(data).hexdigest()


def test_backends_in_model_json(tmp_path):
    """model.json says which backends a bundle has; bundles written before the key existed
    say it through their files; a listed backend without its files is refused."""
    from bucketscore.bundle.meta import BundleError, BundleMeta, InputSpec
    from bucketscore.bundle.predictor import choose_backend
    from bucketscore.model_export.sealing import write_bundle

    src = tmp_path / "src"
    (src / "saved_model").mkdir(parents=True)
    (src / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    (src / "model.onnx").write_bytes(b"onnx")
    meta = write_bundle(
        str(src), str(tmp_path / "both"), name="m", labels=["a"], input_spec=InputSpec(8, 8, 1)
    )
    assert meta.backends == ("tf", "onnx") and _meta(tmp_path / "both")["backends"] == [
        "tf",
        "onnx",
    ]
    doc = json.loads(meta.to_json())
    del doc["backends"]
    old = BundleMeta.from_json(json.dumps(doc))
    assert old.backends == ("tf", "onnx") and old.has_saved_model
    doc["files"] = {"model.onnx": "0" * 64}
    onnx_only = BundleMeta.from_json(json.dumps(dict(doc, backends=["onnx"])))
    assert choose_backend(onnx_only) == "onnx" and not onnx_only.has_saved_model
    with pytest.raises(BundleError, match="backend tf: .* no saved_model/"):
        choose_backend(onnx_only, "tf")
    with pytest.raises(BundleError, match="lists backend tf but has no saved_model/"):
        BundleMeta.from_json(json.dumps(dict(doc, backends=["tf", "onnx"])))
    with pytest.raises(BundleError, match="backends must be"):
        BundleMeta.from_json(json.dumps(dict(doc, backends=["tflite"])))
    with pytest.raises(BundleError, match="lists backend torch but has no model.pt2"):
        BundleMeta.from_json(json.dumps(dict(doc, backends=["torch"])))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no model")
    with pytest.raises(BundleError, match="none of saved_model/, model.onnx, model.pt2"):
        write_bundle(
            str(tmp_path / "empty"),
            str(tmp_path / "o"),
            name="m",
            labels=["a"],
            input_spec=InputSpec(8, 8, 1),
        )


def _meta(bundle) -> dict:
    with open(bundle / "model.json") as f:
        return json.load(f)


def test_read_meta_reads_a_local_model_json_without_checking_files(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps(_doc(name="x", files={"model.onnx": "0" * 64})))
    meta = read_meta(str(tmp_path))  # model.onnx is not there: read_meta reads no file
    assert meta.name == "x" and meta.files == {"model.onnx": "0" * 64}


def test_the_int8_record_counts_only_with_its_file():
    record = {"file": "model.int8.onnx", "agreement": {"top1_agreement": 1.0}, "default": True}
    with_file = BundleMeta.from_json(
        json.dumps(_doc(files={"model.onnx": "a", "model.int8.onnx": "b"}, int8=record))
    )
    assert with_file.int8 == record and with_file.int8_default
    without = BundleMeta.from_json(json.dumps(_doc(files={"model.onnx": "a"}, int8=record)))
    assert without.int8 is None and not without.int8_default
    plain = BundleMeta.from_json(json.dumps(_doc(files={"model.onnx": "a"})))
    assert plain.int8 is None and not plain.int8_default
    # The twin is not a backend of its own: `--precision int8` runs it on ONNX Runtime.
    assert with_file.backends == ("onnx",)
