"""Duplicate images: the same bytes stored under several names, found by the SHA-256 of
each image's bytes (`sha256` in the prediction rows: computed where the bytes are decoded).

`RepeatSketch` says which hashes may occur more than once (a fixed-size sketch: no hash
seen twice is missed; a few seen once pass as candidates), so only those rows are grouped;
`group_rows(sha256, members)` -> the rows of duplicates.csv for one group of two or more
images (`members`: (uri, true label) pairs); `summary_section` and `warning` say it in
summary.json. Exact duplicates only: a re-encoded or resized copy has other bytes.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np

from bucketscore.run_folder.schemas import csv_text

# A hash's position in the sketch: its first 64 bits modulo SKETCH_BITS. Sets of positions
# while small, bitmaps of SKETCH_BITS bits (8 MiB each) beyond DENSE_AT positions: memory
# stays bounded at any run size. Hashes seen once that share a position with another pass
# as candidates: n^2 / (2 * SKETCH_BITS) colliding pairs expected, so about n^2 / SKETCH_BITS
# of n images (~24 at 40,000; ~15,000 at 1M).
SKETCH_BITS = 1 << 26
DENSE_AT = 1 << 18


def sketch_position(sha256: str) -> int:
    """The sketch position of a hex SHA-256 digest."""
    return int(sha256[:16], 16) & (SKETCH_BITS - 1)


def _bitmap(positions) -> np.ndarray:
    bits = np.zeros(SKETCH_BITS // 8, dtype=np.uint8)
    at = np.fromiter(positions, dtype=np.int64, count=len(positions))
    np.bitwise_or.at(bits, at >> 3, (1 << (at & 7)).astype(np.uint8))
    return bits


class RepeatSketch:
    """Positions of the hashes seen once (`once`) and more than once (`twice`), and how
    many hashes were added (`count`). Sets while small, bitmaps once dense."""

    __slots__ = ("once", "twice", "count")

    def __init__(self):
        self.once, self.twice, self.count = set(), set(), 0

    @property
    def dense(self) -> bool:
        return isinstance(self.once, np.ndarray)

    def add(self, sha256: str) -> "RepeatSketch":
        position = sketch_position(sha256)
        self.count += 1
        if self.dense:
            byte, bit = position >> 3, np.uint8(1 << (position & 7))
            if self.once[byte] & bit:
                self.twice[byte] |= bit
            self.once[byte] |= bit
        else:
            if position in self.once:
                self.twice.add(position)
            self.once.add(position)
            if len(self.once) > DENSE_AT:
                self._densify()
        return self

    def _densify(self) -> None:
        if not self.dense:
            self.once, self.twice = _bitmap(self.once), _bitmap(self.twice)

    def merge(self, other: "RepeatSketch") -> "RepeatSketch":
        """Adds `other`'s hashes to this sketch (a position in both is seen twice)."""
        self.count += other.count
        if not self.dense and not other.dense and len(self.once) + len(other.once) <= DENSE_AT:
            self.twice |= other.twice | (self.once & other.once)
            self.once |= other.once
            return self
        self._densify()
        once, twice = other.once, other.twice
        if not other.dense:
            once, twice = _bitmap(once), _bitmap(twice)
        self.twice |= twice | (self.once & once)
        self.once |= once
        return self

    def may_repeat(self, sha256: str) -> bool:
        """False when this hash was seen at most once; True when it was seen more than
        once, or shares its position with another hash."""
        position = sketch_position(sha256)
        if self.dense:
            return bool(self.twice[position >> 3] & (1 << (position & 7)))
        return position in self.twice


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
