"""Write the lock file: every package installed in this environment, at its exact version.

    .venv/bin/python .ci/write_constraints.py constraints.txt      (what `make lock` runs)

Run it in the environment the test suite has just passed in: the file then says exactly
what was tested, and `make setup` (pip install -c), `.ci/run`, the container image and so
the Dataflow workers install those versions. bucketscore itself (installed from the
checkout) and the hand-installed dev tools (EXCLUDED) are left out; pip is the installer,
not a dependency. tests/test_constraints.py checks that the installed environment matches.
"""

from __future__ import annotations

import platform
import re
import sys
from importlib import metadata

EXCLUDED = {"bucketscore", "pip", "pyflakes"}


def canonical(name: str) -> str:
    """PEP 503 name: `Foo_Bar.baz` -> `foo-bar-baz`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    """Distribution name (as it spells itself) -> version, first on sys.path wins."""
    found: dict[str, tuple[str, str]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) not in found:
            found[canonical(name)] = (name, dist.version)
    return dict(found.values())


def main(path: str) -> int:
    pins = {
        name: version for name, version in installed().items() if canonical(name) not in EXCLUDED
    }
    header = [
        "# The exact versions the test suite passed with: pip install -c constraints.txt ...",
        f"# Python {platform.python_version()}, {platform.system()} {platform.machine()}. "
        "Written by `make lock` (.ci/write_constraints.py)",
        '# from the environment the suite passed in; how to refresh it: README, "Installs '
        'that match the tests".',
    ]
    lines = [f"{name}=={pins[name]}" for name in sorted(pins, key=canonical)]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(header + lines) + "\n")
    print(f"{path}: {len(lines)} packages pinned")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "constraints.txt"))
