"""The lock file: constraints.txt says exactly what this environment has installed.

Every requirement of bucketscore[train,test] (as setup.py declares them, which is what
`make setup` installs), followed transitively through the installed packages' metadata, is
pinned there with `==`, and the installed version is the pinned one. Then `make setup`,
`.ci/run` and the container image, which install with `-c constraints.txt`, get the very
versions this suite passes with, and a new release elsewhere cannot change a scheduled run.
"""

from __future__ import annotations

import ast
import os
import re
from importlib import metadata

from packaging.requirements import Requirement

from tests.support.helpers import REPO

LOCK = os.path.join(REPO, "constraints.txt")
EXTRAS = ("train", "test", "torch")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    """constraints.txt as {canonical name: version}; every entry is one exact pin."""
    pins = {}
    with open(LOCK, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            found = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;=<>!~]+)", line)
            assert found, f"constraints.txt:{number}: not an exact pin: {line!r}"
            name = _canonical(found.group(1))
            assert name not in pins, f"constraints.txt:{number}: {name} pinned twice"
            pins[name] = found.group(2)
    return pins


def _setup_requirements() -> list[Requirement]:
    """install_requires and the EXTRAS of setup.py's setup() call, read from the source."""
    with open(os.path.join(REPO, "setup.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    call = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup"
    )
    keywords = {
        k.arg: ast.literal_eval(k.value)
        for k in call.keywords
        if k.arg in ("install_requires", "extras_require")
    }
    texts = list(keywords["install_requires"])
    for extra in EXTRAS:
        texts += keywords["extras_require"][extra]
    return [Requirement(text) for text in texts]


def _applies(req: Requirement, extras: frozenset) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": extra}) for extra in (extras or {""}))


def _closure() -> dict[str, list[Requirement]]:
    """Every distribution those requirements need, transitively (canonical name -> the
    requirements naming it), through the installed packages' own metadata."""
    needed: dict[str, list[Requirement]] = {}
    seen: dict[str, frozenset] = {}
    todo = [(req, frozenset()) for req in _setup_requirements()]
    while todo:
        req, parent_extras = todo.pop()
        if not _applies(req, parent_extras):
            continue
        name, extras = _canonical(req.name), frozenset(req.extras)
        needed.setdefault(name, []).append(req)
        if name in seen and extras <= seen[name]:
            continue
        seen[name] = seen.get(name, frozenset()) | extras
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # reported by the test as not installed
        todo += [(Requirement(text), seen[name]) for text in requires]
    return needed


def test_every_requirement_is_pinned_and_installed_at_its_pin():
    pins = _pins()
    needed = _closure()
    assert len(needed) > 100  # Beam, TensorFlow and the test tools: the whole tree
    unpinned = sorted(set(needed) - set(pins))
    assert not unpinned, f"not in constraints.txt (run `make lock`): {unpinned}"
    wrong = {}
    for name, version in pins.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            assert name not in needed, f"{name} is required but not installed"
            continue  # pinned, but nothing here needs it: no harm
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"installed versions differ from constraints.txt (pin, installed): {wrong}"
    for name, reqs in needed.items():
        for req in reqs:
            assert req.specifier.contains(pins[name], prereleases=True), (str(req), pins[name])


def test_the_lock_leaves_out_bucketscore_and_pins_the_linter():
    pins = _pins()
    assert not {"bucketscore", "pip", "pyflakes"} & set(pins)
    assert "ruff" in pins  # make test runs it: CI must lint with the version that passed


def test_setup_ci_and_the_image_install_with_the_lock():
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as f:
        makefile = f.read()
    assert re.search(r"^LOCK\s*:=\s*constraints\.txt$", makefile, re.M)
    assert re.search(r"^CONSTRAINTS\s*\?=\s*\$\(LOCK\)$", makefile, re.M)
    install = [line for line in makefile.splitlines() if "pip install" in line and "-e " in line]
    assert install and all("-c $(CONSTRAINTS)" in line for line in install), install
    with open(os.path.join(REPO, ".ci", "run"), encoding="utf-8") as f:
        assert re.search(r"^make setup$", f.read(), re.M)  # with the Makefile's default lock
    with open(os.path.join(REPO, "infra", "flex_template", "Dockerfile"), encoding="utf-8") as f:
        dockerfile = re.sub(r"\\\n", " ", f.read())
    assert re.search(r"^COPY (\S+ )*constraints\.txt (\S+ )*\./$", dockerfile, re.M)
    runs = [line for line in dockerfile.splitlines() if line.startswith("RUN ")]
    installs = [part for line in runs for part in line.split("&&") if "pip install" in part]
    assert installs and all("-c constraints.txt" in part for part in installs), installs
