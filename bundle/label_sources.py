"""Where an image's true label comes from: `folder`, `regex:PATTERN`, `csv:URI`, `manifest`
or `none`.

The parsing of `--labels` and the rules per source, shared by scoring (the pipeline's
labels stage, transforms/labels.py) and training data discovery (datasets.py), so both read
the same labels from the same bucket. An image may end up without a label (regex did not
match, not in the CSV): it is still scored, its `true_label` is empty and it does not count
towards accuracy.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Optional

from bucketscore.storage import uris

LABEL_SOURCES = ("folder", "regex:PATTERN", "csv:URI", "manifest", "none")
MAX_CONFLICTS_SHOWN = 10  # a labels CSV with conflicting rows: how many the error names


class LabelSourceError(ValueError):
    """--labels is malformed, or its CSV cannot be read."""


@dataclass(frozen=True)
class LabelSource:
    """A parsed `--labels` value."""

    kind: str  # folder | regex | csv | manifest | none
    argument: str = ""

    @classmethod
    def parse(cls, text: str) -> "LabelSource":
        text = (text or "folder").strip()
        if text in ("folder", "manifest", "none"):
            return cls(text)
        if text.startswith("regex:"):
            pattern = text[len("regex:") :]
            try:
                compiled = re.compile(pattern)
            except re.error as e:
                raise LabelSourceError(
                    f"--labels regex:{pattern}: not a valid pattern: {e}"
                ) from None
            if compiled.groups < 1:
                raise LabelSourceError(
                    f"--labels regex:{pattern}: the pattern needs a group "
                    f"(parentheses) around the label, e.g. (.+)_pic_\\d+"
                )
            return cls("regex", pattern)
        if text.startswith("csv:"):
            uri = text[len("csv:") :]
            if not uri:
                raise LabelSourceError("--labels csv:URI needs the URI of a CSV file")
            return cls("csv", uris.normalize(uri))
        raise LabelSourceError(f"--labels {text!r}: expected one of {', '.join(LABEL_SOURCES)}")

    @property
    def has_labels(self) -> bool:
        return self.kind != "none"


def folder_label(image) -> Optional[str]:
    """The name of the folder that holds the image."""
    parts = image.uri.rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 and parts[-2] else None


def regex_label(pattern: re.Pattern, image) -> Optional[str]:
    """The first group of `pattern` searched in the file name."""
    m = pattern.search(image.uri.rsplit("/", 1)[-1])
    return m.group(1) if m and m.group(1) else None


def read_labels_csv(uri: str) -> dict[str, str]:
    """A CSV with `path,label` columns -> {path as written: label}."""
    try:
        text = uris.read_text(uri)
    except Exception as e:  # noqa: BLE001
        raise LabelSourceError(f"cannot read the labels CSV {uri}: {e}") from None
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "path" not in fields or "label" not in fields:
        raise LabelSourceError(
            f"the labels CSV {uri} needs a header with `path` and `label` "
            f"columns; found {reader.fieldnames}"
        )
    reader.fieldnames = fields
    out: dict[str, str] = {}
    conflicts: dict[str, set[str]] = {}
    for row in reader:
        path, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
        if not (path and label):
            continue
        if path in out and out[path] != label:  # the same row twice is fine; two labels not
            conflicts.setdefault(path, {out[path]}).add(label)
        out[path] = label
    if conflicts:
        shown = "; ".join(
            f"{p}: {', '.join(sorted(labels))}"
            for p, labels in sorted(conflicts.items())[:MAX_CONFLICTS_SHOWN]
        )
        more = (
            f" (and {len(conflicts) - MAX_CONFLICTS_SHOWN} more)"
            if len(conflicts) > MAX_CONFLICTS_SHOWN
            else ""
        )
        raise LabelSourceError(
            f"the labels CSV {uri} gives {len(conflicts)} path(s) different "
            f"labels: {shown}{more}; keep one row per path"
        )
    return out


def csv_key(image) -> list[str]:
    """The keys under which a CSV may name this image: full URI or relative to its input."""
    keys = [image.uri]
    if image.uri.startswith(image.base):
        keys.append(image.uri[len(image.base) :])
    return keys


def label_of(
    source: LabelSource,
    image,
    pattern: Optional[re.Pattern] = None,
    table: Optional[dict[str, str]] = None,
) -> Optional[str]:
    """The true label of `image` (anything with `uri` and `base`) under `source`; `pattern`
    (the compiled regex) and `table` (the CSV as read) are given by callers that label
    many images."""
    if source.kind == "folder":
        return folder_label(image)
    if source.kind == "regex":
        return regex_label(pattern or re.compile(source.argument), image)
    if source.kind == "manifest":
        # Given by the manifest that named the image (storage.manifests), set at listing.
        return getattr(image, "true_label", None)
    if source.kind == "csv":
        table = read_labels_csv(source.argument) if table is None else table
        for key in csv_key(image):
            if key in table:
                return table[key]
    return None


def csv_candidates(path: str, bases: list[str]) -> list[str]:
    """The URIs a CSV `path` may name: itself if it is a full URI, else below each input."""
    if uris.is_remote(path) or path.startswith("/"):
        return [path]
    return [uris.join(base, path) for base in bases]
