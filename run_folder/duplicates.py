"""Duplicate images: the same bytes stored under several names, found by the SHA-256 of
each image's bytes (`sha256` in the prediction rows: computed where the bytes are decoded).

`group_rows(sha256, members)` -> the rows of duplicates.csv for one group of two or more
images (`members`: (uri, true label) pairs); `summary_section` and `warning` say it in
summary.json. Exact duplicates only: a re-encoded or resized copy has other bytes.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from bucketscore.run_folder.schemas import csv_text

DUPLICATE_COLUMNS = ("sha256", "uri", "true_label", "copies", "labels_differ")


def group_rows(sha256: str, members: Iterable[Sequence]) -> list[dict]:
    """One row per image of a group (sorted by URI); [] when the group has one image."""
    members = sorted({(uri, label) for uri, label in members})
    if len(members) < 2:
        return []
    labels = {label or "" for _uri, label in members}
    differ = len(labels) > 1
    return [
        {
            "sha256": sha256,
            "uri": uri,
            "true_label": label,
            "copies": len(members),
            "labels_differ": differ,
        }
        for uri, label in members
    ]


def ordered(rows: Iterable[dict]) -> list[dict]:
    """Largest groups first, then by hash and URI."""
    return sorted(rows, key=lambda r: (-r["copies"], r["sha256"], r["uri"]))


def duplicates_csv(rows: Iterable[dict]) -> str:
    return csv_text(DUPLICATE_COLUMNS, ([r[c] for c in DUPLICATE_COLUMNS] for r in ordered(rows)))


def summary_section(found: Optional[dict]) -> Optional[dict]:
    """summary.json's `duplicates`: {groups, images, groups_with_different_labels,
    unhashed}, or None when the run did not look."""
    if found is None:
        return None
    rows = found["rows"]
    groups = {r["sha256"] for r in rows}
    conflicting = {r["sha256"] for r in rows if r["labels_differ"]}
    return {
        "groups": len(groups),
        "images": len(rows),
        "groups_with_different_labels": len(conflicting),
        "unhashed": int(found.get("unhashed") or 0),
    }


def warning(section: Optional[dict]) -> Optional[str]:
    if not section or not section["groups_with_different_labels"]:
        return None
    n = section["groups_with_different_labels"]
    return (
        f"{n} group{'s' if n != 1 else ''} of identical images carr{'y' if n != 1 else 'ies'} "
        f"different labels (duplicates.csv, labels_differ): at most one label of each can be "
        f"right"
    )
