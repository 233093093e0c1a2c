"""Whole pipelines (options, `build_pipeline`, `run`) and the `bucketscore` command line."""
