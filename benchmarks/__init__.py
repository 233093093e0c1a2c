"""`make bench`: throughput and memory benchmarks of bucketscore (never part of `make test`)."""


def save_results(folder: str, prefix: str, doc: dict) -> str:
    """Write a benchmark's results as `<folder>/<prefix>-<time>.json`; returns the path."""
    import json
    import os
    import time

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{prefix}-{time.strftime('%Y%m%dT%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    return path
