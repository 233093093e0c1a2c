"""The benchmark corpus: N real photographs as JPEG, 500x375, quality 90, folder per class.

Each image is a random crop (4:3, 35-100% of the largest 4:3 box, random flip) of one of ten
photographs bundled with scikit-image (nothing is downloaded), resized to 500x375 with
Lanczos and saved as a baseline JPEG at quality 90. The class is the source photograph, so
`--labels folder` works. Generation is deterministic (seeded per image index): image i is
the same file whatever N is, so a corpus of N images is a prefix of a corpus of M > N.

    python -m benchmarks.corpus --n 4000 --out benchmarks/work/corpus
"""

from __future__ import annotations

import argparse
import io
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np
from PIL import Image

WIDTH, HEIGHT, QUALITY = 500, 375, 90


def _sources() -> dict[str, Callable[[], np.ndarray]]:
    from skimage import data

    return {
        "astronaut": data.astronaut,
        "cat": data.chelsea,
        "coffee": data.coffee,
        "galaxies": data.hubble_deep_field,
        "tissue": data.immunohistochemistry,
        "retina": data.retina,
        "rocket": data.rocket,
        "motorcycle": lambda: data.stereo_motorcycle()[0],
        "cameraman": data.camera,
        "grass": data.grass,
    }


def load_sources() -> dict[str, Image.Image]:
    """The ten photographs as RGB Pillow images, keyed by class name (sorted)."""
    out = {}
    for name, fn in sorted(_sources().items()):
        arr = np.asarray(fn())
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        out[name] = Image.fromarray(arr[:, :, :3].astype(np.uint8), "RGB")
    return out


def make_jpeg(sources: dict[str, Image.Image], index: int, seed: int = 0) -> tuple[str, bytes]:
    """(class name, JPEG bytes) of image `index`: deterministic for (index, seed)."""
    rng = np.random.default_rng([seed, index])
    names = sorted(sources)
    name = names[index % len(names)]
    src = sources[name]
    sw, sh = src.size
    # The largest 4:3 box inside the source, scaled by 35-100%, placed at random.
    bw = min(sw, sh * WIDTH / HEIGHT)
    scale = rng.uniform(0.35, 1.0)
    cw = max(16, int(bw * scale))
    ch = max(12, int(cw * HEIGHT / WIDTH))
    x0 = int(rng.integers(0, sw - cw + 1))
    y0 = int(rng.integers(0, sh - ch + 1))
    img = src.crop((x0, y0, x0 + cw, y0 + ch)).resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=QUALITY)
    return name, buf.getvalue()


def relpath(name: str, index: int) -> str:
    return f"{name}/img_{index:06d}.jpg"


def iter_corpus(n: int, seed: int = 0, start: int = 0) -> Iterator[tuple[str, bytes]]:
    """(relative path, JPEG bytes) for images start..n-1."""
    sources = load_sources()
    for i in range(start, n):
        name, data = make_jpeg(sources, i, seed)
        yield relpath(name, i), data


def write_local(folder: str, n: int, seed: int = 0, threads: int = 2) -> list[str]:
    """Write images 0..n-1 under `folder` (files already there are kept); returns rel paths."""
    sources = load_sources()
    names = sorted(sources)
    rels = [relpath(names[i % len(names)], i) for i in range(n)]
    missing = [i for i, rel in enumerate(rels) if not os.path.isfile(os.path.join(folder, rel))]

    def one(i: int) -> None:
        _name, data = make_jpeg(sources, i, seed)
        path = os.path.join(folder, rels[i])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    if missing:
        with ThreadPoolExecutor(threads) as pool:  # Pillow releases the GIL while coding
            list(pool.map(one, missing))
    return rels


def upload(
    folder: str, rels: list[str], client, bucket: str, prefix: str, threads: int = 16
) -> None:
    """Upload the files `rels` under `folder` to s3://bucket/prefix/rel with boto3."""
    prefix = prefix.strip("/")

    def one(rel: str) -> None:
        with open(os.path.join(folder, rel), "rb") as f:
            client.put_object(
                Bucket=bucket, Key=f"{prefix}/{rel}", Body=f.read(), ContentType="image/jpeg"
            )

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, rels))


def link_copies(folder: str, rels: list[str], out: str, copies: int) -> int:
    """`copies` hard-linked copies of the corpus under out/copy_K/<class>/...: distinct
    objects (distinct URIs) for a memory run over copies x N images, at no disk cost."""
    count = 0
    for k in range(copies):
        for rel in rels:
            dst = os.path.join(out, f"copy_{k:02d}", rel)
            if not os.path.exists(dst):
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                try:
                    os.link(os.path.join(folder, rel), dst)
                except OSError:  # another file system: copy
                    import shutil

                    shutil.copyfile(os.path.join(folder, rel), dst)
            count += 1
    return count


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--out", default="benchmarks/work/corpus")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rels = write_local(args.out, args.n, args.seed)
    total = sum(os.path.getsize(os.path.join(args.out, r)) for r in rels)
    print(
        f"{len(rels)} JPEGs under {args.out} ({total / len(rels) / 1024:.1f} KiB each on average)"
    )


if __name__ == "__main__":
    main()
