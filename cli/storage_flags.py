"""The flags a command takes beyond its own: Beam's storage options, and nothing else.

`runs`, `compare`, `download`, `classify`, `export`, `train` and `tune` accept the storage
options of `score` (`--s3_endpoint_url`, `--s3_access_key_id`, `--project`, ...), which are
Beam pipeline options; any other unknown flag is refused, never silently ignored.
"""

from __future__ import annotations

from typing import Sequence

from bucketscore.errors import UsageError
from bucketscore.pipelines.beam_options import unknown_beam_flags
from bucketscore.storage import preflight, uris


def refuse_unknown(extra: Sequence[str]) -> None:
    """UsageError naming every flag that neither the command nor Beam knows."""
    unknown = unknown_beam_flags(list(extra))
    if unknown:
        raise UsageError(f"unknown option(s): {' '.join(unknown)}")


def apply(extra: Sequence[str]) -> None:
    """Refuse unknown flags; hand the storage (Beam) options to the filesystems."""
    refuse_unknown(extra)
    if extra:
        uris.set_options(list(extra))


def check_paths(targets: Sequence[preflight.Target], extra: Sequence[str]) -> None:
    """Refuse unknown flags, then preflight the command's paths (storage.preflight)."""
    refuse_unknown(extra)
    preflight.check_targets(targets, extra)
