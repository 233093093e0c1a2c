"""`bucketscore export`, the command: its flag checks (exit 2, one line) before any model is
read, and the packages it needs. What it exports: tests/model_export/test_user_models.py and
test_onnx_import.py."""

from __future__ import annotations

import pytest

from bucketscore.cli.main import main
from tests.support.onnx_models import classifier

LABELS = ["cat", "dog", "fox"]


def _labels_file(tmp_path, labels=LABELS) -> str:
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(labels) + "\n")
    return str(path)


_labels = _labels_file


def test_usage_errors_exit_2(tmp_path, capsys):
    base = ["export", "--labels", _labels_file(tmp_path), "--out", str(tmp_path / "b")]
    assert main(base + ["--keras", "m.keras", "--scale", "abc"]) == 2
    assert "not a number" in capsys.readouterr().err
    assert main(base + ["--keras", "m.keras", "--preprocess", "tf", "--scale", "2"]) == 2
    assert main(base + ["--keras", "m.keras", "--no_such_flag", "1"]) == 2
    assert main(base + ["--keras", "m.keras", "--output_key", "x"]) == 2
    with pytest.raises(SystemExit) as e:
        main(base + ["--keras", "a.keras", "--saved_model", "b/"])
    assert e.value.code == 2


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--no-onnx"], "not for --onnx"),
        (["--signature", "x"], "not for --onnx"),
        (["--calibration", "somewhere/"], "not for --onnx"),
    ],
)
def test_onnx_usage_errors_exit_2(flags, message, tmp_path, capsys):
    path = classifier(str(tmp_path / "m.onnx"))
    assert (
        main(
            [
                "export",
                "--onnx",
                path,
                "--labels",
                _labels(tmp_path),
                "--out",
                str(tmp_path / "b"),
                *flags,
            ]
        )
        == 2
    )
    assert message in capsys.readouterr().err


def test_layout_applies_to_onnx_only(tmp_path, capsys):
    assert (
        main(
            [
                "export",
                "--keras",
                "m.keras",
                "--labels",
                _labels(tmp_path),
                "--out",
                str(tmp_path / "b"),
                "--layout",
                "nchw",
            ]
        )
        == 2
    )
    assert "--layout applies to --onnx" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--keras", "m.keras", "--input_key", "x"], "apply to --saved_model"),
        (["--keras", "m.keras", "--signature", "other"], "apply to --saved_model"),
        (
            ["--saved_model", "sm/", "--embedding_layer", "f"],
            "--embedding_layer applies to --keras",
        ),
        (["--keras", "m.keras", "--mean", "0.5"], "--mean and --std go together"),
        (["--keras", "m.keras", "--preprocess", "none", "--offset", "1"], "cannot be combined"),
        (["--keras", "m.keras", "--s3_endpont_url=http://x"], "s3_endpont_url"),
    ],
)
def test_flags_that_do_not_go_together_exit_2_with_one_line(flags, message, tmp_path, capsys):
    status = main(
        ["export", "--labels", _labels_file(tmp_path), "--out", str(tmp_path / "b")] + flags
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and message in err[0] and err[0].startswith("bucketscore export: error:")
    assert not (tmp_path / "b").exists()


def test_a_model_file_that_is_not_there_exits_2_before_anything_is_loaded(tmp_path, capsys):
    status = main(
        [
            "export",
            "--keras",
            str(tmp_path / "missing.keras"),
            "--labels",
            _labels_file(tmp_path),
            "--out",
            str(tmp_path / "b"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and "--keras" in err and "missing.keras" in err
    assert "Traceback" not in err and not (tmp_path / "b").exists()


def test_an_onnx_export_needs_only_onnx(tmp_path, capsys, monkeypatch):
    """--onnx wraps the model as it is: tf2onnx is not needed (its absence stands in for a
    core install: the import name is taken out of Python's reach for this test)."""
    import sys

    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    path = classifier(str(tmp_path / "m.onnx"))
    out = str(tmp_path / "b")
    args = ["export", "--onnx", path, "--labels", _labels_file(tmp_path), "--softmax"]
    assert main(args + ["--scale", "1/255", "--out", out]) == 0, capsys.readouterr().err
    keras_args = [
        "export",
        "--keras",
        str(tmp_path / "m.keras"),
        "--labels",
        _labels_file(tmp_path),
    ]
    assert main(keras_args + ["--out", str(tmp_path / "k")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs the training packages (tf2onnx)" in err[0]


def _sample_images(folder, n=40, seed=0):
    """n PNGs (16x16 RGB): random colour fields."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir()
    for k in range(n):
        pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{k:03d}.png")
    return str(folder)


def _onnx_export(tmp_path, *flags):
    path = classifier(str(tmp_path / "m.onnx"))
    base = ["export", "--onnx", path, "--labels", _labels_file(tmp_path), "--softmax"]
    return main(base + ["--scale", "1/255", "--out", str(tmp_path / "b"), *flags])


def test_export_quantize_int8_writes_the_twin_with_its_figures(tmp_path, capsys):
    import json

    calibration = _sample_images(tmp_path / "calib")
    status = _onnx_export(
        tmp_path, "--quantize", "int8", "--calibration", calibration, "--min_agreement", "0"
    )
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "int8 twin: model.int8.onnx (bundle version" in out.out
    doc = json.loads((tmp_path / "b" / "model.json").read_text())
    assert "model.int8.onnx" in doc["files"]
    assert doc["int8"]["calibration"] == {
        "source": calibration,
        "images": 30,
        "held_out_every": 4,
    }
    assert doc["int8"]["agreement"]["images"] == 10 and doc["int8"]["default"] is False


def test_export_quantize_refused_keeps_the_fp32_bundle_and_exits_2(tmp_path, capsys, monkeypatch):
    """The wiring of a refusal (how one comes about: tests/model_export/test_quantizing.py):
    agreement figures under the floor, as if measured."""
    from bucketscore.model_export import quantizing

    low = {
        "images": 10,
        "top1_agreement": 0.8,
        "max_probability_difference": 0.5,
        "labelled_images": 0,
        "accuracy_fp32": None,
        "accuracy_int8": None,
    }
    monkeypatch.setattr(quantizing, "measure_agreement", lambda *a, **k: dict(low))
    calibration = _sample_images(tmp_path / "calib")
    status = _onnx_export(tmp_path, "--quantize", "int8", "--calibration", calibration)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert err[0].startswith(
        "bucketscore export: error: --quantize int8: the int8 model is refused: top-1 "
        "agreement with fp32 80.0% on 10 held-out images"
    )
    assert "below --min_agreement 99.0%" in err[0]
    assert "the fp32 bundle at" in err[0] and "is written, without it" in err[0]
    assert (tmp_path / "b" / "model.onnx").exists()
    assert not (tmp_path / "b" / "model.int8.onnx").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--min_agreement", "0.5"], "--min_agreement: only with --quantize int8"),
        (["--int8_default"], "--int8_default: only with --quantize int8"),
        (["--quantize", "int8", "--no-onnx"], "not with --no-onnx"),
    ],
)
def test_quantize_flags_need_quantize(flags, message, tmp_path, capsys):
    status = main(
        ["export", "--keras", "m.keras", "--labels", _labels_file(tmp_path)]
        + ["--out", str(tmp_path / "b"), *flags]
    )
    err = capsys.readouterr().err
    assert status == 2 and message in err, err
