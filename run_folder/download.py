"""Copy a run's CSV and JSON results (any storage) to a local folder."""

from __future__ import annotations

import os

from bucketscore.run_folder.layout import DOWNLOADED_SUFFIXES, SUCCESS, TEMP_PREFIX
from bucketscore.storage import uris


def download_run(
    run_uri: str, dest: str, beam_args: list[str] | None = None
) -> tuple[list[str], str]:
    """Copy `<run_uri>/*.{csv,json,html}` and `_SUCCESS` to `dest/<run_id>/`.

    Returns (copied relative names, local folder). Storage options (S3 endpoint and keys)
    come from `beam_args` or the environment, as for `score`.
    """
    uris.set_options(beam_args or [])
    run_uri = uris.as_prefix(uris.normalize(run_uri))
    run_id = run_uri.rstrip("/").rsplit("/", 1)[-1]
    local = os.path.join(os.path.abspath(dest), run_id)
    names = sorted(uris.relative_to(m.path, run_uri) for m in uris.list_prefix(run_uri))
    wanted = [
        n
        for n in names
        if TEMP_PREFIX not in n and (n.endswith(DOWNLOADED_SUFFIXES) or n == SUCCESS)
    ]
    for name in wanted:
        target = os.path.join(local, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(uris.read_bytes(uris.join(run_uri, name)))
    return wanted, local
