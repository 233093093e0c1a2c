"""The house rules of the code, checked by parsing every import (those inside functions too).

* One import name: nothing imports `pipelines`, `transforms`, `storage`, `model_export`,
  `bundle`, `cli` or `run_folder` bare, in code, tests, benchmarks or infra (Dockerfile
  included).
* Layers point one way: errors/private_apis <- storage <- run_folder <- bundle <-
  model_export | transforms <- pipelines <- cli; a module imports only from its own layer or
  those before it, and model_export and transforms (the same layer) never import each other.
* Scoring never imports model_export (what writes bundles, the `train` extra's home): not
  bundle, transforms, pipelines, nor the commands that score, classify or read runs.
* No import cycle between modules.
* run_folder and bundle never import Beam; only pipelines and cli import pipelines, only cli
  imports cli.
* `import bucketscore.cli.main` and `bucketscore --help` load no Beam, TensorFlow or
  Pillow.

The allow-list of exceptions is empty and must stay so.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest

from tests.support.helpers import REPO

# Folder on disk -> package name (as setup.py maps them).
PACKAGES = {
    "bucketscore": "bucketscore",
    "storage": "bucketscore.storage",
    "run_folder": "bucketscore.run_folder",
    "bundle": "bucketscore.bundle",
    "model_export": "bucketscore.model_export",
    "transforms": "bucketscore.transforms",
    "pipelines": "bucketscore.pipelines",
    "cli": "bucketscore.cli",
}
OUTSIDE = ("tests", "benchmarks", "infra")
BARE = ("pipelines", "transforms", "storage", "model_export", "run_folder", "bundle", "cli")
# Layer of each package (and of the root's own modules); a module may import its own layer
# and any lower one. model_export and transforms share layer 4 and may not import each other.
# The package's own __init__ is the facade (`bucketscore.score` is imported from it on
# first use): the top layer; its modules have their own.
LAYER = {
    "bucketscore": 7,
    "bucketscore.errors": 0,
    "bucketscore.private_apis": 0,
    "bucketscore.storage": 1,
    "bucketscore.run_folder": 2,
    "bucketscore.bundle": 3,
    "bucketscore.model_export": 4,
    "bucketscore.transforms": 4,
    "bucketscore.pipelines": 5,
    "bucketscore.results": 5,
    "bucketscore.cli": 6,
    "bucketscore.api": 6,
}
SIBLINGS = [
    ("bucketscore.model_export", "bucketscore.transforms"),
    ("bucketscore.transforms", "bucketscore.model_export"),
]
# What writes bundles (training, tuning, export, the demo) and the commands that do it:
# the only places that may import bucketscore.model_export.
MAY_IMPORT_MODEL_EXPORT = (
    "bucketscore.model_export",
    "bucketscore.cli.commands.export",
    "bucketscore.cli.commands.train",
    "bucketscore.cli.commands.tune",
    "bucketscore.cli.commands.demo",
    "bucketscore.cli.commands.quantize",
    "bucketscore.cli.commands.model_flags",
)
ALLOWED: set[tuple[str, str]] = set()  # (importer, imported): empty, and it stays empty


def _python_files(top: str):
    for root, dirs, files in os.walk(os.path.join(REPO, top)):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "results", "work")]
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(root, name)


def module_name(path: str) -> str:
    rel = os.path.relpath(path, REPO)[:-3].split(os.sep)
    if rel[-1] == "__init__":
        rel = rel[:-1]
    top = PACKAGES.get(rel[0])
    return ".".join([top] + rel[1:]) if top else ".".join(rel)


def imports_of(path: str) -> list[tuple[str, int]]:
    """Every module named by an import statement (at any depth) or import_module("...")."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, node.lineno))
            # `from bucketscore.x import y` may name the module bucketscore.x.y
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], (ast.Constant, ast.JoinedStr))
        ):
            arg = node.args[0]
            text = (
                arg.value
                if isinstance(arg, ast.Constant)
                else "".join(v.value for v in arg.values if isinstance(v, ast.Constant))
            )
            found.append((str(text).rstrip("."), node.lineno))
    return found


def project_modules() -> dict[str, str]:
    return {module_name(p): p for top in PACKAGES for p in _python_files(top)}


def _layer(module: str):
    best = None
    for prefix, layer in LAYER.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer)
    return best


