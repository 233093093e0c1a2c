"""Small generated data sets for the model tests: coloured shapes, written as PNG files."""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "cross")


def shape_image(shape: str, rng: np.random.Generator, size: int = 32) -> Image.Image:
    """One RGB image: a filled shape of a random colour, position and size on a random
    dark background."""
    bg = tuple(int(v) for v in rng.integers(0, 90, 3))
    fg = tuple(int(v) for v in rng.integers(140, 256, 3))
    img = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(img)
    r = rng.uniform(0.25, 0.4) * size
    cx, cy = rng.uniform(r, size - r, 2)
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fg)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
    elif shape == "cross":
        w = r / 3
        draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=fg)
        draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=fg)
    else:
        raise ValueError(shape)
    return img


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_shapes(
    folder: str,
    per_class: int,
    shapes=SHAPES[:3],
    seed: int = 0,
    size: int = 32,
    splits: dict | None = None,
) -> dict[str, int]:
    """folder/<shape>/<shape>_NNN.png (or folder/<split>/<shape>/... with `splits`, a dict
    split -> images per class). Returns images written per top folder."""
    rng = np.random.default_rng(seed)
    layout = splits or {"": per_class}
    counts = {}
    for split, n in layout.items():
        for shape in shapes:
            for i in range(n):
                path = os.path.join(folder, split, shape, f"{shape}_{i:03d}.png")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(png(shape_image(shape, rng, size)))
        counts[split or "."] = n * len(shapes)
    return counts
