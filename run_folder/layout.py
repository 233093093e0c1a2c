"""What a run folder `<output>/<run_id>/` holds, by name, and how a re-used one is cleared.

Every module that writes or reads a run takes its file names from here. `clear_run_folder`
deletes what an earlier run with the same id left (`_SUCCESS` first, so a half-replaced
run never looks complete) and refuses a folder that does not look like a bucketscore run.
It leaves `_LEASE` alone: that is the lease of the run doing the clearing (run_folder/lease.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets

from bucketscore.storage import uris
from bucketscore.storage.errors import retry_budget

log = logging.getLogger(__name__)

# File names (prefixes of sharded files) in a run folder.
PREDICTIONS = "predictions"  # predictions-*.csv, predictions-*.parquet
# An --incremental run's rows carried over from its base run: predictions-carried-*.csv|parquet
CARRIED_PREDICTIONS = f"{PREDICTIONS}-carried"
ERRORS = "errors"  # errors.csv
EMBEDDINGS = "embeddings"  # embeddings-*.parquet
OBJECTS = "objects"  # objects-*.parquet: what --incremental compares with
SUMMARY = "summary.json"
PER_CLASS = "per_class.csv"
CONFUSION = "confusion_matrix.csv"
SUSPECTS = "suspect_labels.csv"  # run_folder/suspects.py
DUPLICATES = "duplicates.csv"  # run_folder/duplicates.py
REPORT = "report.html"
MANIFEST = "manifest.json"
SUCCESS = "_SUCCESS"  # written last: a folder without it is not a finished run
# The running run's lease (run_folder/lease.py): never cleared, never a result, gone at the end
LEASE = "_LEASE"
ERRORS_CSV = f"{ERRORS}.csv"
TEMP_PREFIX = "beam-temp"  # Beam's file sinks write their temporary files here
STATE_DIR = "_state"  # beside the runs: <output>/_state/<model_version>.json

RUN_FILES = {MANIFEST, SUMMARY, ERRORS_CSV, SUCCESS}
RUN_PREFIXES = (PREDICTIONS, TEMP_PREFIX)
CLEANUP_RETRY_SECONDS = 10  # after a failure, storage may be what failed: do not wait long
# Files a person downloads to look at a run (bucketscore download).
DOWNLOADED_SUFFIXES = (".csv", ".json", ".html")


class NotARunFolder(ValueError):
    """The run folder holds files that are not a bucketscore run's: never deleted."""


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a short random suffix."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def now_iso() -> str:
    """Now, UTC, ISO 8601 to the second: the times in manifest.json and _SUCCESS."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_uri(output: str, run_id: str) -> str:
    """The run folder <output>/<run_id>/."""
    return uris.as_prefix(uris.join(output, run_id))


def file_uri(run: str, name: str) -> str:
    return uris.join(run, name)


def looks_like_run(names: set[str]) -> bool:
    """Whether a folder holding these top-level names is a bucketscore run folder."""
    return bool(names & RUN_FILES) or any(n.startswith(RUN_PREFIXES) for n in names)


def _top_level_names(run: str) -> dict[str, list[str]]:
    """{first path component below `run`: [object URIs under it]}."""
    out: dict[str, list[str]] = {}
    if uris.is_remote(run):
        for meta in uris.list_prefix(run):
            out.setdefault(uris.relative_to(meta.path, run).split("/", 1)[0], []).append(meta.path)
    elif os.path.isdir(run):
        # Local: top-level entries, so that empty temp folders of a killed run count too.
        for name in os.listdir(run):
            out[name] = (
                [m.path for m in uris.list_prefix(os.path.join(run, name))]
                if os.path.isdir(os.path.join(run, name))
                else [os.path.join(run, name)]
            )
    return out


def clear_run_folder(run: str, keep_temp: bool = False) -> int:
    """Delete an earlier run's files under the run folder `run`; returns how many.

    `keep_temp`: leave `beam-temp*` entries (Beam's sinks may already be making theirs
    while a template's pipeline prepares the folder). Raises NotARunFolder for a folder
    holding anything else. The lease (`_LEASE`, and the `_LEASE.*` files a local renewal
    makes for an instant) is the clearing run's own: kept, and not what makes a folder a
    run folder (it is written before this check)."""
    names = {n: found for n, found in _top_level_names(run).items() if not n.startswith(LEASE)}
    if not names:
        return 0
    if not looks_like_run(set(names)):
        raise NotARunFolder(
            f"{run} exists and is not a bucketscore run folder; refusing to "
            f"overwrite it (choose another --run_id or --output)"
        )
    log.info("replacing the earlier results in %s", run)
    deleted = 0
    if SUCCESS in names:  # first: from here on the old run is no longer complete
        marker = names.pop(SUCCESS)
        uris.delete(marker)
        deleted += len(marker)
    doomed = [
        uri
        for name, found in names.items()
        if not (keep_temp and name.startswith(TEMP_PREFIX))
        for uri in found
    ]
    uris.delete(doomed)
    if not uris.is_remote(run):
        for name in names:  # the now-empty local folders too
            if not (keep_temp and name.startswith(TEMP_PREFIX)):
                uris.remove_empty_dirs(os.path.join(run, name), include_self=True)
    return deleted + len(doomed)


def remove_temp(run: str) -> int:
    """Delete what Beam's file sinks left under the run folder (`beam-temp*`) after a
    failed run; returns how many entries. Best effort: storage may be what failed."""
    with retry_budget(CLEANUP_RETRY_SECONDS):
        try:
            names = _top_level_names(run)
        except Exception as e:  # noqa: BLE001 - the run has failed already; say why, go on
            log.warning("could not list %s to remove temporary files: %s", run, e)
            return 0
        removed = 0
        for name, found in names.items():
            if not name.startswith(TEMP_PREFIX):
                continue
            try:
                uris.delete(found)
                if not uris.is_remote(run):
                    uris.remove_empty_dirs(os.path.join(run, name), include_self=True)
                removed += 1
            except Exception as e:  # noqa: BLE001
                log.warning("could not remove %s: %s", name, e)
    return removed
