"""Which objects an input names, and how their listing is cut into tasks for many workers.

An input is a prefix (every image below it), a glob (taken as given), a single image file,
or a manifest (`manifest:URI`, storage/manifests.py). `resolve_inputs` makes each an
`InputSpec`; `root_tasks` gives one `ListTask` per input; `expand` (one planning round)
replaces a task by smaller ones; `list_task` lists a task, page by page.

How a task is cut (each planning round lists ONE page of it, with a delimiter):

* the page is complete (the level has at most PAGE_SIZE entries): each sub-prefix becomes
  a task of its own (at most MAX_CHILDREN; more are grouped into ranges of consecutive
  sub-prefixes), and the images directly at that level become `level` tasks, split into
  key ranges of at least MIN_TASK images so that small flat inputs spread too;
* the page is truncated (a very flat prefix): the keys after it are cut into ranges at the
  characters of the page's last key, position by position from where the page's keys
  differ up to the first character (`img_000999.png` -> `img_0001`, ..., `img_001`, ...,
  `img_01`, ...): the next round cuts each range again from its own first page.

A local folder cannot be read in parts, so there a round reads the whole folder level
(names only, no stat) and cuts by a bounded sample of the names. Tasks cover disjoint key
ranges, so every object is listed once. Tasks left after the last round are listed whole.

Overlapping inputs need no shuffle: an object under several inputs is kept by the one whose
base sorts first (the same choice whatever the input order); an input entirely inside a
prefix input is dropped, and every other input skips the objects an input before it names
(`InputSpec.names`, a test on the URI). Training data discovery uses `list_input`.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, replace
from typing import Iterable, Iterator, Optional

from bucketscore.storage import manifests, uris
from bucketscore.storage.pages import PAGE_SIZE, object_entry, pages

EXTENSIONS_TEXT = "jpg jpeg png gif bmp webp tif tiff"  # for messages and --help
IMAGE_EXTENSIONS = frozenset("." + e for e in EXTENSIONS_TEXT.split())

PREFIX, GLOB, FILE, MANIFEST = "prefix", "glob", "file", "manifest"
# ListTask kinds: `explore` (size unknown: a planning round lists one page of it), `ready`
# (to be listed as it is), `file`, `manifest` (a byte range of a manifest). Explore tasks
# left after the last planning round are listed as they are.
EXPLORE, READY = "explore", "ready"
PLANNING_ROUNDS = 3  # by default: e.g. date folders, then class folders, then key ranges
MAX_CHILDREN = 64  # sub-prefix tasks made from one level; more are grouped into ranges
MAX_SPLIT = 32  # ranges a truncated page, or a level of images, is cut into
MIN_TASK = 64  # images directly at a level per level task (fewer: one task)
SAMPLE = 1024  # names a local folder level is sampled by
LOCAL_SCAN_BUDGET = 4_000_000  # folder entries that level tasks of one folder re-read
_DIGITS, _UPPER, _LOWER = "0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
_CLASSES = (_DIGITS, _UPPER, _LOWER)


@dataclass(frozen=True)
class ListedObject:
    """One image object: its URI, the input prefix it was found under, size and mtime."""

    uri: str
    base: str
    size: int = 0
    mtime: float = 0.0


def is_image_name(uri: str) -> bool:
    """True for the image extensions we score, in any case (IMG_0001.JPG counts)."""
    return os.path.splitext(uri.rsplit("/", 1)[-1])[1].lower() in IMAGE_EXTENSIONS


def split_input(uri: str) -> tuple[str, str | None]:
    """An input URI -> (base prefix, glob or None).

    A glob is taken as given, and its base is the folder before the first wildcard (used to
    resolve relative paths in a labels CSV). Anything else is a prefix: every image below it.
    """
    uri = uris.normalize(uri)
    if uris.has_glob(uri):
        first = min(uri.index(c) for c in uris.GLOB_CHARS if c in uri)
        base = uri[: uri.rfind("/", 0, first) + 1]
        return base, uri
    return uris.as_prefix(uri), None


def parent(uri: str) -> str:
    """The folder (prefix, with its '/') that holds `uri`."""
    return uri[: uri.rfind("/") + 1]


def glob_regex(pattern: str) -> str:
    """The regular expression Beam's filesystems match a glob with (`*` stays within a
    folder, `**` crosses folders), so that a glob names what it named with Beam's match."""
    from apache_beam.io.filesystem import FileSystem

    return FileSystem.translate_pattern(pattern)


