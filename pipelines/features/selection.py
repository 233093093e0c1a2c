"""`--exclude`, `--sample`, `--limit`: score part of what the inputs list.

* `--exclude GLOB ...`: images whose path below their input (or whose whole URI) matches a
  glob are left out (`'*/thumbs/*'`, `'2026-11-0?/*'`); fnmatch rules, `*` crosses folders;
* `--sample N`: N images picked by a hash of their URI (sha256): the same N at every rerun
  over the same listing, spread over the whole listing whatever its order;
* `--limit N`: the first N images in URI order.

The listing still covers the inputs (a labels CSV is checked against all of it); the run
then covers the selected images only: `counts.listed` in summary.json is how many were
selected, and `selection` says how many were listed, excluded and selected, and how. A
sample or a limit waits for the whole listing (the N are known only then); an exclusion
does not. Not with --incremental (the next run would build on part of the inputs).
"""

from __future__ import annotations

from bucketscore.errors import UsageError
from bucketscore.pipelines.flags import option
from bucketscore.pipelines.validators import positive_int
from bucketscore.storage.selection import sample_key

EXCLUDE = option(
    "exclude",
    (),
    nargs="+",
    metavar="GLOB",
    convert=tuple,
    record=list,
    help="leave out images whose path below their input, or whole URI, matches one of these "
    "globs ('*/thumbs/*', 'raw/*.tif'; * crosses folders)",
)
SAMPLE = option(
    "sample",
    None,
    type=positive_int,
    metavar="N",
    help="score N images picked by a hash of their URI: the same N at every rerun (a quick "
    "look at a big bucket); summary.json says of how many",
)
LIMIT = option(
    "limit",
    None,
    type=positive_int,
    metavar="N",
    help="score the first N images in URI order; summary.json says of how many",
)


def check(config) -> None:
    """The options alone: one of --sample and --limit; neither with --incremental."""
    if config.sample and config.limit:
        raise UsageError("--sample and --limit each choose the images to score: give one")
    if (config.sample or config.limit) and config.incremental:
        raise UsageError(
            f"--{'sample' if config.sample else 'limit'} cannot be combined with --incremental: "
            "the next run would build on a part of the inputs"
        )


def check_bundle(config, meta) -> None:
    """Nothing needs checking against the bundle."""


def active(config) -> bool:
    return bool(config.exclude or config.sample or config.limit)


def describe(config) -> str:
    parts = []
    if config.exclude:
        parts.append(f"excluding {', '.join(config.exclude)}")
    if config.sample:
        parts.append(f"a sample of {config.sample:,} (by URI hash)")
    if config.limit:
        parts.append(f"the first {config.limit:,} in URI order")
    return "; ".join(parts)


def select(listed, plan):
    """ListedImage -> (the selected images, a one-element collection: the `selection`
    record of summary.json), or (listed, None) without --exclude/--sample/--limit."""
    config = plan.config
    if not active(config):
        return listed, None
    import apache_beam as beam

    from bucketscore.transforms.selection import KeepFirst, LeaveOut

    kept = listed
    if config.exclude:
        kept = listed | "ExcludeImages" >> beam.ParDo(LeaveOut(config.exclude))
    if config.sample:
        kept = kept | "SampleImages" >> KeepFirst(config.sample, key=sample_key)
    elif config.limit:
        kept = kept | "LimitImages" >> KeepFirst(config.limit, key=None)
    total = listed | "CountAllListed" >> beam.combiners.Count.Globally()
    chosen = kept | "CountSelected" >> beam.combiners.Count.Globally()
    selection_record = (
        listed.pipeline
        | "SelectionOnce" >> beam.Create([None])
        | "Selection"
        >> beam.Map(
            _record,
            config,
            total=beam.pvalue.AsSingleton(total),
            chosen=beam.pvalue.AsSingleton(chosen),
        )
    )
    return kept, selection_record


def record(config, total: int, chosen: int) -> dict:
    """summary.json's `selection`: how many were listed and selected, and how."""
    how = {"exclude": list(config.exclude), "sample": config.sample, "limit": config.limit}
    return {"listed": total, "selected": chosen, **{k: v for k, v in how.items() if v}}


def _record(_unused, config, total: int, chosen: int) -> dict:
    return record(config, total, chosen)