def _resolve(name: str, modules: dict) -> str | None:
    """The project module an imported name refers to (or None: not ours / a symbol)."""
    return name if name in modules else None


def test_no_bare_top_level_imports_anywhere():
    pattern = re.compile(rf"^\s*(from|import)\s+({'|'.join(BARE)})\b", re.M)
    offenders = []
    for top in list(PACKAGES) + list(OUTSIDE):
        for path in _python_files(top):
            for name, line in imports_of(path):
                if name.split(".")[0] in BARE:
                    offenders.append(f"{os.path.relpath(path, REPO)}:{line}: {name}")
    for path in [
        os.path.join(REPO, "infra", "flex_template", "Dockerfile"),
        os.path.join(REPO, "Makefile"),
    ]:
        text = open(path, encoding="utf-8").read()
        offenders += [
            f"{os.path.relpath(path, REPO)}: {m.group(0).strip()}" for m in pattern.finditer(text)
        ]
        offenders += [
            f"{os.path.relpath(path, REPO)}: import {m.group(1)}"
            for m in re.finditer(rf"import ({'|'.join(BARE)})\b", text)
        ]
    assert not offenders, "bare imports (use bucketscore.*):\n" + "\n".join(offenders)


def test_layers_point_one_way():
    modules = project_modules()
    wrong = []
    for module, path in modules.items():
        mine = _layer(module)
        assert mine is not None, f"{module} belongs to no layer: add it to LAYER"
        for name, line in imports_of(path):
            target = _resolve(name, modules)
            if target is None or (module, target) in ALLOWED:
                continue
            theirs = _layer(target)
            if theirs[1] > mine[1] or (mine[0], theirs[0]) in SIBLINGS:
                wrong.append(
                    f"{module} ({mine[0]}, layer {mine[1]}) imports {target} "
                    f"({theirs[0]}, layer {theirs[1]}) at line {line}"
                )
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)
    assert not ALLOWED


