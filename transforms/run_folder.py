"""Make `<output>/<run_id>/` ready for a run: a re-used run id replaces that run completely.

`clear_run_folder` deletes what an earlier run with the same id left (`_SUCCESS` first, so
a half-replaced run never looks complete), and refuses a folder that does not look like a
bucketscore run. An ordinary run calls it at launch (pipelines/score.py); a classic
template, whose run folder is only known when the job runs, calls it from the pipeline
(`PrepareRunFolder`), before anything is listed and so before any result is written.
"""
from __future__ import annotations

import logging
import os
from typing import Iterator

import apache_beam as beam

from storage import uris
from transforms.launch_values import value_of
from transforms.sinks import SUCCESS

log = logging.getLogger(__name__)

RUN_FILES = {"manifest.json", "summary.json", "errors.csv", SUCCESS}
RUN_PREFIXES = ("predictions", "beam-temp")
TEMP_PREFIX = "beam-temp"


class NotARunFolder(ValueError):
    """The run folder holds files that are not a bucketscore run's: never deleted."""


def _top_level_names(run: str) -> dict[str, list[str]]:
    """{first path component below `run`: [object URIs under it]}."""
    out: dict[str, list[str]] = {}
    if uris.is_remote(run):
        for meta in uris.list_prefix(run):
            out.setdefault(uris.relative_to(meta.path, run).split("/", 1)[0], []).append(
                meta.path)
    elif os.path.isdir(run):
        # Local: top-level entries, so that empty temp folders of a killed run count too.
        for name in os.listdir(run):
            out[name] = [m.path for m in uris.list_prefix(os.path.join(run, name))] \
                if os.path.isdir(os.path.join(run, name)) else [os.path.join(run, name)]
    return out


def clear_run_folder(run: str, keep_temp: bool = False) -> int:
    """Delete an earlier run's files under the run folder `run`; returns how many.

    `keep_temp`: leave `beam-temp*` entries (Beam's sinks may already be making theirs
    while a template's pipeline prepares the folder). Raises NotARunFolder for a folder
    holding anything else."""
    names = _top_level_names(run)
    if not names:
        return 0
    looks_like_run = bool(set(names) & RUN_FILES) or any(n.startswith(RUN_PREFIXES)
                                                         for n in names)
    if not looks_like_run:
        raise NotARunFolder(f"{run} exists and is not a bucketscore run folder; refusing to "
                            f"overwrite it (choose another --run_id or --output)")
    log.info("replacing the earlier results in %s", run)
    from apache_beam.io.filesystems import FileSystems

    deleted = 0
    if SUCCESS in names:  # first: from here on the old run is no longer complete
        marker = names.pop(SUCCESS)
        FileSystems.delete(marker)
        deleted += len(marker)
    doomed = [uri for name, found in names.items()
              if not (keep_temp and name.startswith(TEMP_PREFIX)) for uri in found]
    if doomed:
        FileSystems.delete(doomed)
    if not uris.is_remote(run):
        for name in names:  # the now-empty local folders too
            if not (keep_temp and name.startswith(TEMP_PREFIX)):
                uris.remove_empty_dirs(os.path.join(run, name), include_self=True)
    return deleted + len(doomed)


class _ClearFn(beam.DoFn):
    def __init__(self, run_uri):
        self._run_uri = run_uri

    def process(self, _unused) -> Iterator[str]:
        from transforms.sinks import now_iso

        clear_run_folder(value_of(self._run_uri), keep_temp=True)
        yield now_iso()  # when the run started, for its manifest


class PrepareRunFolder(beam.PTransform):
    """PBegin -> one element (the start time, ISO 8601), once the run folder holds nothing
    of an earlier run. `run_uri`: a str or a ValueProvider (a template's launch parameters)."""

    def __init__(self, run_uri):
        super().__init__()
        self._run_uri = run_uri

    def expand(self, pbegin):
        return (pbegin
                | "Once" >> beam.Create([None])
                | "ClearEarlierResults" >> beam.ParDo(_ClearFn(self._run_uri)))
