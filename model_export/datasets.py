"""Labelled images for training, read from a prefix (local, s3://, gs://) like the pipeline.

Layouts:

* one folder per class: `<prefix>/<label>/<image>` (the label is the image's parent
  folder, as `bucketscore score --labels folder` reads it);
* images + a labels CSV (`path,label`; paths relative to the prefix or full URIs):
  `--labels_csv URI`, or `<prefix>/labels.csv` when present;
* either of those below `train/`, `validation/` (or `val/`) and `test/`: the splits are used
  as given; a missing validation or test split is carved out of `train/` as below;
* otherwise a seeded, stratified split (each class is split in the same proportions).

Every image goes through `bucketscore.bundle.images.decode_image`, what scoring decodes
with, with the bundle's InputSpec, so training sees exactly the pixels scoring will. Images
that cannot be read or decoded are skipped and reported, never silently dropped.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from bucketscore.bundle.meta import InputSpec
from bucketscore.errors import described
from bucketscore.storage import uris

_log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
SPLIT_FOLDERS = {"train": "train", "validation": "validation", "val": "validation", "test": "test"}
LABELS_CSV_NAME = "labels.csv"
READ_THREADS = 8


class DatasetError(ValueError):
    """The data cannot be used for training; the message says why."""


@dataclass
class Item:
    uri: str
    label: str
    split: Optional[str]  # from the folder layout, or None (to be split)


@dataclass
class Split:
    x: np.ndarray  # uint8 [N, H, W, C]
    y: np.ndarray  # int64 [N], index into labels
    uris: list[str]

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    labels: list[str]
    train: Split
    validation: Split
    test: Split
    source: str
    layout: str  # "folders" | "csv", plus "+splits" when split folders were used
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (uri, why)

    def counts(self) -> dict:
        out = {}
        for name in SPLITS:
            part = getattr(self, name)
            per = (
                np.bincount(part.y, minlength=len(self.labels))
                if len(part)
                else np.zeros(len(self.labels), int)
            )
            out[name] = {
                "images": int(len(part)),
                "per_class": {lab: int(n) for lab, n in zip(self.labels, per)},
            }
        out["skipped"] = len(self.skipped)
        return out

    def describe(self) -> str:
        c = self.counts()
        return (
            f"{len(self.labels)} classes; {c['train']['images']} train, "
            f"{c['validation']['images']} validation, {c['test']['images']} test images"
            + (f"; {len(self.skipped)} skipped" if self.skipped else "")
        )


def discover(
    data_uri: str, labels_csv: Optional[str] = None
) -> tuple[list[Item], str, list[tuple[str, str]]]:
    """List the labelled images under `data_uri`: (items, layout, skipped)."""
    from bucketscore.bundle.label_sources import LabelSourceError, read_labels_csv
    from bucketscore.storage.listing import list_input

    prefix = uris.as_prefix(uris.normalize(data_uri))
    try:
        listed = list(list_input(prefix))
    except Exception as e:  # noqa: BLE001 - storage errors: one clear line
        raise DatasetError(f"cannot list {prefix}: {described(e)}") from None
    if not listed:
        raise DatasetError(f"no images under {prefix} (jpg jpeg png gif bmp webp tif tiff)")
    if labels_csv is None:
        default_csv = uris.join(prefix, LABELS_CSV_NAME)
        if uris.exists(default_csv):
            labels_csv = default_csv
    table = None
    if labels_csv is not None:
        try:
            table = read_labels_csv(uris.normalize(labels_csv))
        except LabelSourceError as e:
            raise DatasetError(str(e)) from None
        if not table:
            raise DatasetError(f"the labels CSV {labels_csv} has no rows")
    rels = {img.uri: uris.relative_to(img.uri, prefix) for img in listed}
    tops = {rel.split("/", 1)[0] for rel in rels.values() if "/" in rel}
    use_splits = "train" in tops
    items, skipped = [], []
    for img in sorted(listed, key=lambda i: i.uri):
        rel = rels[img.uri]
        parts = rel.split("/")
        split = None
        if use_splits:
            split = SPLIT_FOLDERS.get(parts[0])
            if split is None:
                skipped.append((img.uri, f"not below train/, validation/ or test/ of {prefix}"))
                continue
        if table is not None:
            label = table.get(rel) or table.get(img.uri)
            if label is None and use_splits:
                label = table.get("/".join(parts[1:]))
            if label is None:
                skipped.append((img.uri, "not in the labels CSV"))
                continue
        else:
            inner = parts[1:] if use_splits else parts
            if len(inner) < 2:
                skipped.append((img.uri, "not in a class folder"))
                continue
            label = inner[-2]
        items.append(Item(img.uri, label, split))
    if not items:
        raise DatasetError(
            f"no labelled images under {prefix}: put images in one folder per "
            f"class, or give a labels CSV (path,label)"
        )
    layout = ("csv" if table is not None else "folders") + ("+splits" if use_splits else "")
    return items, layout, skipped


def stratified_split(
    labels: np.ndarray, fractions: dict[str, float], seed: int
) -> dict[str, np.ndarray]:
    """Indices per split name: each class split in the same proportions, seeded.

    `fractions` names the carved-out splits (e.g. validation, test); what remains is train.
    Every class keeps at least one training image; a carved split gets one image of a class
    as soon as the class has enough images for it (>= 1 / fraction, and at least 3).
    """
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {name: [] for name in fractions}
    out["train"] = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        n, start = len(idx), 0
        for name, frac in fractions.items():
            k = int(np.floor(n * frac + 0.5))
            if k == 0 and frac > 0 and n >= max(3, int(np.ceil(1 / frac))):
                k = 1
            k = min(k, n - start - 1)  # keep >= 1 for train
            k = max(k, 0)
            out[name].extend(idx[start : start + k].tolist())
            start += k
        out["train"].extend(idx[start:].tolist())
    return {name: np.array(sorted(v), dtype=np.int64) for name, v in out.items()}


def load_dataset(
    data_uri: str,
    spec: InputSpec,
    *,
    labels_csv: Optional[str] = None,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    label_order: Optional[list[str]] = None,
    threads: int = READ_THREADS,
    log=_log.info,
) -> Dataset:
    """Discover, read, decode and split. `label_order` fixes the first labels' indices
    (continuing a bundle); new labels are appended in sorted order."""
    from bucketscore.bundle.images import decode_image

    items, layout, skipped = discover(data_uri, labels_csv)

    def load(item: Item):
        try:
            pixels, _w, _h = decode_image(uris.read_bytes(item.uri), spec)
            return pixels, None
        except Exception as e:  # noqa: BLE001 - this image's problem, reported below
            return None, described(e)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(pool.map(load, items))
    kept, pixels = [], []
    for item, (px, err) in zip(items, results):
        if err is not None:
            skipped.append((item.uri, err))
        else:
            kept.append(item)
            pixels.append(px)
    if skipped:
        log(
            f"skipped {len(skipped)} image(s) under {data_uri}: "
            + "; ".join(f"{u}: {why}" for u, why in skipped[:3])
            + (" ..." if len(skipped) > 3 else "")
        )
    if not kept:
        raise DatasetError(f"none of the images under {data_uri} could be read and decoded")
    found = sorted({it.label for it in kept})
    labels = list(label_order or [])
    labels += [lab for lab in found if lab not in set(labels)]
    index = {lab: i for i, lab in enumerate(labels)}
    x = np.stack(pixels).astype(np.uint8)
    y = np.array([index[it.label] for it in kept], dtype=np.int64)
    all_uris = [it.uri for it in kept]
    splits = np.array([it.split for it in kept], dtype=object)

    parts: dict[str, np.ndarray] = {}
    if "+splits" in layout:
        for name in SPLITS:
            parts[name] = np.flatnonzero(splits == name)
        if not len(parts["train"]):
            raise DatasetError(f"{data_uri}: train/ holds no usable images")
        carve = {
            name: frac
            for name, frac in (("validation", validation_fraction), ("test", test_fraction))
            if not len(parts[name]) and frac > 0
        }
        if carve:
            log(
                f"no {' or '.join(carve)} split folder under {data_uri}: carving it out of "
                f"train/ (seeded, stratified)"
            )
            train_idx = parts["train"]
            sub = stratified_split(y[train_idx], carve, seed)
            for name, idx in sub.items():
                parts[name] = train_idx[idx]
    else:
        parts = stratified_split(
            y, {"validation": validation_fraction, "test": test_fraction}, seed
        )
    for name in SPLITS:
        parts.setdefault(name, np.array([], dtype=np.int64))
    if not len(parts["validation"]):
        raise DatasetError(
            f"{data_uri}: too few images for a validation split "
            f"({len(kept)} images, {len(found)} classes); add images, a "
            f"validation/ folder, or raise --validation_fraction"
        )
    missing = [lab for lab in found if not np.any(y[parts["train"]] == index[lab])]
    if missing:
        raise DatasetError(f"no training images for class(es) {', '.join(missing)}")

    def take(idx):
        return Split(x[idx], y[idx], [all_uris[i] for i in idx])

    return Dataset(
        labels=labels,
        train=take(parts["train"]),
        validation=take(parts["validation"]),
        test=take(parts["test"]),
        source=uris.normalize(data_uri),
        layout=layout,
        skipped=skipped,
    )
