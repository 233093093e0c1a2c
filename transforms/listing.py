"""List the images to score, streaming, with the listing itself spread over the workers.

    None -> PlanListing -> [Reshuffle -> ExpandTasks] x (rounds - 1) -> Reshuffle -> ListObjects

`PlanListing` turns the inputs into listing tasks (storage/listing.py) and explores each
once; every further round spreads the tasks over the workers (Reshuffle) and explores them
again (sub-prefixes become tasks, flat prefixes are cut into key ranges); `ListObjects`
lists each task a page at a time and emits its images at once. Nothing after it waits for
the listing to end (no shuffle between listing and reading: the first images are read and
scored while other tasks are still being listed), and no step holds the listing in
memory. The work after listing is spread as the tasks are.

Listing happens in the pipeline, so a template or a scheduled job lists at run time.
Overlapping prefixes and globs need no dedupe step (storage/listing.py: each object is
kept by the input whose base sorts first, by a test on its URI); manifests, which may name
an image twice or name one a prefix also lists, go through a keyed dedupe step (by URI).
"""

from __future__ import annotations

from typing import Iterator, Optional

import apache_beam as beam
from apache_beam.options.value_provider import ValueProvider

from bucketscore.storage import manifests
from bucketscore.storage.listing import (
    MANIFEST,
    PLANNING_ROUNDS,
    ListTask,
    expand,
    resolve_inputs,
    root_tasks,
)
from bucketscore.transforms import counters
from bucketscore.transforms.launch_values import LaunchValueError, value_of
from bucketscore.transforms.per_image import keep_one, listed_pages, normalize_input
from bucketscore.transforms.records import ListedImage


def has_manifest(inputs) -> bool:
    """Whether these inputs (a list; a ValueProvider: not known yet) include a manifest."""
    return isinstance(inputs, (list, tuple)) and any(manifests.is_manifest(u) for u in inputs)


class _PlanListingFn(beam.DoFn):
    """None -> the listing tasks of every input, each explored once when `explore`.

    `inputs`: a list, or a ValueProvider of one, read when the job runs (a template lists
    the inputs given at its launch)."""

    def __init__(self, inputs, explore: bool, manifests_allowed: bool):
        self._inputs = inputs
        self._explore = explore
        self._manifests_allowed = manifests_allowed

    def process(self, _unused, *_after) -> Iterator[ListTask]:
        inputs = [normalize_input(u) for u in value_of(self._inputs)]
        specs = resolve_inputs(inputs)
        if not self._manifests_allowed and any(s.kind == MANIFEST for s in specs):
            raise LaunchValueError(
                "manifest: inputs cannot be given to a classic template "
                "at launch; use the Flex Template (infra/) or a run"
            )
        for task in root_tasks(specs):
            yield from (expand(task) if self._explore else [task])


class _ExpandTasksFn(beam.DoFn):
    """ListTask -> the smaller tasks it is made of (one planning round)."""

    def process(self, task: ListTask) -> Iterator[ListTask]:
        yield from expand(task)


class _ListObjectsFn(beam.DoFn):
    """ListTask -> ListedImage for every image it names, as its pages arrive; counted."""

    def __init__(self):
        self._listed = counters.counter("listed")
        self._bytes = counters.counter("bytes_listed")

    def process(self, task: ListTask) -> Iterator[ListedImage]:
        for page in listed_pages(task):
            self._listed.inc(len(page))
            self._bytes.inc(sum(int(i.size or 0) for i in page))
            yield from page


class ListImages(beam.PTransform):
    """PBegin -> PCollection[ListedImage]: each image once, even if inputs overlap.

    `inputs`: URIs, or a ValueProvider of a list of URIs (transforms.launch_values).
    `after`: an optional PCollection that must be complete before anything is listed
    (a template's run folder preparation: every stage that writes comes after listing).
    `rounds`: planning rounds (0: one lister per input, no planning; None: PLANNING_ROUNDS).
    """

    def __init__(self, inputs, after=None, rounds: Optional[int] = PLANNING_ROUNDS):
        super().__init__()
        if not isinstance(inputs, ValueProvider):
            inputs = [normalize_input(u) for u in inputs]
        self._inputs = inputs
        self._after = after
        self._rounds = PLANNING_ROUNDS if rounds is None else max(0, int(rounds))
        self._dedupe = has_manifest(inputs)

    def expand(self, pbegin):
        after = [] if self._after is None else [beam.pvalue.AsList(self._after)]
        tasks = (
            pbegin
            | "Once" >> beam.Create([None])
            | "PlanListing"
            >> beam.ParDo(
                _PlanListingFn(
                    self._inputs, self._rounds > 0, not isinstance(self._inputs, ValueProvider)
                ),
                *after,
            )
        )
        for r in range(1, self._rounds):
            tasks = (
                tasks
                | f"SpreadTasks{r}" >> beam.Reshuffle()
                | f"ExpandTasks{r}" >> beam.ParDo(_ExpandTasksFn())
            )
        images = (
            tasks
            | "SpreadListing" >> beam.Reshuffle()
            | "ListObjects" >> beam.ParDo(_ListObjectsFn())
        )
        if not self._dedupe:
            return images
        return (
            images
            | "KeyByUri" >> beam.Map(lambda image: (image.uri, image))
            | "GroupByUri" >> beam.GroupByKey()
            | "KeepOne" >> beam.MapTuple(keep_one)
        )
