"""The state incremental runs build on, kept beside the runs in the results prefix.

* `<run>/objects-*.parquet`: `uri, size, mtime` of every image a run listed (written by the
  pipeline; schema in run_folder.schemas.OBJECTS_SCHEMA);
* `<output>/_state/<model_version>.json`: `{"run_id": ...}` of the last *completed* run with
  that model version, written after `_SUCCESS`, so a run that died never becomes the base
  of the next one.
"""

from __future__ import annotations

import json
from typing import Optional

from bucketscore.run_folder import layout
from bucketscore.storage import uris


def pointer_uri(output: str, model_version: str) -> str:
    return uris.join(output, layout.STATE_DIR, f"{model_version}.json")


def write_pointer(output: str, model_version: str, run_id: str, finished_at: str) -> None:
    uris.write_text(
        pointer_uri(output, model_version),
        json.dumps({"run_id": run_id, "finished_at": finished_at}) + "\n",
        "application/json",
    )


def last_completed_run(output: str, model_version: str) -> Optional[str]:
    """The run folder URI of the last completed run with this model version, or None."""
    pointer = pointer_uri(output, model_version)
    if not uris.exists(pointer):
        return None
    try:
        run_id = json.loads(uris.read_text(pointer))["run_id"]
    except (ValueError, KeyError):
        return None
    run = layout.run_uri(output, run_id)
    # The pointer is written after _SUCCESS; still, never build on a folder without it.
    if not uris.exists(layout.file_uri(run, layout.SUCCESS)):
        return None
    return run
