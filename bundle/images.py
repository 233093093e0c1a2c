"""Image bytes -> the model's input, as model.json says: Pillow, EXIF orientation,
channels, resize.

`decode_image` is the single definition of preprocessing: the scoring pipeline
(transforms/decoding.py), `bucketscore classify`, training data (datasets.py), the demo and
export calibration all call it, so training and scoring cannot drift.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps

from bucketscore.bundle.meta import DEFAULT_MAX_PIXELS, InputSpec

# Never decode a truncated file "as far as it goes": it would be scored on a grey half.
ImageFile.LOAD_TRUNCATED_IMAGES = False

RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
# EXIF orientations that swap width and height.
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}


class DecodeError(ValueError):
    """The bytes are not an image we can score; the message says why."""


def decode_image(
    data: bytes, spec: InputSpec, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, int, int]:
    """Bytes -> (uint8 pixels [spec.height, spec.width, spec.channels], width, height).

    width/height are the image's own size, upright (after EXIF orientation). Raises
    DecodeError with a readable message for empty, unknown, truncated or oversized input.
    """
    if not data:
        raise DecodeError("empty file (0 bytes)")
    with warnings.catch_warnings():
        # Pillow's own bomb guard only warns below 2x its limit; we want an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as e:
            raise DecodeError(f"image too large (decompression bomb guard): {e}") from None
        except Image.UnidentifiedImageError:
            raise DecodeError(f"not an image Pillow can read (first bytes {data[:8]!r})") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise DecodeError(
                f"cannot decode the image header: {e} (truncated or corrupt file)"
            ) from None
        w, h = img.size
        if w * h > max_pixels:
            raise DecodeError(
                f"image is {w}x{h} = {w * h:,} pixels, over the limit of "
                f"{max_pixels:,} (--max_pixels)"
            )
        orientation = _orientation(img)
        upright_w, upright_h = (h, w) if orientation in _TRANSPOSING_ORIENTATIONS else (w, h)
        if img.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is much larger
            # than the model input: far less work, and still >= the target size.
            want = _draft_size(spec, upright_w, upright_h, orientation)
            if want is not None:
                img.draft(img.mode if img.mode in ("L", "RGB") else None, want)
        try:
            img.load()
        except Image.DecompressionBombError as e:
            raise DecodeError(f"image too large (decompression bomb guard): {e}") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise DecodeError(f"cannot decode {img.format or 'image'}: {e}") from None
        if orientation not in (None, 1):
            img = ImageOps.exif_transpose(img)
        img = _to_channels(img, spec.channels)
        img = _resize(img, spec)
    pixels = np.asarray(img, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return pixels, upright_w, upright_h


def _orientation(img: Image.Image) -> int | None:
    try:
        return img.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not fail an image
        return None


def _draft_size(spec: InputSpec, w: int, h: int, orientation: int | None):
    tw, th = spec.width, spec.height
    if spec.resize == "crop":
        # Cropping keeps the full short side: scale so that side still covers the target.
        scale = max(tw / w, th / h)
        tw, th = int(w * scale + 0.999), int(h * scale + 0.999)
    if w < 2 * tw or h < 2 * th:
        return None
    if orientation in _TRANSPOSING_ORIENTATIONS:
        tw, th = th, tw
    return (tw, th)


def _to_channels(img: Image.Image, channels: int) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (or 32-bit) grey: scale to 8 bits instead of clipping at 255.
        arr = np.asarray(img).astype(np.float64)
        arr = np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, mode="L")
    elif mode == "F":
        img = Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8), mode="L")
    elif (mode == "P" and "transparency" in img.info) or mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels are shown on white, as a viewer would show them.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    elif mode == "1":
        img = img.convert("L")
    target = "L" if channels == 1 else "RGB"
    return img if img.mode == target else img.convert(target)


def _resize(img: Image.Image, spec: InputSpec) -> Image.Image:
    size = (spec.width, spec.height)
    resample = RESAMPLE[spec.interpolation]
    if img.size == size:
        return img
    if spec.resize == "squash":
        return img.resize(size, resample)
    if spec.resize == "crop":
        return ImageOps.fit(img, size, method=resample, centering=(0.5, 0.5))
    return ImageOps.pad(img, size, method=resample, color=0, centering=(0.5, 0.5))