# -- inputs ------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputSpec:
    """One input: `kind` prefix | glob | file | manifest, the `base` prefix listed (a
    file's folder, a glob's folder before its first wildcard), a glob's `pattern` (regular
    expression), a file's size and time."""

    uri: str
    kind: str
    base: str
    pattern: Optional[str] = None
    size: int = 0
    mtime: float = 0.0

    @property
    def rank(self) -> tuple:
        """The order in which inputs claim an object they share: base first."""
        return self.base, (PREFIX, GLOB, FILE, MANIFEST).index(self.kind), self.uri

    def names(self, uri: str) -> bool:
        """Whether this input names the image object `uri` (not for manifests)."""
        if self.kind == FILE:
            return uri == self.uri
        if not uri.startswith(self.base):
            return False
        return self.pattern is None or re.match(self.pattern, uri) is not None

    def covers(self, other: "InputSpec") -> bool:
        """Whether every object `other` names is named by this prefix input first."""
        return (
            self.kind == PREFIX
            and other.kind != MANIFEST
            and self.rank < other.rank
            and other.base.startswith(self.base)
        )


def resolve_input(uri: str) -> InputSpec:
    """The InputSpec of one input URI. One request for a URI that names an image file
    (an image extension, no trailing '/'): that object, if it exists, is the input."""
    if manifests.is_manifest(uri):
        return InputSpec(uri, MANIFEST, manifests.target(uri))
    uri = uris.normalize(uri)
    base, glob = split_input(uri)
    if glob:
        return InputSpec(uri, GLOB, base, glob_regex(glob))
    if not uri.endswith(("/", os.sep)) and is_image_name(uri):
        found = object_entry(uri)
        if found is not None:
            return InputSpec(uri, FILE, parent(uri), size=found.size, mtime=found.mtime)
    return InputSpec(uri, PREFIX, base)


def resolve_inputs(inputs: Iterable[str]) -> list[InputSpec]:
    """Every input's InputSpec, in rank order, without those another input covers."""
    specs = sorted({resolve_input(u) for u in inputs}, key=lambda s: s.rank)
    return [s for s in specs if not any(o.covers(s) for o in specs)]


def rivals_of(spec: InputSpec, specs: list[InputSpec]) -> tuple[InputSpec, ...]:
    """The inputs ranked before `spec` that may name some of its objects."""
    return tuple(
        o
        for o in specs
        if o.rank < spec.rank
        and o.kind != MANIFEST
        and spec.kind != MANIFEST
        and spec.base.startswith(o.base)
    )


def label_bases(inputs: Iterable[str]) -> list[str]:
    """The base of each input that is not a manifest: what relative paths in a labels CSV
    are relative to (a single image file's folder)."""
    return [s.base for s in (resolve_input(u) for u in inputs) if s.kind != MANIFEST]


# -- tasks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ListTask:
    """A part of one input's listing: keys below `prefix` with after < key < before
    (storage.pages ranges), at any depth or, when `flat`, directly at `prefix`; or bytes
    [start, end) of a manifest (`manifest_format`)."""

    spec: InputSpec
    rivals: tuple[InputSpec, ...] = ()
    prefix: str = ""
    after: Optional[str] = None
    before: Optional[str] = None
    kind: str = EXPLORE
    flat: bool = False
    start: int = 0
    end: int = 0
    manifest_format: Optional[manifests.ManifestFormat] = None


def root_tasks(specs: list[InputSpec]) -> list[ListTask]:
    """One task per input (a manifest: one per byte range, its format read once here)."""
    out = []
    for spec in specs:
        rivals = rivals_of(spec, specs)
        if spec.kind == FILE:
            out.append(ListTask(spec, rivals, spec.base, kind=FILE))
        elif spec.kind == MANIFEST:
            out.extend(_manifest_tasks(spec))
        else:
            # A glob whose wildcards are all `*` after its base folder names objects
            # directly in that folder only.
            rest = spec.uri[len(spec.base) :]
            flat = spec.kind == GLOB and not any(c in rest for c in ("/", "**", "?", "["))
            out.append(ListTask(spec, rivals, spec.base, flat=flat))
    return out


def _manifest_tasks(spec: InputSpec) -> list[ListTask]:
    found = object_entry(spec.base)
    if found is None:
        raise manifests.ManifestError(f"the manifest {spec.base} does not exist")
    fmt = manifests.sniff(spec.base)
    return [
        ListTask(spec, prefix=spec.base, kind=MANIFEST, start=start, end=end, manifest_format=fmt)
        for start, end in manifests.byte_ranges(found.size)
    ]


