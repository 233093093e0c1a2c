"""Preflight: the paths a command was given, checked before anything heavy starts.

A command (or a run's plan) calls `check_targets(targets, beam_args)` once its own flags are
checked and before it reads a bundle, builds a graph or imports TensorFlow. In order:

1. form: every path is a local path, `s3://bucket/...` or `gs://bucket/...` (`score
   --input` also takes `manifest:URI`); anything else (`s3:/x`, `S3://`, `ftp://`,
   `http://`) is refused, naming the accepted forms;
2. local paths the command reads must exist (a single image file is a valid input);
3. each bucket path gets one cheap request (storage/probe.py: list one object, short
   timeouts, transient failures retried for a few seconds only): wrong credentials, no
   such bucket, access denied or an unreachable endpoint are reported with the bucket and
   the cause; an input or a file that must be there but is not is reported too.

A failure raises UsageError: one line, exit 2, no traceback, and nothing written (no run
folder). Local paths that `runs`, `compare`, `download` and `score --model` check
themselves, with their own messages, are left to them. `form_error` is also what option
parsing uses to refuse a malformed URI before it is made absolute.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional, Sequence

from bucketscore.errors import UsageError
from bucketscore.storage import uris
from bucketscore.storage.listing import split_input
from bucketscore.storage.probe import Probe, probe

ACCEPTED = "a local path, s3://bucket/prefix or gs://bucket/prefix"
MANIFEST = "manifest:"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


@dataclass(frozen=True)
class Target:
    """One path on a command line and what the command needs of it."""

    flag: str  # as the user gave it: "--input", "RUN_A"
    uri: str
    must_exist: bool = False  # local: exists; bucket: an object at or below it
    exact: bool = False  # with must_exist, in a bucket: that very object (a file)
    shown: str = ""  # how the value was typed, when it is more than the path

    @property
    def given(self) -> str:
        return f"{self.flag} {self.shown or self.uri}"


def form_error(uri: str) -> Optional[str]:
    """Why `uri` is no path bucketscore reads, or None when it is one."""
    if uri.startswith(uris.REMOTE_SCHEMES):
        if not uri.split("://", 1)[1].split("/", 1)[0]:
            return f"no bucket name; use {ACCEPTED}"
        return None
    found = _SCHEME.match(uri)
    if not found or len(found.group(1)) == 1:  # one letter: a Windows drive, C:/...
        return None
    scheme = found.group(1)
    hint = ""
    if scheme.lower() in ("s3", "gs"):
        rest = uri[len(scheme) + 1 :].lstrip("/")
        hint = f" (did you mean {scheme.lower()}://{rest}?)"
    return f"not a local path or a bucket URI{hint}; use {ACCEPTED}"


def check_targets(targets: Sequence[Target], beam_args: Sequence[str]) -> None:
    """Check forms, then local paths, then buckets (one request each); the first problem
    raises UsageError."""
    targets = [t for t in targets if t.uri]
    for t in targets:
        problem = form_error(t.uri)
        if problem:
            raise UsageError(f"{t.given}: {problem}")
    for t in targets:
        if t.must_exist and not uris.is_remote(t.uri):
            base = split_input(t.uri)[0] if uris.has_glob(t.uri) else t.uri
            if not os.path.exists(os.path.expanduser(base)):
                raise UsageError(f"{t.given}: no such file or folder")
    remote = [t for t in targets if uris.is_remote(t.uri)]
    settings = s3_settings(beam_args) if any(t.uri.startswith("s3://") for t in remote) else {}
    answers: dict[str, Probe] = {}
    for t in remote:
        # A glob is listed from its base: the bucket must answer, matches are the run's.
        where = split_input(t.uri)[0] if uris.has_glob(t.uri) else t.uri
        if where not in answers:
            answers[where] = probe(where, settings)
        answer = answers[where]
        if not answer.ok:
            raise UsageError(f"{t.given}: bucket {answer.bucket}: {answer.problem}")
        if t.must_exist and not uris.has_glob(t.uri):
            if t.exact and answer.first != t.uri:
                raise UsageError(f"{t.given}: no such object in bucket {answer.bucket}")
            if not answer.first:
                empty_ok = "; --allow_empty accepts an empty input" if t.flag == "--input" else ""
                raise UsageError(
                    f"{t.given}: nothing there (no object at or below it in "
                    f"bucket {answer.bucket}{empty_ok})"
                )


def s3_settings(beam_args: Sequence[str]) -> dict:
    """The `--s3_*` options of these Beam flags by name, as Beam's S3 filesystem reads
    them (unset ones are None: boto3 then uses the AWS_* variables and profiles)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(list(beam_args)).get_all_options()
    return {name: value for name, value in options.items() if name.startswith("s3_")}
