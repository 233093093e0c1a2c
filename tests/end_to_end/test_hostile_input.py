"""Hostile and unusual input, end to end: every image scored correctly or an errors row.

The images are made from demo digits that the model gets right, so "scored correctly"
means: the pipeline's predicted label is the digit, whatever the file's format, mode,
orientation or size. Broken files must be errors rows with a readable message.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from bucketscore.cli.main import main
from tests.support.helpers import direct_probabilities, read_local_run, write_file


def _digit(demo_bundle, label: str, nth: int = 0) -> np.ndarray:
    folder = os.path.join(demo_bundle.data, label)
    name = sorted(os.listdir(folder))[nth]
    return np.asarray(Image.open(os.path.join(folder, name)).convert("L"))


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _bomb_png(width=30000, height=30000) -> bytes:
    """A tiny PNG that declares 30000x30000 pixels (900 MP) in its header."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _rotated_digit(demo_bundle):
    """(label, upright pixels, EXIF-rotated JPEG bytes) for a digit whose class depends on
    orientation: the model gets the upright image right and the sideways pixels wrong."""
    labels = demo_bundle.meta.labels
    for label in ("7", "4", "2", "3", "5"):
        for nth in range(3):
            upright = _digit(demo_bundle, label, nth)
            stored = np.ascontiguousarray(np.rot90(upright, k=1))  # what a camera stores for 6
            raw = _save(Image.fromarray(stored), "PNG")
            plain = _save(Image.fromarray(upright), "PNG")
            got = direct_probabilities(demo_bundle.model, {"s": raw, "u": plain})
            if (
                labels[int(np.argmax(got["u"]))] == label
                and labels[int(np.argmax(got["s"]))] != label
            ):
                exif = Image.Exif()
                exif[0x0112] = 6
                return label, upright, _save(Image.fromarray(stored), "JPEG", quality=95, exif=exif)
    pytest.fail("no digit found whose prediction depends on orientation")


@pytest.fixture(scope="module")
def hostile(demo_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile") / "in"
    good: dict[str, str] = {}  # relative path -> expected predicted label

    def put(rel, data, expect=None):
        write_file(str(root / rel), data)
        if expect is not None:
            good[rel] = expect

    seven = _digit(demo_bundle, "7")
    grey = Image.fromarray(seven)
    put("7/cmyk.jpg", _save(grey.convert("RGB").convert("CMYK"), "JPEG", quality=95), "7")
    put("7/gray16.png", _save(Image.fromarray(seven.astype(np.uint16) * 257), "PNG"), "7")
    palette = grey.convert("P")
    put("7/palette_transparent.png", _save(palette, "PNG", transparency=254), "7")
    rgba = np.dstack([seven, seven, seven, np.full_like(seven, 255)])
    put("7/rgba.png", _save(Image.fromarray(rgba), "PNG"), "7")
    other = Image.fromarray(_digit(demo_bundle, "0"))
    put(
        "7/animated.gif",
        _save(grey, "GIF", save_all=True, append_images=[other], duration=100, loop=0),
        "7",
    )
    put("7/lossless.webp", _save(grey, "WEBP", lossless=True), "7")
    put("7/scan.tiff", _save(grey, "TIFF"), "7")
    put("7/colour into grey model.png", _save(grey.convert("RGB"), "PNG"), "7")
    put("7/UPPER.PNG", _save(grey, "PNG"), "7")
    put("7/naïve ünïcödé 数字.png", _save(grey, "PNG"), "7")
    put("7/hash#and%percent.png", _save(grey, "PNG"), "7")
    big = grey.resize((5472, 3648), Image.Resampling.BILINEAR)  # 20 megapixels
    put("7/twenty_megapixels.jpg", _save(big.convert("RGB"), "JPEG", quality=90), "7")
    label, _upright, rotated = _rotated_digit(demo_bundle)
    put(f"{label}/exif_rotated.jpg", rotated, label)
    put("7/one_pixel.png", _save(Image.new("L", (1, 1), 0), "PNG"))
    put("eleven/unknown_label.png", _save(grey, "PNG"))

    bad = {
        "7/zero_bytes.png": b"",
        "7/random_bytes.jpg": np.random.default_rng(0).bytes(5000),
        "7/text.png": b"This is a text file, not a PNG.\n" * 10,
        "7/bomb.png": _bomb_png(),
        "7/over_max_pixels.png": _save(Image.new("L", (6000, 5000), 0), "PNG"),
    }
    photo = _save(big.resize((800, 600)).convert("RGB"), "JPEG", quality=90)
    bad["7/truncated.jpg"] = photo[: len(photo) * 6 // 10]
    for rel, data in bad.items():
        put(rel, data)
    write_file(str(root / "7" / "notes.txt"), b"not listed")
    return root, good, set(bad)


def test_hostile_folder(demo_bundle, hostile, tmp_path):
    root, good, bad = hostile
    out = tmp_path / "out"
    status = main(
        [
            "score",
            "--input",
            str(root),
            "--model",
            demo_bundle.model,
            "--output",
            str(out),
            "--run_id",
            "h",
            "--max_error_ratio",
            "0.5",
            "--max_pixels",
            "25000000",
        ]
    )
    assert status == 0
    run = read_local_run(str(out / "h"))
    rows = {os.path.relpath(r["uri"], root): r for r in run["predictions"]}
    errors = {os.path.relpath(e["uri"], root): e for e in run["errors"]}

    # Every listed image exactly once.
    assert not set(rows) & set(errors)
    expected_listed = set(good) | bad | {"7/one_pixel.png", "eleven/unknown_label.png"}
    assert set(rows) | set(errors) == expected_listed
    c = run["summary"]["counts"]
    assert c["listed"] == len(expected_listed) == c["scored"] + c["failed"]

    for rel, label in good.items():
        assert rel in rows, f"{rel} was not scored: {errors.get(rel)}"
        assert rows[rel]["predicted_label"] == label, rel
    assert (
        rows["7/twenty_megapixels.jpg"]["width"],
        rows["7/twenty_megapixels.jpg"]["height"],
    ) == (5472, 3648)
    assert (rows["7/one_pixel.png"]["width"], rows["7/one_pixel.png"]["height"]) == (1, 1)

    # The unknown label is scored, and counted apart from accuracy.
    assert rows["eleven/unknown_label.png"]["true_label"] == "eleven"
    assert c["unknown_label"] == 1
    assert run["summary"]["unknown_labels"] == {"eleven": 1}

    assert set(errors) == bad
    reasons = {
        "7/zero_bytes.png": "empty",
        "7/random_bytes.jpg": "not an image",
        "7/text.png": "not an image",
        "7/bomb.png": "too large",
        "7/over_max_pixels.png": "max_pixels",
        "7/truncated.jpg": "truncated",
    }
    for rel, word in reasons.items():
        assert errors[rel]["stage"] == "decode"
        assert word in errors[rel]["error"].lower(), (rel, errors[rel]["error"])


def test_colour_model_takes_grey_images(demo_bundle, tmp_path):
    """A 3-channel bundle scoring 1-channel files: converted to RGB, still the right digit."""
    import keras

    from bucketscore.bundle.meta import InputSpec, read_meta
    from bucketscore.model_export.sealing import write_bundle
    from bucketscore.model_export.serving import export_saved_model

    meta = read_meta(demo_bundle.model)
    grey_model = keras.saving.load_model(
        os.path.join(demo_bundle.model, "model.keras"), safe_mode=True
    )
    inputs = keras.Input((28, 28, 3))
    averaged = keras.layers.Rescaling(1.0 / 3.0)(
        keras.layers.Add()([inputs[..., i : i + 1] for i in range(3)])
    )
    rgb_model = keras.Model(inputs, grey_model(averaged))
    src = tmp_path / "src"
    export_saved_model(rgb_model, str(src / "saved_model"), 28, 28, 3)
    write_bundle(
        str(src),
        str(tmp_path / "rgb"),
        name="digits-rgb",
        labels=list(meta.labels),
        input_spec=InputSpec(28, 28, 3),
    )
    images = tmp_path / "imgs"
    for label in ("1", "4", "8"):
        write_file(
            str(images / label / "grey.png"),
            _save(Image.fromarray(_digit(demo_bundle, label)), "PNG"),
        )
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                str(tmp_path / "rgb"),
                "--output",
                str(tmp_path / "out"),
                "--run_id",
                "c",
            ]
        )
        == 0
    )
    rows = read_local_run(str(tmp_path / "out" / "c"))["predictions"]
    assert sorted((r["true_label"], r["predicted_label"]) for r in rows) == [
        ("1", "1"),
        ("4", "4"),
        ("8", "8"),
    ]


