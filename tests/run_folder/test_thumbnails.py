"""Thumbnails for report.html (run_folder.thumbnails): scaled to fit the box, upright, RGB
from any mode, never raising on bad data, never reading more than the cap; read from a local
file and from S3 (SeaweedFS); each URI read once when a report's items get their thumbnails.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bucketscore.run_folder import thumbnails
from bucketscore.run_folder.thumbnails import add_thumbnails, read_capped, thumbnail, thumbnail_of
from bucketscore.storage import uris
from tests.support.helpers import image_bytes, write_file
from tests.support.report_rows import png_size, prediction_row, rgb
from tests.support.storage_servers import unique_bucket_name


def test_thumbnail_fits_the_box_and_keeps_the_aspect_ratio():
    assert png_size(thumbnail(image_bytes(rgb(300, 600), "JPEG"))) == (96, 48)
    assert png_size(thumbnail(image_bytes(rgb(300, 600), "PNG"), size=40)) == (40, 20)
    # Small images are not enlarged (the page scales them up).
    assert png_size(thumbnail(image_bytes(np.zeros((32, 32), np.uint8)))) == (32, 32)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "1", "CMYK"])
def test_thumbnail_any_mode(mode):
    img = Image.fromarray(rgb(50, 70)).convert("RGBA" if mode in ("LA", "RGBA") else "RGB")
    if mode == "I;16":
        img = Image.fromarray((np.arange(50 * 70, dtype=np.uint16).reshape(50, 70) * 13))
    elif mode == "CMYK":
        img = img.convert("CMYK")
    else:
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format="TIFF" if mode in ("CMYK", "I;16") else "PNG")
    out = thumbnail(buf.getvalue())
    assert out is not None and png_size(out) == (70, 50)
    assert Image.open(io.BytesIO(out)).mode == "RGB"


def test_thumbnail_applies_exif_orientation():
    img = Image.fromarray(rgb(40, 80))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90: upright it is 40 wide, 80 high
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert png_size(thumbnail(buf.getvalue())) == (40, 80)


def test_thumbnail_never_raises():
    good = image_bytes(rgb(64, 64), "JPEG")
    assert thumbnail(None) is None
    assert thumbnail(b"") is None
    assert thumbnail(b"not an image at all") is None
    assert thumbnail(good[: len(good) // 2]) is None  # truncated
    # A PNG header claiming 200000 x 200000 pixels: refused before decoding.
    header = image_bytes(np.zeros((1, 1), np.uint8))
    bomb = header[:16] + (200000).to_bytes(4, "big") * 2 + header[24:]
    assert thumbnail(bomb) is None


def test_transparent_pixels_become_white():
    rgba = np.zeros((10, 10, 4), np.uint8)  # fully transparent black
    out = Image.open(io.BytesIO(thumbnail(image_bytes(rgba))))
    assert out.getpixel((5, 5)) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_stretched_to_its_range():
    values = np.full((4, 8), 1000, np.uint16)
    values[:, 4:] = 3000  # two values only: the darker half black, the lighter white
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, format="PNG")
    out = Image.open(io.BytesIO(thumbnail(buf.getvalue())))
    assert out.getpixel((0, 0)) == (0, 0, 0) and out.getpixel((7, 0)) == (255, 255, 255)


def test_read_capped_and_thumbnail_of_a_local_file(tmp_path):
    data = image_bytes(rgb(150, 300), "PNG")
    path = write_file(str(tmp_path / "a.png"), data)
    assert read_capped(path) == data
    assert read_capped(path, limit=len(data)) == data
    assert read_capped(path, limit=len(data) - 1) is None  # over the cap: not read whole
    assert read_capped(str(tmp_path / "gone.png")) is None
    assert png_size(thumbnail_of(path)) == (96, 48)
    assert png_size(thumbnail_of(path, size=30)) == (30, 15)
    assert thumbnail_of(str(tmp_path / "gone.png")) is None


@pytest.fixture(scope="module")
def s3_images(s3_server):
    bucket = s3_server.create_bucket(unique_bucket_name("thumbs"))
    client = s3_server.boto3_client()
    client.put_object(Bucket=bucket, Key="a b/x.jpg", Body=image_bytes(rgb(200, 400), "JPEG"))
    client.put_object(Bucket=bucket, Key="bad.png", Body=b"not an image")
    uris.set_options(s3_server.beam_options())
    return bucket


def test_thumbnail_of_an_s3_object(s3_images):
    assert png_size(thumbnail_of(f"s3://{s3_images}/a b/x.jpg")) == (96, 48)
    assert thumbnail_of(f"s3://{s3_images}/bad.png") is None
    assert thumbnail_of(f"s3://{s3_images}/missing.jpg") is None


def test_add_thumbnails_reads_each_uri_once_and_fills_every_entry(tmp_path, monkeypatch):
    good = write_file(str(tmp_path / "good.png"), image_bytes(rgb(20, 40)))
    row = dict(prediction_row(good, "cat", "dog", 0.9))
    items = {
        "mistakes": [row],
        "failures": [{"uri": str(tmp_path / "gone.png"), "stage": "read", "error": "x"}],
        "least_confident": [row],
        "most_confident": [{"label": "dog", "rows": [row]}],
    }
    reads = []
    real = thumbnails.read_capped
    monkeypatch.setattr(thumbnails, "read_capped", lambda uri: reads.append(uri) or real(uri))
    out, made = add_thumbnails(items, size=20)
    assert sorted(reads) == sorted([good, str(tmp_path / "gone.png")])  # once each
    assert made == 1
    for entry in out["mistakes"] + out["least_confident"] + out["most_confident"][0]["rows"]:
        assert png_size(entry["thumbnail"]) == (20, 10)
    assert out["failures"][0]["thumbnail"] is None
    assert out["most_confident"][0]["label"] == "dog"
    assert "thumbnail" not in items["mistakes"][0]  # the input is left as it was
