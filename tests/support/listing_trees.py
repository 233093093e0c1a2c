"""Listing test data shared by tests/storage/test_listing.py (the Beam-free planner) and
tests/transforms/test_listing.py (the ListImages stage): a local tree, the buckets they list,
and each store's own plain listing to compare with (os.walk, boto3's paginator,
google-cloud-storage).

The buckets are filled once per test session and server (several thousand objects): both
test modules list the same ones.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from bucketscore.storage.listing import is_image_name
from tests.support.helpers import write_file
from tests.support.storage_servers import unique_bucket_name

# Below a local root: 9 images in any case of extension, and files that are no images.
TREE = [
    "a/1.png",
    "a/2.JPG",
    "a/b/3.jpeg",
    "a/b/4.Tiff",
    "c/5.webp",
    "c/6.gif",
    "c/7.bmp",
    "c/8.tif",
    "c/notes.txt",
    "c/model.json",
    "top.PNG",
    "c/noext",
]
TREE_IMAGES = [n for n in TREE if is_image_name(n)]


def write_tree(root: str) -> list[str]:
    for n in TREE:
        write_file(os.path.join(root, n), b"x")
    return TREE


def write_day_class_folders(root: str) -> None:
    """3 day folders x 12 class folders x 3 images, and one text file: 108 images."""
    for day in range(3):
        for label in range(12):
            for i in range(3):
                write_file(os.path.join(root, f"2026-11-{day:02d}", f"c{label}", f"{i}.png"), b"")
    with open(os.path.join(root, "2026-11-00", "c0", "notes.txt"), "w") as f:
        f.write("not listed")


def walk_images(root) -> list[str]:
    """Every image below a local folder, by os.walk: the plain listing to compare with."""
    return sorted(
        os.path.join(d, n) for d, _, files in os.walk(root) for n in files if is_image_name(n)
    )


def s3_listing(client, bucket: str, prefix: str) -> list[str]:
    """Every image below `prefix`, by boto3's own paginator."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(
        f"s3://{bucket}/{o['Key']}"
        for page in pages
        for o in page.get("Contents", [])
        if is_image_name(o["Key"])
    )


_filled: dict = {}


def s3_listing_bucket(s3_server) -> str:
    """A SeaweedFS bucket with a flat prefix of 2,600 images (more than two pages) and a
    prefix with many sub-prefixes (hashed two-level names), made once per server."""
    key = ("s3", id(s3_server))
    if key in _filled:
        return _filled[key]
    bucket = unique_bucket_name("listing")
    keys = [f"flat/img_{i:06d}.png" for i in range(2600)] + ["flat/img_000100.txt"]
    keys += [f"hashed/{i % 97:02x}/{i % 7}/{i:05d}.jpg" for i in range(700)]
    # Folders and files whose names share a start (`w001/`, `w001-b/`, `w001.png`): byte
    # order puts `w001-1.png` before `w001/x.png`, SeaweedFS (folder by folder) after.
    for i in range(600):
        w = f"w{i:03d}"
        keys += [f"tricky/{w}/x.png", f"tricky/{w}-b/y.png", f"tricky/{w}.png", f"tricky/{w}-1.png"]
        if i < 40:
            keys.append(f"small/{w}/x.png" if i % 2 else f"small/{w}-b/{w}.png")
    s3_server.create_bucket(bucket)
    client = s3_server.boto3_client()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
    _filled[key] = bucket
    return bucket


def gcs_listing_bucket(gcs_server) -> tuple[str, list[str]]:
    """A GCS emulator bucket with date/class folders and a flat prefix of 300 images, made
    once per server; and its images as google-cloud-storage lists them."""
    key = ("gcs", id(gcs_server))
    if key not in _filled:
        client = gcs_server.client()
        bucket = unique_bucket_name("listing")
        gcs_server.create_bucket(bucket)
        names = [f"d{d}/c{c}/{i:04d}.png" for d in range(2) for c in range(3) for i in range(5)]
        names += [f"flat/{i:04d}.jpg" for i in range(300)] + ["flat/0150.txt", "d0/top.png"]
        for name in names:
            client.bucket(bucket).blob(name).upload_from_string(b"x")
        expected = sorted(
            f"gs://{bucket}/{b.name}" for b in client.list_blobs(bucket) if is_image_name(b.name)
        )
        _filled[key] = bucket, expected
    return _filled[key]