def test_labels_csv_row_naming_a_missing_object(demo_bundle, tmp_path):
    images = tmp_path / "imgs"
    write_file(str(images / "a.png"), _save(Image.fromarray(_digit(demo_bundle, "3")), "PNG"))
    table = tmp_path / "labels.csv"
    table.write_text("path,label\na.png,3\ngone.png,5\n")
    out = tmp_path / "out"
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(out),
                "--run_id",
                "m",
                "--labels",
                f"csv:{table}",
            ]
        )
        == 0
    )
    run = read_local_run(str(out / "m"))
    assert [r["true_label"] for r in run["predictions"]] == ["3"]
    assert [(os.path.basename(e["uri"]), e["stage"]) for e in run["errors"]] == [
        ("gone.png", "label")
    ]
    assert "not found" in run["errors"][0]["error"]
    c = run["summary"]["counts"]
    assert (c["listed"], c["scored"], c["failed"], c["csv_rows_without_image"]) == (1, 1, 0, 1)


def test_max_error_ratio_fails_the_run_loudly(demo_bundle, tmp_path, capsys):
    images = tmp_path / "imgs"
    for i in range(3):
        write_file(
            str(images / "7" / f"ok{i}.png"),
            _save(Image.fromarray(_digit(demo_bundle, "7", i)), "PNG"),
        )
    write_file(str(images / "7" / "bad.png"), b"nope")
    out = tmp_path / "out"
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(out),
                "--run_id",
                "x",
                "--max_error_ratio",
                "0.2",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "1 of 4 images failed" in err and str(out / "x" / "errors.csv") in err
    assert (out / "x" / "errors.csv").exists()
    assert not (out / "x" / "_SUCCESS").exists()
    # Within the ratio, the same input completes.
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(out),
                "--run_id",
                "y",
                "--max_error_ratio",
                "0.25",
            ]
        )
        == 0
    )
    assert (out / "y" / "_SUCCESS").exists()
