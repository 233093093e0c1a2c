"""model_export.quantizing: the int8 twin of the demo bundle, its figures recomputed here
with ONNX Runtime on the two files directly, and the refusal that leaves a bundle as it was."""

from __future__ import annotations

import glob
import json
import os
import shutil

import numpy as np
import pytest

from bucketscore.bundle.meta import INT8_FILE, ONNX_FILE, content_version, read_meta, sha256_file
from bucketscore.model_export import quantizing as q


def _decoded(paths, spec):
    from bucketscore.bundle.images import decode_image

    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(decode_image(f.read(), spec)[0])
    return np.stack(out)


def _probabilities(path, images):
    import onnxruntime as ort

    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(["probabilities"], {s.get_inputs()[0].name: images})[0]


def test_split_holds_out_every_fourth_image():
    images = np.arange(10)[:, None, None, None].astype(np.uint8)
    cal, held, labels = q.split(images, list("abcdefghij"))
    assert held[:, 0, 0, 0].tolist() == [3, 7]
    assert labels == ["d", "h"]
    assert cal[:, 0, 0, 0].tolist() == [0, 1, 2, 4, 5, 6, 8, 9]


def test_the_int8_twin_is_sealed_and_its_recorded_figures_hold(int8_demo_bundle):
    model = int8_demo_bundle.model
    meta = read_meta(model)
    record = meta.int8
    assert record["file"] == INT8_FILE and record["format"] == "QDQ"
    assert record["weights"] == "int8, per channel" and record["default"] is False
    # Sealed like every other file: digest listed, the version is the digest of the digests.
    assert meta.files[INT8_FILE] == sha256_file(os.path.join(model, INT8_FILE))
    assert meta.version == content_version(meta.files)
    assert record["fp32_sha256"] == meta.files[ONNX_FILE]

    # The held-out images, chosen here by the documented rule: the prefix's images in name
    # order, `samples` of them spread evenly, every 4th held out.
    paths = sorted(glob.glob(os.path.join(int8_demo_bundle.data, "*", "*.png")))
    n = int8_demo_bundle.samples
    chosen = [paths[i] for i in np.linspace(0, len(paths) - 1, n).round().astype(int)]
    held = chosen[3::4]
    assert record["calibration"]["images"] == n - len(held)
    images = _decoded(held, meta.input)
    fp32 = _probabilities(os.path.join(model, ONNX_FILE), images)
    int8 = _probabilities(os.path.join(model, INT8_FILE), images)
    truth = np.array([int(os.path.basename(os.path.dirname(p))) for p in held])
    a = record["agreement"]
    assert a["images"] == len(held) == a["labelled_images"]
    assert a["top1_agreement"] == pytest.approx(np.mean(fp32.argmax(1) == int8.argmax(1)))
    assert a["max_probability_difference"] == pytest.approx(np.abs(fp32 - int8).max(), abs=1e-6)
    assert a["accuracy_fp32"] == pytest.approx(np.mean(fp32.argmax(1) == truth))
    assert a["accuracy_int8"] == pytest.approx(np.mean(int8.argmax(1) == truth))
    assert a["top1_agreement"] >= 0.99  # the default floor: it was accepted
    # It is a quantized graph: int8 weights, Q/DQ nodes, and a smaller file.
    import onnx

    graph = onnx.load(os.path.join(model, INT8_FILE)).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert any(init.data_type == onnx.TensorProto.INT8 for init in graph.initializer)
    assert os.path.getsize(os.path.join(model, INT8_FILE)) < 0.5 * os.path.getsize(
        os.path.join(model, ONNX_FILE)
    )


def test_a_modified_int8_file_is_refused_like_any_other(int8_demo_bundle, tmp_path):
    from bucketscore.bundle.meta import BundleError
    from bucketscore.bundle.predictor import load_predictor

    model = str(tmp_path / "digits")
    shutil.copytree(int8_demo_bundle.model, model)
    with open(os.path.join(model, INT8_FILE), "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match="model.int8.onnx does not match its digest"):
        load_predictor(model, "onnx", "cpu", "int8")


def _snapshot(folder):
    return {
        os.path.relpath(p, folder): open(p, "rb").read()
        for p in glob.glob(os.path.join(folder, "**"), recursive=True)
        if os.path.isfile(p)
    }


def test_a_model_under_the_floor_is_refused_with_its_figures_and_the_bundle_is_unchanged(
    demo_bundle, tmp_path
):
    model = str(tmp_path / "digits")
    shutil.copytree(demo_bundle.model, model)
    before = _snapshot(model)
    meta = read_meta(model)
    paths = sorted(glob.glob(os.path.join(demo_bundle.data, "*", "*.png")))[::10][:40]
    real = _decoded(paths, meta.input)
    labels = [os.path.basename(os.path.dirname(p)) for p in paths]
    # Calibrated on black images only: every activation range is ~0, real digits saturate.
    black = np.zeros((24, *real.shape[1:]), np.uint8)
    bad = q.Samples("test", black, real, labels)
    with pytest.raises(q.AgreementTooLow) as e:
        q.quantize_bundle(model, images=bad, log=lambda _: None)
    message = str(e.value)
    assert "\n" not in message
    assert "refused: top-1 agreement with fp32" in message and "below --min_agreement 99.0%" in (
        message
    )
    assert "accuracy on 40 labelled: fp32" in message
    assert e.value.record["agreement"]["top1_agreement"] < 0.99
    assert _snapshot(model) == before  # no model.int8.onnx, model.json as it was


def test_generated_images_when_no_prefix_is_given(demo_bundle, tmp_path):
    model = str(tmp_path / "digits")
    shutil.copytree(demo_bundle.model, model)
    said = []
    meta = q.quantize_bundle(model, samples=16, min_agreement=0.0, default=True, log=said.append)
    record = json.load(open(os.path.join(model, "model.json")))["int8"]
    assert record == meta.int8
    assert record["calibration"] == {"source": "generated", "images": 12, "held_out_every": 4}
    assert record["agreement"]["images"] == 4 and record["agreement"]["accuracy_fp32"] is None
    assert record["default"] is True and read_meta(model).int8_default
    assert any("generated images" in line for line in said)


def test_a_bundle_without_model_onnx_is_refused(demo_bundle, tmp_path):
    from bucketscore.model_export.sealing import write_bundle

    meta = read_meta(demo_bundle.model)
    src = tmp_path / "tf_only_src"
    shutil.copytree(os.path.join(demo_bundle.model, "saved_model"), src / "saved_model")
    write_bundle(
        str(src),
        str(tmp_path / "tf_only"),
        name="tf",
        labels=list(meta.labels),
        input_spec=meta.input,
    )
    with pytest.raises(q.QuantizeError, match="has no model.onnx to quantize"):
        q.quantize_bundle(str(tmp_path / "tf_only"), log=lambda _: None)
    with pytest.raises(q.QuantizeError, match="at least 4 are needed"):
        q.quantize_bundle(demo_bundle.model, samples=3, log=lambda _: None)