def test_scoring_never_imports_model_export():
    """A worker installs the core package only: nothing it runs, and nothing `score`,
    `classify`, `runs`, `compare` or `download` runs, may need the `train` extra."""
    modules = project_modules()
    scoring = [
        m
        for m in modules
        if not m.startswith(MAY_IMPORT_MODEL_EXPORT) and m != "bucketscore.cli.main"
    ]  # main imports every command by name
    assert "bucketscore.cli.commands.score" in scoring
    assert "bucketscore.cli.commands.classify" in scoring
    wrong = [
        f"{m}:{line} imports {name}"
        for m in scoring
        for name, line in imports_of(modules[m])
        if name == "bucketscore.model_export" or name.startswith("bucketscore.model_export.")
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    modules = project_modules()
    graph = {
        m: sorted({t for n, _l in imports_of(p) if (t := _resolve(n, modules)) and t != m})
        for m, p in modules.items()
    }
    # Tarjan's strongly connected components.
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            # A package importing its own submodules (`from pkg import mod`) is not a cycle.
            real = [c for c in comp if not any(o.startswith(c + ".") for o in comp)]
            if len(real) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_run_folder_and_bundle_never_import_beam_and_the_top_is_imported_from_above():
    modules = project_modules()
    wrong = []
    for module, path in modules.items():
        for name, line in imports_of(path):
            if module.startswith(
                ("bucketscore.run_folder", "bucketscore.bundle")
            ) and name.startswith("apache_beam"):
                wrong.append(f"{module}:{line} imports {name}")
            if name.startswith("bucketscore.pipelines") and not module.startswith(
                ("bucketscore.pipelines", "bucketscore.cli", "bucketscore.api")
            ):
                wrong.append(f"{module}:{line} imports {name}")
            if name.startswith("bucketscore.cli") and not module.startswith(
                ("bucketscore.cli", "bucketscore.api")
            ):
                wrong.append(f"{module}:{line} imports {name}")
    assert not wrong, "\n".join(wrong)


HEAVY = ("apache_beam", "tensorflow", "PIL", "keras", "onnxruntime", "torch")


@pytest.mark.parametrize(
    "code",
    [
        "import bucketscore.cli.main",
        "from bucketscore.cli.main import _commands, build_parser; build_parser(_commands())",
    ],
)
def test_the_command_line_loads_no_heavy_library(code):
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{code}\nimport sys\nprint(sorted({{m.split('.')[0] for m in sys.modules}}))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    loaded = eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - our own output
    assert not set(HEAVY) & set(loaded), set(HEAVY) & set(loaded)


def test_help_loads_no_heavy_library():
    code = (
        "import runpy, sys\nsys.argv = ['bucketscore', '--help']\n"
        "try:\n    from bucketscore.cli.main import main; main(['--help'])\n"
        "except SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert "usage: bucketscore" in out.stdout
    loaded = eval(out.stdout.strip().splitlines()[-1])  # noqa: S307
    assert not set(HEAVY) & set(loaded), set(HEAVY) & set(loaded)


def test_installed_distribution_has_one_top_level_name():
    from importlib.metadata import distribution

    dist = distribution("bucketscore")
    top = dist.read_text("top_level.txt")
    if top is None:  # editable installs may not write it: read the package list instead
        names = {f.parts[0] for f in dist.files or [] if f.suffix == ".py"}
        top = "\n".join(sorted(n for n in names if not n.startswith("__editable__")))
    assert top.split() == ["bucketscore"], top
    entry = [e for e in dist.entry_points if e.group == "console_scripts"]
    assert [(e.name, e.value) for e in entry] == [("bucketscore", "bucketscore.cli.main:main")]


def test_wheel_installs_everything_under_one_name(tmp_path):
    """What a user or a worker installs (a wheel, not this editable checkout): every module
    under bucketscore/, and top_level.txt lists only bucketscore."""
    import shutil
    import zipfile

    # Built from a copy: setuptools writes build/ and *.egg-info/ beside setup.py.
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(os.path.join(REPO, "setup.py"), src)
    for folder in PACKAGES:
        shutil.copytree(
            os.path.join(REPO, folder), src / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
        cwd=str(tmp_path),
    )
    wheel = next(p for p in tmp_path.iterdir() if p.suffix == ".whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        top = z.read(next(n for n in names if n.endswith("top_level.txt"))).decode()
    assert top.split() == ["bucketscore"]
    modules = {n for n in names if n.endswith(".py")}
    for module, path in project_modules().items():
        expected = module.replace(".", "/") + (
            "/__init__.py" if path.endswith("__init__.py") else ".py"
        )
        assert expected in modules, expected
    assert not {n.split("/")[0] for n in modules} - {"bucketscore"}


def test_test_modules_share_code_only_through_tests_support():
    """Helpers live in tests/support/ (or a conftest's fixtures); a test module never
    imports another test module."""
    wrong = []
    for path in _python_files("tests"):
        rel = os.path.relpath(path, REPO)
        for name, line in imports_of(path):
            if not name.startswith("tests.") or name.startswith("tests.support"):
                continue
            wrong.append(f"{rel}:{line} imports {name}")
    assert not wrong, "import shared test code from tests.support:\n" + "\n".join(wrong)


# Test folder of each package folder (tests mirror the code).
TEST_FOLDERS = {
    "bucketscore": "tests/bucketscore",
    "storage": "tests/storage",
    "run_folder": "tests/run_folder",
    "bundle": "tests/bundle",
    "model_export": "tests/model_export",
    "transforms": "tests/transforms",
    "pipelines": "tests/pipelines",
    "cli": "tests/cli",
}


def _has_logic(path: str) -> bool:
    """A module that defines a function or a class (constants alone need no test file)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    return any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in tree.body
    )


def test_every_module_with_logic_has_its_test_module():
    """`<package>/<sub>/<module>.py` -> `tests/<package>/<sub>/test_<module>.py` (or
    `test_<module>_<aspect>.py`)."""
    missing = []
    for top, tests in TEST_FOLDERS.items():
        for path in _python_files(top):
            rel = os.path.relpath(path, os.path.join(REPO, top))
            folder, name = os.path.split(rel)
            if name == "__init__.py" or not _has_logic(path):
                continue
            test_dir = os.path.join(REPO, tests, folder)
            stem = name[:-3]
            found = os.path.isdir(test_dir) and any(
                f in (f"test_{stem}.py",) or f.startswith(f"test_{stem}_")
                for f in os.listdir(test_dir)
            )
            if not found:
                missing.append(
                    f"{top}/{rel} -> {tests}/{folder + '/' if folder else ''}test_{stem}.py"
                )
    assert not missing, "modules without their test module:\n" + "\n".join(missing)
