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

# Beam's storage options (S3Options, GoogleCloudOptions' project and credentials,
# AzureOptions, HadoopFileSystemOptions) start so; any other flag is refused without
# loading Beam's option parser (a second or more), so a typo is refused at once.
STORAGE_PREFIXES = (
    "s3_",
    "gcs_",
    "gcp_",
    "azure_",
    "blob_",
    "hdfs_",
    "project",
    "impersonate_service_account",
    "service_account_email",
    "no_auth",
    "enable_gcsio_",
    "no_gcsio_",
    "enable_bucket_",
)


def not_storage_options(extra: Sequence[str]) -> list[str]:
    """The flags of `extra` that cannot be storage options (by their names)."""
    return [
        f for f in extra if f.startswith("-") and not f.lstrip("-").startswith(STORAGE_PREFIXES)
    ]


def refuse_unknown(extra: Sequence[str]) -> None:
    """UsageError naming every flag that neither the command nor Beam's storage options
    know."""
    unknown = not_storage_options(extra)
    if not unknown and any(f.startswith("-") for f in extra):
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