def expand(task: ListTask) -> list[ListTask]:
    """One planning round: `task` as smaller tasks that together list the same objects
    (itself when it is not to be explored)."""
    if task.kind != EXPLORE:
        return [task]
    if uris.is_remote(task.prefix):
        first = next(pages(task.prefix, delimiter=True, after=task.after, before=task.before))
        if first.more:
            return _split_flat(task, first)
        objects = sorted(o.uri for o in first.objects if is_image_name(o.uri))
        return _children(task, _Sample(objects), _Sample(sorted(first.prefixes)), remote=True)
    # A local folder level, read whole (names only) and sampled.
    objects, prefixes = _Sample(), _Sample()
    for page in pages(
        task.prefix, delimiter=True, after=task.after, before=task.before, stat=False
    ):
        for o in page.objects:
            if is_image_name(o.uri):
                objects.add(o.uri)
        for p in page.prefixes:
            prefixes.add(p)
    return _children(task, objects, prefixes, remote=False)


class _Sample:
    """A count of names and a uniform sample of at most SAMPLE of them (all when fewer)."""

    def __init__(self, names: Optional[list[str]] = None):
        self.names = list(names or [])
        self.count = len(self.names)
        self._rng = random.Random(0)  # the same cut on every attempt of a task

    def add(self, name: str) -> None:
        self.count += 1
        if len(self.names) < SAMPLE:
            self.names.append(name)
            return
        slot = self._rng.randrange(self.count)
        if slot < SAMPLE:
            self.names[slot] = name

    def quantiles(self, parts: int) -> list[str]:
        """parts - 1 names cutting the sample into `parts` groups of about equal size."""
        keys = sorted(self.names)
        if parts < 2 or len(keys) < 2:
            return []
        return sorted({keys[len(keys) * i // parts] for i in range(1, parts)})


def _children(task: ListTask, objects: _Sample, prefixes: _Sample, remote: bool) -> list[ListTask]:
    """The tasks of one level of `task`: its images (`objects`) and sub-prefixes."""
    total = objects.count + prefixes.count
    most = MAX_CHILDREN
    if not remote:  # each range task re-reads the local folder: bound what that costs
        most = max(2, min(MAX_CHILDREN, LOCAL_SCAN_BUDGET // max(total, 1)))
    if not task.flat and prefixes.count > MAX_CHILDREN:
        # Ranges of consecutive sub-prefixes, cut just after one (`x/` -> `x~`); they
        # cover the level's images too.
        names = sorted(prefixes.names)
        cuts = [names[len(names) * i // most - 1][:-1] + "~" for i in range(1, most)]
        return _ranges(task, _safe_cuts(task.prefix, cuts, names), EXPLORE)
    out = (
        []
        if task.flat
        else [
            replace(task, prefix=p, after=_within(task.after, p), before=_within(task.before, p))
            for p in sorted(prefixes.names)
        ]
    )
    if objects.count:
        parts = min(MAX_SPLIT, most, objects.count // MIN_TASK)
        cuts = [_before_name(k) for k in objects.quantiles(parts)]
        out += [replace(t, flat=True) for t in _ranges(task, cuts, READY)]
    return out


def _split_flat(task: ListTask, first) -> list[ListTask]:
    """A truncated first page: cut what follows it at the characters of its last key."""
    keys = sorted([o.uri for o in first.objects] + first.prefixes)
    head, last = keys[0][len(task.prefix) :], keys[-1][len(task.prefix) :]
    differ = len(os.path.commonprefix([head, last]))
    cuts: list[str] = []
    for j in range(min(differ, len(last) - 1), -1, -1):
        classes = {c for c in _CLASSES if last[j] in c}
        if j == differ:  # the characters the page's keys took here
            seen = {k[len(task.prefix) + j] for k in keys if len(k) > len(task.prefix) + j}
            classes |= {c for c in _CLASSES if seen & set(c)}
        for chars in sorted(classes):
            # Just before last[:j] + c: the character before it, then `~`.
            cuts += [task.prefix + last[:j] + chr(ord(c) - 1) + "~" for c in chars if c > last[j]]
        if len(cuts) >= MAX_SPLIT - 1:
            break
    top = task.prefix + last
    cuts = [
        c for c in cuts[: MAX_SPLIT - 1] if c > top and (task.before is None or c < task.before)
    ]
    cuts = _safe_cuts(task.prefix, cuts, first.prefixes)
    if not cuts:
        return [replace(task, kind=READY)]
    return _ranges(task, cuts, EXPLORE)


def _safe_cuts(prefix: str, cuts: list[str], sub_prefixes: list[str]) -> list[str]:
    """The cuts (range bounds at one level) that fall in the same place whether a store
    orders keys as byte strings (S3, GCS) or folder by folder, a folder `x/` sorting as
    `x` (SeaweedFS, whose StartAfter also skips a folder equal to it): sorted, without
    those next to a known sub-prefix (`x` where `x/` exists; `x-...`, `x.y` with
    characters below '/' after a sub-prefix's name), with no '/' and no image name."""
    names = [p[len(prefix) :].rstrip("/") for p in sub_prefixes if p.startswith(prefix)]
    out = set()
    for cut in cuts:
        rest = cut[len(prefix) :]
        if (
            "/" in rest
            or is_image_name(cut)
            or any(rest == n or (rest.startswith(n) and rest[len(n)] < "/") for n in names)
        ):
            continue
        out.add(cut)
    return sorted(out)


def _before_name(key: str) -> str:
    """A bound just before the image `key` that is no image name itself (storage.pages
    never returns a key equal to a bound): the key without its extensions."""
    while is_image_name(key):
        key = os.path.splitext(key)[0]
    return key


def _ranges(task: ListTask, cuts: list[str], kind: str) -> list[ListTask]:
    """`task` cut at `cuts` (sorted; those outside its range are dropped)."""
    inside = [
        c
        for c in cuts
        if (task.after is None or c > task.after) and (task.before is None or c < task.before)
    ]
    bounds = [task.after] + sorted(set(inside)) + [task.before]
    return [replace(task, after=a, before=b, kind=kind) for a, b in zip(bounds, bounds[1:])]


def _within(bound: Optional[str], prefix: str) -> Optional[str]:
    """A range bound, or None where it does not cut into the keys below `prefix`."""
    return bound if bound is not None and bound.startswith(prefix) else None


def manifest_pages(
    task: ListTask, size: int = PAGE_SIZE
) -> Iterator[list[tuple[ListedObject, Optional[str]]]]:
    """(object, label) for each entry of a manifest task, `size` at a time. A manifest
    gives no size or time (0); an entry's base is its folder."""
    page = []
    for entry in manifests.read_entries(task.prefix, task.manifest_format, task.start, task.end):
        page.append((ListedObject(entry.uri, parent(entry.uri)), entry.label))
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def list_task(task: ListTask) -> Iterator[list[ListedObject]]:
    """The image objects of a task, a page at a time (a manifest's entries, whatever
    their names: the manifest chose them)."""
    spec = task.spec
    if task.kind == FILE:
        if not any(r.names(spec.uri) for r in task.rivals):
            yield [ListedObject(spec.uri, spec.base, spec.size, spec.mtime)]
        return
    if task.kind == MANIFEST:
        for page in manifest_pages(task):
            yield [obj for obj, _label in page]
        return
    pattern = re.compile(spec.pattern) if spec.pattern else None
    for page in pages(task.prefix, delimiter=task.flat, after=task.after, before=task.before):
        found = [
            ListedObject(o.uri, spec.base, o.size, o.mtime)
            for o in page.objects
            if is_image_name(o.uri)
            and (pattern is None or pattern.match(o.uri))
            and not any(r.names(o.uri) for r in task.rivals)
        ]
        if found:
            yield found


def list_input(uri: str) -> Iterator[ListedObject]:
    """Every image object one input URI names (prefix, glob, image file, manifest), listed
    here by one lister (training data discovery, export calibration, counting)."""
    for task in root_tasks([resolve_input(uri)]):
        for found in list_task(task):
            yield from found


def count_images(inputs: Iterable[str], limit: int) -> Optional[int]:
    """How many images the inputs hold, when that is at most `limit`; None when there are
    more (listing stops there: a page or two of a bucket) or they cannot be listed here
    (the run will say why when it lists them)."""
    n = 0
    try:
        for uri in inputs:
            for _obj in list_input(uri):
                n += 1
                if n > limit:
                    return None
    except Exception:  # noqa: BLE001 - only an estimate; listing reports real problems
        return None
    return n
