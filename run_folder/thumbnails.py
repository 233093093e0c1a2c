"""Small PNG thumbnails of a run's images, for report.html.

A thumbnail is a nicety: it never reads more than THUMBNAIL_MAX_BYTES of an object, never
decodes more than THUMBNAIL_MAX_PIXELS, and never raises (a missing thumbnail must not fail
a run). Pillow is imported only when a thumbnail is made.
"""

from __future__ import annotations

import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from bucketscore.storage import uris

THUMBNAIL_SIZE = 96
THUMBNAIL_MAX_BYTES = 64 * 1024 * 1024
THUMBNAIL_MAX_PIXELS = 100_000_000
THUMBNAIL_THREADS = 8  # object stores answer slowly, not heavily: a few reads at a time


def thumbnail(image_bytes: Optional[bytes], size: int = THUMBNAIL_SIZE) -> Optional[bytes]:
    """PNG bytes of the image scaled to fit size x size (upright, RGB), or None.

    Never raises: an empty, corrupt, truncated or oversized image gives None.
    """
    if not image_bytes:
        return None
    try:
        from PIL import Image, ImageOps

        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(image_bytes))
            w, h = img.size
            if w * h > THUMBNAIL_MAX_PIXELS:
                return None
            if img.format == "JPEG":
                img.draft("RGB", (size, size))  # decode at 1/2..1/8 scale: far less work
            img.load()
            img = ImageOps.exif_transpose(img)
            img = _to_rgb(img)
            img.thumbnail((size, size), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            img.save(out, format="PNG", optimize=True)
            return out.getvalue()
    except Exception:  # noqa: BLE001 - a missing thumbnail must never fail a run
        return None


def _to_rgb(img):
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale the actual range to 8 bits.
        lo, hi = img.getextrema()
        scale = 255.0 / (hi - lo) if hi > lo else 1.0
        img = img.point(lambda v: (v - lo) * scale).convert("L")
    if img.mode == "F":
        img = img.convert("L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def read_capped(uri: str, limit: int = THUMBNAIL_MAX_BYTES) -> Optional[bytes]:
    """The object's bytes, or None when it cannot be read or is larger than `limit`."""
    try:
        data = uris.read_bytes(uri, max_bytes=limit + 1)
    except Exception:  # noqa: BLE001 - the image may be gone or unreadable: no thumbnail
        return None
    return data if len(data) <= limit else None


def thumbnail_of(uri: str, size: int = THUMBNAIL_SIZE) -> Optional[bytes]:
    """Read `uri` (local, s3://, gs://) and make its thumbnail; None when it cannot."""
    return thumbnail(read_capped(uri), size)


def add_thumbnails(items: dict, size: int = THUMBNAIL_SIZE) -> tuple[dict, int]:
    """The report's items (run_folder.report_selection.assemble_items) -> (the same with a
    `thumbnail` (PNG bytes or None) on every image entry, how many thumbnails were made).
    Each distinct URI is read once, a few at a time in threads."""
    lists = {key: list(value) for key, value in items.items() if key != "most_confident"}
    groups = [dict(g) for g in items.get("most_confident", [])]
    entries = [e for rows in lists.values() for e in rows] + [
        row for g in groups for row in g["rows"]
    ]
    wanted = sorted({e["uri"] for e in entries})
    with ThreadPoolExecutor(max_workers=THUMBNAIL_THREADS) as pool:
        made = dict(zip(wanted, pool.map(lambda uri: thumbnail_of(uri, size), wanted)))
    out = {key: [dict(e, thumbnail=made[e["uri"]]) for e in rows] for key, rows in lists.items()}
    out["most_confident"] = [
        dict(g, rows=[dict(r, thumbnail=made[r["uri"]]) for r in g["rows"]]) for g in groups
    ]
    return out, sum(t is not None for t in made.values())
