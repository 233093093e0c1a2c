"""export --onnx of a model whose input is uint8 (its preprocessing inside): wrapped as it is,
no cast and no scaling (refused if given), recorded in model.json; scored end to end equal to
a direct ONNX Runtime call of the user's model."""

from __future__ import annotations

import json
import os

import numpy as np

from bucketscore.cli.main import main
from tests.support.helpers import image_bytes, read_local_run, write_file
from tests.support.onnx_models import classifier, softmax


def test_a_uint8_input_model_is_wrapped_and_scored_as_it_is(tmp_path, capsys):
    import onnxruntime as ort

    from bucketscore.bundle.images import decode_image
    from bucketscore.bundle.meta import read_meta

    model = classifier(str(tmp_path / "u8.onnx"), input_type="uint8", height=16, width=16)
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\n")
    bundle = str(tmp_path / "bundle")
    argv = ["export", "--onnx", model, "--labels", str(labels), "--out", bundle]
    assert main([*argv, "--scale", "1/255"]) == 1
    assert "is uint8: its preprocessing is inside it" in capsys.readouterr().err
    assert main([*argv, "--softmax"]) == 0
    printed = capsys.readouterr().out
    assert "the model takes uint8 images: the bundle applies no scaling" in printed
    meta = read_meta(bundle)
    assert meta.extra["source"]["input"]["type"] == "uint8"
    assert meta.extra["scaling"] == {"none": "the model takes uint8 images"}

    rng = np.random.default_rng(3)
    images = {}
    for i in range(6):
        pixels = rng.integers(0, 256, (16 + i, 16, 3), dtype=np.uint8)
        images[write_file(str(tmp_path / "in" / "a" / f"{i}.png"), image_bytes(pixels))] = pixels
    assert (
        main(
            [
                "score",
                "--input",
                str(tmp_path / "in"),
                "--model",
                bundle,
                "--output",
                str(tmp_path / "out"),
                "--run_id",
                "r",
                "--no_progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    rows = {r["uri"]: r for r in read_local_run(str(tmp_path / "out" / "r"))["predictions"]}
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    for uri in images:
        pixels = decode_image(open(uri, "rb").read(), meta.input)[0]
        nchw = np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])  # uint8, as it is
        expected = softmax(session.run(["logits"], {"input.1": nchw})[0])[0]
        assert np.isclose(rows[uri]["confidence"], expected.max(), atol=1e-6)
        assert rows[uri]["predicted_label"] == "abc"[int(expected.argmax())]
    manifest = json.load(open(os.path.join(tmp_path, "out", "r", "manifest.json")))
    assert manifest["inference"]["backend"] == "onnx"
