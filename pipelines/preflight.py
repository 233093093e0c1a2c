"""Preflight: the paths a command was given, checked before anything heavy starts.

Each command's `run()` calls `check(NAME, args, beam_args)` once its own flags are checked
and before it reads a bundle, builds a graph or imports TensorFlow. In order:

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
themselves, with their own messages, are left to them.
"""
from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from bucketscore.pipelines.validators import UsageError
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
        rest = uri[len(scheme) + 1:].lstrip("/")
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
                raise UsageError(f"{t.given}: nothing there (no object at or below it in "
                                 f"bucket {answer.bucket}{empty_ok})")


def s3_settings(beam_args: Sequence[str]) -> dict:
    """The `--s3_*` options of these Beam flags by name, as Beam's S3 filesystem reads
    them (unset ones are None: boto3 then uses the AWS_* variables and profiles)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(list(beam_args)).get_all_options()
    return {name: value for name, value in options.items() if name.startswith("s3_")}


# --------------------------------------------------------------------------------------
# What each command checks
# --------------------------------------------------------------------------------------
def score_targets(args: argparse.Namespace) -> list[Target]:
    """Inputs must exist (in a bucket: hold something, unless --allow_empty); the output,
    the model and a labels CSV must be reachable (the launcher checks the bundle)."""
    out = []
    for uri in args.input or ():
        if uri.startswith(MANIFEST):
            out.append(Target("--input", uri[len(MANIFEST):], must_exist=True, exact=True,
                              shown=uri))
        else:
            out.append(Target("--input", uri, must_exist=not args.allow_empty or
                              not uris.is_remote(uri)))
    out.append(Target("--output", args.output or ""))
    out.append(Target("--model", args.model or ""))
    labels = args.labels or ""
    if labels.startswith("csv:"):
        out.append(Target("--labels", labels[len("csv:"):], shown=labels))
    return out


def runs_targets(args: argparse.Namespace) -> list[Target]:
    return [Target("--output", args.output)]


def compare_targets(args: argparse.Namespace) -> list[Target]:
    return [Target("RUN_A", args.run_a), Target("RUN_B", args.run_b)]


def download_targets(args: argparse.Namespace) -> list[Target]:
    return [Target("RUN_URI", args.run)]


def export_targets(args: argparse.Namespace) -> list[Target]:
    return [Target("--keras", args.keras or "", must_exist=True, exact=True),
            Target("--saved_model", args.saved_model or "", must_exist=True),
            Target("--onnx", getattr(args, "onnx_file", None) or "", must_exist=True,
                   exact=True),
            Target("--labels", args.labels, must_exist=True, exact=True),
            Target("--calibration", args.calibration or "", must_exist=True),
            Target("--out", args.out)]


def train_targets(args: argparse.Namespace) -> list[Target]:
    weights = args.base_weights or ""
    return [Target("--data", args.data, must_exist=True),
            Target("--labels_csv", args.labels_csv or "", must_exist=True, exact=True),
            Target("--from", getattr(args, "from_bundle", None) or "", must_exist=True),
            Target("--base_weights", "" if weights == "imagenet" else weights,
                   must_exist=True, exact=True),
            Target("--out", args.out)]


def classify_targets(args: argparse.Namespace) -> list[Target]:
    """The bundle (its bucket); each image's own problem is that image's error line."""
    return [Target("--model", args.model)]


TARGETS: dict[str, Callable[[argparse.Namespace], list[Target]]] = {
    "score": score_targets, "runs": runs_targets, "compare": compare_targets,
    "download": download_targets, "export": export_targets, "train": train_targets,
    "tune": train_targets, "classify": classify_targets,
}


def check(command: str, args: argparse.Namespace, beam_args: Sequence[str]) -> None:
    """Preflight for `bucketscore COMMAND`: raises UsageError on the first problem."""
    check_targets(TARGETS[command](args), beam_args)


def check_command(command: str, args: argparse.Namespace, beam_args: Sequence[str]) -> None:
    """For commands whose only extra flags are storage options (runs, compare, download):
    refuse a flag neither the command nor Beam knows, then `check`."""
    from bucketscore.pipelines.beam_options import unknown_beam_flags

    unknown = unknown_beam_flags(list(beam_args))
    if unknown:
        raise UsageError(f"unknown option(s): {' '.join(unknown)}")
    check(command, args, beam_args)
