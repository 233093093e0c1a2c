"""`bucketscore export --onnx`: a model from another framework (built here with onnx.helper,
NCHW, expecting ImageNet mean/std scaling, as PyTorch exports them) becomes a bundle with
model.onnx alone, which `score` and `classify` use with ONNX Runtime.

The expectation is the ORIGINAL model run directly with ONNX Runtime on pixels the test
preprocesses itself (decode_image, then (x / 255 - mean) / std in numpy, NCHW), softmax
in numpy (tests/support/onnx_models.py).
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest

from bucketscore.cli.main import main
from tests.support.helpers import image_bytes, read_local_run, read_parquet_rows, write_file
from tests.support.onnx_models import classifier, direct_outputs, softmax

LABELS = ["cat", "dog", "fox"]
IMAGENET = ["--scale", "1/255", "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"]
FAST = ["--no_progress", "--direct_num_workers", "1", "--direct_running_mode", "in_memory"]


def _labels(tmp_path, labels=LABELS) -> str:
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(labels) + "\n")
    return str(path)


def _meta(bundle) -> dict:
    with open(os.path.join(bundle, "model.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, bytes]:
    """Colour images of other sizes than the model's (resized as model.json says), in one
    folder per label: path -> bytes."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(7)
    out = {}
    for i in range(9):
        pixels = rng.integers(0, 256, (20 + i, 30 - i, 3), dtype=np.uint8)
        pixels[:, : 5 + i] //= 2  # some structure, so that classes differ
        path = str(root / LABELS[i % 3] / f"img_{i}.png")
        out[write_file(path, image_bytes(pixels))] = image_bytes(pixels)
    return out


def _export(tmp_path, capsys, src: str, *flags) -> tuple[str, str]:
    """`export --onnx src` with the ImageNet mean/std and a softmax: (bundle, its output)."""
    bundle = str(tmp_path / "bundle")
    status = main(
        [
            "export",
            "--onnx",
            src,
            "--labels",
            _labels(tmp_path),
            *IMAGENET,
            "--softmax",
            *flags,
            "--out",
            bundle,
        ]
    )
    printed = capsys.readouterr()
    assert status == 0, printed.err
    return bundle, printed.out


def _bundle_probabilities(bundle, photos, paths) -> np.ndarray:
    """The bundle's predictor on the images decoded as model.json says."""
    from bucketscore.bundle.images import decode_image
    from bucketscore.bundle.meta import read_meta
    from bucketscore.bundle.predictor import load_predictor

    spec = read_meta(bundle).input
    pixels = np.stack([decode_image(photos[p], spec)[0] for p in paths])
    return load_predictor(bundle).predict(pixels).probabilities


def _score(bundle, photos, out, *flags) -> str:
    """`score` over the photos' folder into <out>/r/; returns the run folder."""
    folder = os.path.dirname(os.path.dirname(sorted(photos)[0]))
    assert (
        main(
            [
                "score",
                "--input",
                folder,
                "--model",
                bundle,
                "--output",
                out,
                "--run_id",
                "r",
                *flags,
                *FAST,
            ]
        )
        == 0
    )
    return os.path.join(out, "r")


def _expected(model_path, photos, spec, layout="nchw", names=("logits",)):
    from bucketscore.bundle.images import decode_image

    paths = sorted(photos)
    pixels = np.stack([decode_image(photos[p], spec)[0] for p in paths])
    outs = direct_outputs(model_path, pixels, layout, names)
    return {p: [o[i] for o in outs] for i, p in enumerate(paths)}


