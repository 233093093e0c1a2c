"""`bucketscore quantize`: the command, its refusal (exit 2, the figures, the bundle as it
was) and its one-line errors."""

from __future__ import annotations

import glob
import json
import os
import shutil

import pytest

from bucketscore.cli.main import main


def _copy(src, tmp_path, name="digits"):
    dst = str(tmp_path / name)
    shutil.copytree(src, dst)
    return dst


def test_quantize_adds_the_twin_and_says_so(demo_bundle, tmp_path, capsys):
    model = _copy(demo_bundle.model, tmp_path)
    status = main(
        ["quantize", model, "--calibration", demo_bundle.data, "--samples", "64", "--default"]
    )
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "calibrating on 48 images, measuring on 16 held out" in out.out
    assert "int8 twin written: top-1 agreement with fp32" in out.out
    assert "model.int8.onnx added, the default precision" in out.out
    doc = json.load(open(os.path.join(model, "model.json")))
    assert doc["int8"]["default"] is True
    assert doc["int8"]["calibration"]["source"] == demo_bundle.data
    assert doc["int8"]["min_agreement"] == 0.99


def test_a_calibration_that_ruins_the_model_is_refused_with_exit_2(demo_bundle, tmp_path, capsys):
    """Black images where the split calibrates, real digits where it measures: the int8
    model sees nothing but black, its agreement falls, and the bundle stays as it was."""
    model = _copy(demo_bundle.model, tmp_path)
    before = {
        p: open(p, "rb").read()
        for p in glob.glob(f"{model}/**", recursive=True)
        if os.path.isfile(p)
    }
    digits = sorted(glob.glob(os.path.join(demo_bundle.data, "*", "*.png")))[::20][:20]
    from PIL import Image

    prefix = tmp_path / "calib"
    prefix.mkdir()
    for k in range(80):  # name order: 3 black, then a digit (held out), ...
        path = prefix / f"img_{k:03d}.png"
        if k % 4 == 3:
            shutil.copy(digits[(k // 4) % len(digits)], path)
        else:
            Image.new("L", (32, 32)).save(path)
    status = main(["quantize", model, "--calibration", str(prefix), "--samples", "80"])
    err = capsys.readouterr().err
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("bucketscore quantize: error: the int8 model is refused: top-1")
    assert "on 20 held-out images" in lines[0] and "The bundle is unchanged" in lines[0]
    after = {
        p: open(p, "rb").read()
        for p in glob.glob(f"{model}/**", recursive=True)
        if os.path.isfile(p)
    }
    assert after == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["quantize", "no/such/bundle"], "BUNDLE no/such/bundle: no such file or folder"),
        (["quantize", "{model}", "--samples", "3"], "at least 4 are needed"),
        (["quantize", "{model}", "--calibration", "{empty}"], "no images there"),
        (["quantize", "{model}", "--labels", "bogus"], "--labels 'bogus': expected one of"),
        (["quantize", "{model}", "--no_such_flag"], "unknown option"),
    ],
)
def test_errors_are_one_line_and_exit_2(demo_bundle, tmp_path, capsys, argv, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images")
    model = _copy(demo_bundle.model, tmp_path)
    status = main([a.format(model=model, empty=empty) for a in argv])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not os.path.exists(os.path.join(model, "model.int8.onnx"))


def test_a_floor_outside_0_to_1_is_an_argparse_error(demo_bundle, capsys):
    with pytest.raises(SystemExit) as e:
        main(["quantize", demo_bundle.model, "--min_agreement", "1.5"])
    assert e.value.code == 2
    assert "--min_agreement: must be between 0 and 1, not 1.5" in capsys.readouterr().err


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["quantize", "--help"])
    out = capsys.readouterr().out
    assert "bucketscore quantize models/digits --calibration demo_data/digits/" in out
    assert "--precision int8" in out
