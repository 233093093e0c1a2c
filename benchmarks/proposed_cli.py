"""`bucketscore` with the issue-4 wiring applied in-process, for measuring it before it is merged.

The wiring proposed for pipelines/score.py (see benchmarks/README.md, "Wiring"):
  * read with transforms.concurrent_reading.ConcurrentReadImageBytes instead of ReadImageBytes;
  * pipelines.runtime_defaults.apply(config) at the start of `start()` (workers, threads), and
  * beam.Pipeline(runner=runtime_defaults.make_runner(options), ...), and
  * pipelines/options.py: --batch_size defaults to runtime_defaults.DEFAULT_BATCH_SIZE (8),
    not 64 (applied here by adding --batch_size 8 when the command line has none and the
    parser's default is still 64).
When pipelines/score.py already does all of this, nothing is patched and this is exactly
`bucketscore`. Usage: python -m benchmarks.proposed_cli score --input ... (as bucketscore).
"""
from __future__ import annotations

import inspect
import sys
import types


def is_wired() -> bool:
    import pipelines.score as score

    src = inspect.getsource(score)
    return ("ConcurrentReadImageBytes" in src and "runtime_defaults.apply" in src
            and "make_runner" in src)


def patch() -> bool:
    """Apply the proposed wiring to pipelines.score; False when it is already there."""
    import apache_beam as beam

    import pipelines.score as score
    from pipelines import runtime_defaults
    from transforms.concurrent_reading import ConcurrentReadImageBytes

    if is_wired():
        return False
    score.ReadImageBytes = ConcurrentReadImageBytes  # build_pipeline reads the module global

    class _Beam(types.ModuleType):
        def __getattr__(self, name):
            return getattr(beam, name)

    def pipeline(*args, **kwargs):
        if "runner" not in kwargs and not args:
            kwargs["runner"] = runtime_defaults.make_runner(kwargs["options"])
        return beam.Pipeline(*args, **kwargs)

    proxy = _Beam("apache_beam")
    proxy.Pipeline = pipeline
    score.beam = proxy
    original_start = score.start

    def start(config, *args, **kwargs):
        from model_export.bundle import read_meta
        from model_export.predictor import choose_backend
        from storage import uris

        uris.set_options(config.pipeline_options())
        backend = choose_backend(read_meta(config.model), config.backend)
        config, plan = runtime_defaults.apply(config, backend)
        print(runtime_defaults.describe(plan), flush=True)
        return original_start(config, *args, **kwargs)

    score.start = start
    return True


def batch_size_default() -> int:
    import argparse

    from pipelines.options import add_score_arguments

    parser = argparse.ArgumentParser()
    add_score_arguments(parser)
    return parser.get_default("batch_size")


def main() -> int:
    from pipelines.runtime_defaults import DEFAULT_BATCH_SIZE

    patched = patch()
    argv = sys.argv[1:]
    if (argv[:1] == ["score"] and not any(a.startswith("--batch_size") for a in argv)
            and batch_size_default() != DEFAULT_BATCH_SIZE):
        argv += ["--batch_size", str(DEFAULT_BATCH_SIZE)]
        patched = True
    print(f"benchmarks.proposed_cli: {'patched' if patched else 'already wired'}", flush=True)
    from pipelines.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
