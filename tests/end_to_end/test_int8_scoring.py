"""`score --precision int8` end to end on the demo: the int8 twin runs, its predictions
agree with an fp32 run of the same images, manifest.json says which ran; a bundle quantized
with --default runs int8 without the flag, --precision fp32 overrides it; a bundle without
a twin is a one-line error."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np

from bucketscore.cli.main import main
from tests.support.helpers import copy_demo_subset, read_local_run


def _score(images, model, out, run_id, *flags):
    return main(
        ["score", "--input", images, "--model", model, "--output", out, "--run_id", run_id]
        + list(flags)
    )


def test_int8_scoring_agrees_with_fp32_and_the_manifest_says_which_ran(
    int8_demo_bundle, tmp_path, capsys
):
    images = str(tmp_path / "images")
    copy_demo_subset(int8_demo_bundle.data, images, per_class=10)
    out = str(tmp_path / "out")
    model = int8_demo_bundle.model
    assert _score(images, model, out, "fp32", "--precision", "fp32") == 0
    assert _score(images, model, out, "int8", "--precision", "int8") == 0
    printed = capsys.readouterr().out
    assert "ONNX Runtime (model.int8.onnx, int8) on CPU" in printed
    fp32, int8 = (read_local_run(os.path.join(out, r)) for r in ("fp32", "int8"))
    by_uri = {r["uri"]: r for r in fp32["predictions"]}
    assert len(int8["predictions"]) == len(by_uri) == 100
    same = [
        by_uri[r["uri"]]["predicted_label"] == r["predicted_label"] for r in int8["predictions"]
    ]
    assert np.mean(same) >= 0.97  # the twin was accepted at >= 99% on held-out images
    # The scores are the int8 file's: recomputed here with ONNX Runtime directly.
    import onnxruntime as ort

    from bucketscore.bundle.images import decode_image
    from bucketscore.bundle.meta import read_meta

    meta = read_meta(model)
    session = ort.InferenceSession(
        os.path.join(model, "model.int8.onnx"), providers=["CPUExecutionProvider"]
    )
    row = int8["predictions"][0]
    with open(row["uri"].removeprefix("file://"), "rb") as f:
        pixels = decode_image(f.read(), meta.input)[0]
    probs = session.run(["probabilities"], {session.get_inputs()[0].name: pixels[None]})[0][0]
    assert (
        row["confidence"] == np.float32(probs.max())
        or abs(row["confidence"] - float(probs.max())) < 1e-5
    )
    inference = int8["manifest"]["inference"]
    assert inference["backend"] == "onnx" and inference["precision"] == "int8"
    assert inference["precision_source"] == "--precision"
    recorded = {k: v for k, v in inference["precision_agreement"].items() if k != "measured"}
    assert recorded == meta.int8["agreement"]
    assert fp32["manifest"]["inference"]["precision"] == "fp32"
    assert fp32["manifest"]["inference"]["precision_agreement"] is None


def test_a_bundle_default_runs_int8_without_the_flag(int8_demo_bundle, tmp_path, capsys):
    model = str(tmp_path / "digits")
    shutil.copytree(int8_demo_bundle.model, model)
    doc = json.load(open(os.path.join(model, "model.json")))
    doc["int8"]["default"] = True  # not a file digest: the version is unchanged
    with open(os.path.join(model, "model.json"), "w") as f:
        json.dump(doc, f)
    images = str(tmp_path / "images")
    copy_demo_subset(int8_demo_bundle.data, images, per_class=2)
    out = str(tmp_path / "out")
    assert _score(images, model, out, "default") == 0
    assert "int8 (the bundle default)" in capsys.readouterr().out
    manifest = read_local_run(os.path.join(out, "default"))["manifest"]
    assert manifest["inference"]["precision"] == "int8"
    assert manifest["inference"]["precision_source"] == "bundle default"
    assert _score(images, model, out, "tf", "--backend", "tf") == 0  # another backend: fp32
    manifest = read_local_run(os.path.join(out, "tf"))["manifest"]
    assert (manifest["inference"]["backend"], manifest["inference"]["precision"]) == ("tf", "fp32")


def test_int8_without_a_twin_is_a_one_line_error(demo_bundle, tmp_path, capsys):
    status = _score(
        demo_bundle.data, demo_bundle.model, str(tmp_path / "out"), "x", "--precision", "int8"
    )
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "has no int8 twin (model.int8.onnx)" in err
    assert f"`bucketscore quantize {demo_bundle.model} --calibration PREFIX` first" in err
    assert not os.path.exists(tmp_path / "out" / "x")
