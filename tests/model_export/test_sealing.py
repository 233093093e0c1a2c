"""model_export.sealing.write_bundle: digests of every file, model.json with the version and
backends, the folder copied to its destination (replacing what was there)."""

import hashlib
import json
import os

import pytest

from bucketscore.bundle.meta import BundleError, InputSpec, read_meta
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


def test_model_json_lists_hashlibs_digests_and_the_backends(tmp_path):
    src = _fake_bundle(tmp_path)
    (src / "model.onnx").write_bytes(b"onnx bytes")
    (src / "training").mkdir()
    (src / "training" / "curves.csv").write_text("epoch\n1\n")
    out = tmp_path / "out"
    write_bundle(
        str(src),
        str(out),
        name="m",
        labels=["a", "b"],
        input_spec=InputSpec(8, 8, 1),
        outputs=("probabilities", "embeddings"),
        extra={"embedding_dim": 4},
    )
    doc = json.loads((out / "model.json").read_text())
    want = {
        "saved_model/saved_model.pb": hashlib.sha256(b"graph").hexdigest(),
        "saved_model/variables/v.data": hashlib.sha256(b"weights").hexdigest(),
        "model.onnx": hashlib.sha256(b"onnx bytes").hexdigest(),
        "training/curves.csv": hashlib.sha256(b"epoch\n1\n").hexdigest(),
    }
    assert doc["files"] == want
    lines = "".join(f"{rel}\0{want[rel]}\n" for rel in sorted(want))
    assert doc["version"] == hashlib.sha256(lines.encode()).hexdigest()[:16]
    assert doc["backends"] == ["tf", "onnx"]
    assert doc["outputs"] == ["probabilities", "embeddings"] and doc["embedding_dim"] == 4
    assert (out / "training" / "curves.csv").read_text() == "epoch\n1\n"


def test_an_earlier_bundle_at_the_destination_is_replaced_whole(tmp_path):
    src = _fake_bundle(tmp_path)
    out = tmp_path / "out"
    (out / "model.onnx").parent.mkdir(parents=True)
    (out / "model.onnx").write_bytes(b"an older model")  # not in the new bundle
    meta = write_bundle(str(src), str(out), name="m", labels=["a"], input_spec=InputSpec(8, 8, 1))
    assert not (out / "model.onnx").exists()
    assert meta.backends == ("tf",)
    fetch_verified(str(out))  # what is there is exactly what model.json lists


def test_sealing_a_folder_in_place(tmp_path):
    src = _fake_bundle(tmp_path)
    meta = write_bundle(str(src), str(src), name="m", labels=["a"], input_spec=InputSpec(8, 8, 1))
    assert (src / "saved_model" / "saved_model.pb").read_bytes() == b"graph"  # not deleted
    assert "model.json" not in meta.files
    assert read_meta(str(src)) == meta
    # Sealed again (model.json now in the folder): the same version, model.json not listed.
    again = write_bundle(str(src), str(src), name="m", labels=["a"], input_spec=InputSpec(8, 8, 1))
    assert again.version == meta.version


def test_a_folder_without_a_model_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.txt").write_text("no model")
    with pytest.raises(
        BundleError, match="none of saved_model/, model.onnx, model.pt2: no model to seal"
    ):
        write_bundle(
            str(tmp_path / "src"),
            str(tmp_path / "out"),
            name="m",
            labels=["a"],
            input_spec=InputSpec(8, 8, 1),
        )
    assert not (tmp_path / "out").exists()
