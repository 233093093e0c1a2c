"""bundle.images.decode_image: orientation, channels, the three resize modes, interpolation,
errors, and the image's own size."""

import io

import numpy as np
import pytest
from PIL import Image

from bucketscore.bundle.images import DecodeError, decode_image
from bucketscore.bundle.meta import InputSpec
from tests.support.helpers import image_bytes


def _wide_image():
    """40x20 RGB: left half red, right half blue; a green 10-px band in the middle."""
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = (255, 0, 0)
    a[:, 20:] = (0, 0, 255)
    a[:, 15:25] = (0, 255, 0)
    return a


def test_squash_keeps_everything_and_distorts():
    px, w, h = decode_image(image_bytes(_wide_image()), InputSpec(10, 10, 3, "squash", "nearest"))
    assert px.shape == (10, 10, 3) and px.dtype == np.uint8 and (w, h) == (40, 20)
    assert tuple(px[5, 0]) == (255, 0, 0) and tuple(px[5, 9]) == (0, 0, 255)


def test_crop_takes_the_centre():
    px, _, _ = decode_image(image_bytes(_wide_image()), InputSpec(10, 10, 3, "crop", "nearest"))
    # The centre 20x20 is red|green|blue 5|10|5 px; at 10 px wide: 2-3 red, 5 green, 2-3 blue.
    assert tuple(px[5, 5]) == (0, 255, 0)
    assert tuple(px[5, 0]) == (255, 0, 0) and tuple(px[5, 9]) == (0, 0, 255)
    assert (px[:, :, 1] == 255).sum(axis=1)[5] == 5


def test_fill_pads_to_aspect_with_black():
    px, _, _ = decode_image(image_bytes(_wide_image()), InputSpec(10, 10, 3, "fill", "nearest"))
    assert (px[0] == 0).all() and (px[-1] == 0).all()  # padded rows top and bottom
    assert tuple(px[5, 0]) == (255, 0, 0) and tuple(px[5, 9]) == (0, 0, 255)


def test_exif_orientation_is_applied():
    # Stored sideways (20 wide, 40 high) with orientation 6 = "rotate 90 clockwise to view".
    upright = _wide_image()
    stored = np.rot90(upright, k=1)  # counter-clockwise: what a camera would store for 6
    img = Image.fromarray(np.ascontiguousarray(stored))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, format="PNG", exif=exif)
    px, w, h = decode_image(buf.getvalue(), InputSpec(20, 40, 3, "squash", "nearest"))
    assert (w, h) == (40, 20)
    assert tuple(px[10, 0]) == (255, 0, 0) and tuple(px[10, 39]) == (0, 0, 255)


def test_channels_are_converted():
    rgb = image_bytes(_wide_image())
    px, _, _ = decode_image(rgb, InputSpec(8, 8, 1))
    assert px.shape == (8, 8, 1)
    grey = image_bytes(np.full((8, 8), 77, np.uint8))
    px, _, _ = decode_image(grey, InputSpec(8, 8, 3))
    assert px.shape == (8, 8, 3) and (px == 77).all()


def test_sixteen_bit_grey_is_scaled_not_clipped():
    a = np.full((8, 8), 65535, np.uint16)
    a[:4] = 32896  # half scale
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    px, _, _ = decode_image(buf.getvalue(), InputSpec(8, 8, 1, "squash", "nearest"))
    assert px[0, 0, 0] == 128 and px[7, 0, 0] == 255


def test_transparent_pixels_are_shown_on_white():
    a = np.zeros((8, 8, 4), np.uint8)
    a[..., 3] = 0  # fully transparent black
    px, _, _ = decode_image(image_bytes(a), InputSpec(8, 8, 3))
    assert (px == 255).all()


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "empty"),
        (b"hello, this is text", "not an image"),
    ],
)
def test_bad_bytes_raise_clear_errors(data, message):
    with pytest.raises(DecodeError, match=message):
        decode_image(data, InputSpec(8, 8, 3))


def test_max_pixels_refuses_large_images():
    with pytest.raises(DecodeError, match="max_pixels"):
        decode_image(
            image_bytes(np.zeros((100, 100), np.uint8)), InputSpec(8, 8, 1), max_pixels=5000
        )


def test_large_jpeg_uses_draft_and_keeps_size():
    a = np.random.default_rng(0).integers(0, 255, (1200, 1600, 3), dtype=np.uint8)
    data = image_bytes(a, "JPEG", quality=90)
    px, w, h = decode_image(data, InputSpec(224, 224, 3, "crop"))
    assert px.shape == (224, 224, 3) and (w, h) == (1600, 1200)


def test_a_truncated_file_is_an_error_not_half_an_image():
    data = image_bytes(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(DecodeError, match="truncated|cannot decode"):
        decode_image(data[: len(data) // 2], InputSpec(8, 8, 3))


def test_interpolation_is_the_one_model_json_names():
    """A 2x2 down-scale of a black/white checkerboard: nearest picks one pixel of each 2x2
    block, bilinear averages the block to mid-grey."""
    board = np.indices((8, 8)).sum(axis=0) % 2 * 255
    data = image_bytes(board.astype(np.uint8))
    nearest, _, _ = decode_image(data, InputSpec(4, 4, 1, "squash", "nearest"))
    bilinear, _, _ = decode_image(data, InputSpec(4, 4, 1, "squash", "bilinear"))
    assert set(np.unique(nearest)) <= {0, 255}
    assert np.all(np.abs(bilinear.astype(int) - 128) <= 3)  # Pillow's filter: 125..130


def test_an_image_already_at_the_input_size_is_unchanged():
    a = np.random.default_rng(2).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    for resize in ("squash", "crop", "fill"):
        px, w, h = decode_image(image_bytes(a), InputSpec(6, 5, 3, resize))
        np.testing.assert_array_equal(px, a)
        assert (w, h) == (5, 6)