def test_nchw_model_exported_then_scored_and_classified(tmp_path, photos, capsys):
    from bucketscore.bundle.meta import read_meta

    src = classifier(str(tmp_path / "resnetish.onnx"), height=16, width=16)
    bundle, printed = _export(tmp_path, capsys, src, "--embedding_output", "features")
    assert "16x16x3 NCHW" in printed
    meta = _meta(bundle)
    assert meta["backends"] == ["onnx"] and set(meta["files"]) == {"model.onnx"}
    assert not os.path.exists(os.path.join(bundle, "saved_model"))
    assert meta["input"]["height"] == 16 and meta["input"]["channels"] == 3
    assert meta["outputs"] == ["probabilities", "embeddings"] and meta["embedding_dim"] == 6
    assert meta["source"]["format"] == "onnx" and meta["source"]["layout"] == "nchw"
    assert meta["source"]["output_key"] == "logits" and meta["softmax_added"] is True
    assert meta["onnx"]["imported"] and meta["name"] == "resnetish"

    # The bundle's model.onnx takes uint8 NHWC images, like every bundle's.
    from bucketscore.bundle.onnx_runtime import ort_session

    session = ort_session(os.path.join(bundle, "model.onnx"))
    (inp,) = session.get_inputs()
    assert inp.name == "images" and inp.type == "tensor(uint8)" and inp.shape[1:] == [16, 16, 3]
    assert sorted(o.name for o in session.get_outputs()) == ["embeddings", "probabilities"]

    spec = read_meta(bundle).input
    expected = _expected(src, photos, spec, names=("logits", "features"))
    out = str(tmp_path / "runs")
    run_dir = _score(bundle, photos, out, "--top_k", "3", "--embeddings")
    assert "ONNX Runtime (model.onnx)" in capsys.readouterr().out
    run = read_local_run(run_dir)
    assert len(run["predictions"]) == 9 and run["manifest"]["inference"]["backend"] == "onnx"
    for row in run["predictions"]:
        p = softmax(expected[row["uri"]][0][None])[0]
        order = np.argsort(-p, kind="stable")[:3]
        assert row["top_k_labels"] == [LABELS[i] for i in order]
        np.testing.assert_allclose(row["top_k_scores"], p[order], rtol=1e-5, atol=1e-6)
    embeddings = read_parquet_rows(glob.glob(os.path.join(run_dir, "embeddings*.parquet")))
    assert len(embeddings) == 9
    for row in embeddings:
        np.testing.assert_allclose(row["embedding"], expected[row["uri"]][1], rtol=1e-5, atol=1e-5)

    paths = sorted(photos)[:4]
    assert main(["classify", *paths, "--model", bundle, "--json", "--top_k", "3"]) == 0
    for d in json.loads(capsys.readouterr().out):
        p = softmax(expected[d["uri"]][0][None])[0]
        assert d["top_k_labels"][0] == LABELS[int(np.argmax(p))]
        np.testing.assert_allclose(d["top_k_scores"], np.sort(p)[::-1], rtol=1e-5, atol=1e-6)

    # No SavedModel: the TensorFlow backend is a wrong command (exit 2), not a failed run.
    photos_folder = os.path.dirname(os.path.dirname(paths[0]))
    for argv in (
        ["score", "--input", photos_folder, "--model", bundle, "--output", out, "--backend", "tf"],
        ["classify", paths[0], "--model", bundle, "--backend", "tf"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert "backend tf" in err[-1] and "no saved_model/" in err[-1]


def test_preprocess_torch_is_the_imagenet_mean_std(tmp_path, photos, capsys):
    """--preprocess torch names the same scaling; NHWC with a dynamic size takes its size
    from --height/--width; a float64 input gets float64 pixels."""
    from bucketscore.bundle.meta import read_meta

    src = classifier(
        str(tmp_path / "nhwc.onnx"), height="h", width="w", layout="nhwc", input_type="double"
    )
    bundle = str(tmp_path / "bundle")
    base = [
        "export",
        "--onnx",
        src,
        "--labels",
        _labels(tmp_path),
        "--preprocess",
        "torch",
        "--softmax",
        "--out",
        bundle,
        "--resize",
        "crop",
    ]
    assert main(base) == 1
    assert "--height" in capsys.readouterr().err
    assert main(base + ["--height", "12", "--width", "14"]) == 0, capsys.readouterr().err
    meta = _meta(bundle)
    assert meta["source"]["layout"] == "nhwc" and meta["outputs"] == ["probabilities"]
    assert meta["source"]["input"]["type"] == "double"
    spec = read_meta(bundle).input
    assert (spec.height, spec.width, spec.resize) == (12, 14, "crop")
    expected = _expected(src, photos, spec, layout="nhwc")
    paths = sorted(photos)
    np.testing.assert_allclose(
        _bundle_probabilities(bundle, photos, paths),
        softmax(np.stack([expected[p][0] for p in paths])),
        rtol=1e-5,
        atol=1e-6,
    )


def test_fixed_batch_of_one_is_fed_one_image_at_a_time(tmp_path, photos, capsys):
    """PyTorch exports a fixed batch size unless told otherwise: scoring in batches of 4
    still works, image by image."""
    from bucketscore.bundle.meta import read_meta

    src = classifier(str(tmp_path / "b1.onnx"), batch=1, input_name="images", extra_output=True)
    bundle, printed = _export(tmp_path, capsys, src, "--output_key", "logits")
    assert "fixed batch size of 1" in printed
    assert _meta(bundle)["source"]["input"] == {"name": "images", "type": "float", "batch": 1}
    expected = _expected(src, photos, read_meta(bundle).input)
    run_dir = _score(bundle, photos, str(tmp_path / "runs"), "--batch_size", "4")
    capsys.readouterr()
    rows = read_local_run(run_dir)["predictions"]
    assert len(rows) == 9
    for row in rows:
        p = softmax(expected[row["uri"]][0][None])[0]
        np.testing.assert_allclose(row["confidence"], p.max(), rtol=1e-5)
    # A batch of 5 (not a multiple of anything) through the predictor directly.
    paths = sorted(photos)[:5]
    np.testing.assert_allclose(
        _bundle_probabilities(bundle, photos, paths),
        softmax(np.stack([expected[p][0] for p in paths])),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "case, flags, message",
    [
        ("labels", ["--softmax"], "2 labels were given"),
        ("logits", [], "--softmax"),
        ("two_outputs", ["--softmax"], "--output_key"),
        ("ambiguous", ["--softmax"], "--layout"),
        ("not_onnx", [], "not an ONNX model"),
        ("no_tensor", ["--softmax", "--embedding_output", "nope"], "no such tensor"),
    ],
)
def test_models_that_do_not_fit_give_one_clear_line(case, flags, message, tmp_path, capsys):
    labels = LABELS[:2] if case == "labels" else LABELS
    path = str(tmp_path / "m.onnx")
    if case == "not_onnx":
        write_file(path, b"this is not protobuf at all \xff\xfe")
    else:
        classifier(
            path,
            extra_output=case == "two_outputs",
            **({"height": 3, "width": 3} if case == "ambiguous" else {}),
        )
    status = main(
        [
            "export",
            "--onnx",
            path,
            "--labels",
            _labels(tmp_path, labels),
            *IMAGENET,
            *flags,
            "--out",
            str(tmp_path / "b"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert len(err) == 1 and message in err[0], err
    assert not os.path.exists(tmp_path / "b" / "model.json")


def test_image_layout_told_by_the_channel_dimension_or_as_given():
    """The rule ONNX and torch.export inputs share: which dimension holds the channels."""
    from bucketscore.model_export.onnx_import import image_layout

    assert image_layout([None, 3, 224, 200], "auto", "x") == ("nchw", (None, 224, 200, 3))
    assert image_layout([1, 28, 28, 1], "auto", "x") == ("nhwc", (1, 28, 28, 1))
    assert image_layout([1, 3, 8, 3], "nhwc", "x") == ("nhwc", (1, 3, 8, 3))
    with pytest.raises(ValueError, match=r"^x has shape \[1, 10\]: not an image batch"):
        image_layout([1, 10], "auto", "x")
    with pytest.raises(ValueError, match=r"x has shape \(unknown\)"):
        image_layout(None, "auto", "x")
    with pytest.raises(ValueError, match=r"\[1, 3, 8, 3\] \(both could be channels\); give"):
        image_layout([1, 3, 8, 3], "auto", "x")
    with pytest.raises(ValueError, match=r"neither is 1 or 3 channels.*--channels"):
        image_layout([1, None, 8, None], "auto", "x")
