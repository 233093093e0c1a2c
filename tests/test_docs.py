"""The docs and the code's comments stay honest: every relative link in the README and the
docs resolves (file and #anchor); every module path, dotted name and docs section that a
comment or docstring of the code names exists; the README stays short enough to read in five
minutes. The checkers are tested on planted stale names and broken links too.
"""

from __future__ import annotations

import ast
import glob
import io
import os
import re
import tokenize

import pytest

from tests.support.helpers import REPO

README_MAX_LINES = 250
# The Markdown pages whose links are checked.
MARKDOWN = ("README.md", "docs/*.md", "benchmarks/README.md", "infra/README.md")
# Folders whose Python files' comments and docstrings are checked.
SOURCES = (
    "bucketscore",
    "storage",
    "run_folder",
    "bundle",
    "model_export",
    "transforms",
    "pipelines",
    "cli",
    "benchmarks",
    "infra",
)
SKIP_DIRS = {"__pycache__", "results", "work"}
# Folder on disk of each import name (as setup.py maps them); `benchmarks` imports as itself.
PACKAGE_DIRS = {
    "bucketscore": "bucketscore",
    "bucketscore.storage": "storage",
    "bucketscore.run_folder": "run_folder",
    "bucketscore.bundle": "bundle",
    "bucketscore.model_export": "model_export",
    "bucketscore.transforms": "transforms",
    "bucketscore.pipelines": "pipelines",
    "bucketscore.cli": "cli",
    "benchmarks": "benchmarks",
}
# Packages a comment may name without `bucketscore.` (`pipelines.plan`, `bundle.meta.read_meta`).
BARE = ("storage", "run_folder", "bundle", "model_export", "transforms", "pipelines", "cli")
# The repository's own top-level folders: a path that starts with one must exist.
ROOTS = (*SOURCES, "tests", "docs", ".ci")
# Written by the benchmarks when they run (git-ignored): named, not committed.
GENERATED = ("benchmarks/work",)
# `bucketscore/<name>`: a Beam metrics counter of the namespace `bucketscore` (`bucketscore/
# listed`), not a path, when <name> is an identifier that is not a file of bucketscore/.
COUNTER = re.compile(r"^bucketscore/[a-z_]+$")


# --- Markdown links --------------------------------------------------------------------------

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def _prose(text: str) -> str:
    """Markdown without fenced code blocks and code spans (links there are not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def markdown_links(text: str) -> list[str]:
    """The link targets of a Markdown text: inline links, images and reference definitions."""
    prose = _prose(text)
    return INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces
    as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"[`*~]", "", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown text's headings give (repeated headings get -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", text)):
        slug = anchor(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def broken_links(path: str, text: str, root: str = REPO) -> list[str]:
    """Relative links of the Markdown file `path` (relative to `root`) that resolve to no file,
    or whose #anchor is no heading of the file they point to."""
    out = []
    here = os.path.dirname(os.path.join(root, path))
    for target in markdown_links(text):
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # https:, mailto:, ...: not a file of the repository
        file_part, _, fragment = target.partition("#")
        file = os.path.normpath(os.path.join(here, file_part)) if file_part else None
        if file and not os.path.exists(file):
            out.append(f"{path}: {target}: no such file")
            continue
        if fragment and (not file or file.endswith(".md")):
            if file:
                with open(file, encoding="utf-8") as f:
                    page = f.read()
            else:
                page = text  # an anchor of this very page
            if fragment.lower() not in anchors(page):
                out.append(f"{path}: {target}: no heading #{fragment}")
    return out


def markdown_files() -> list[str]:
    out = []
    for pattern in MARKDOWN:
        out += sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, pattern)))
    return out


# --- Module names in comments and docstrings --------------------------------------------------

# A path: a word, a slash, more (`pipelines/workers.py`, `pipelines/commands/*`, `a/<b>.py`);
# not part of a URI or an absolute path (`s3://b/storage/x`, `~/.cache/...`).
PATH = re.compile(r"(?<![\w./~:@$%-])([\w.-]+(?:/[\w.*<>{},-]*)+)")
# A file name alone: `workers.py`.
FILE = re.compile(r"(?<![\w./-])([\w-]+\.py)\b")
# A dotted name of ours: `bucketscore.pipelines.plan`, `bundle.meta.read_meta`.
DOTTED = re.compile(
    r"(?<![\w./-])(bucketscore|benchmarks|%s)((?:\.[A-Za-z_]\w*)+)" % "|".join(BARE)
)


def comments_and_docstrings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment (tokenize; comments on consecutive lines are one text,
    so that a name wrapped over two lines is read whole) and docstring (ast) of a Python
    source."""
    out: list[tuple[int, str]] = []
    last = 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text = tok.string.lstrip("#")
            if out and tok.start[0] == last + 1:
                out[-1] = (out[-1][0], out[-1][1] + "\n" + text)
            else:
                out.append((tok.start[0], text))
            last = tok.start[0]
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    out.append((body[0].lineno, body[0].value.value))
    return sorted(out)


def _defined_names(scope: ast.AST, imports: bool) -> dict[str, ast.AST]:
    """Names a module (or class body) defines, with their nodes: defs, classes and
    assignments, also inside if/try/with blocks; imports only when `imports` (a package's
    __init__.py re-exports what it imports; any other module is not where a name it imports
    is defined)."""
    names: dict[str, ast.AST] = {}

    def visit(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            names[name.id] = node
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and imports:
                for alias in node.names:
                    names[(alias.asname or alias.name).split(".")[0]] = node
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                visit(getattr(node, "finalbody", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(scope.body)
    return names


def _module_file(module: str, root: str) -> str | None:
    """The file of an import name of ours (`bucketscore.storage.listing`), or None."""
    for package in sorted(PACKAGE_DIRS, key=len, reverse=True):
        if module == package or module.startswith(package + "."):
            rest = module[len(package) :].lstrip(".").split(".") if module != package else []
            base = os.path.join(root, PACKAGE_DIRS[package], *rest)
            for candidate in (os.path.join(base, "__init__.py"), base + ".py"):
                if os.path.isfile(candidate):
                    return candidate
            return None
    return None


def _defined_in(file: str, attrs: list[str]) -> bool:
    """`attrs` (`["RunPlan", "describe"]`) is defined in the module whose source is `file`:
    a name it defines, then, inside a class, a name the class defines; past a value that is
    not a class (an attribute of an instance), the source cannot tell and the rest is
    accepted."""
    with open(file, encoding="utf-8") as f:
        scope: ast.AST = ast.parse(f.read())
    imports = file.endswith("__init__.py")
    for attr in attrs:
        node = _defined_names(scope, imports).get(attr)
        if node is None:
            return False
        if not isinstance(node, ast.ClassDef):
            return True
        scope, imports = node, False
    return True


def dotted_name_exists(name: str, root: str = REPO) -> bool:
    """A dotted name of ours (`bucketscore.pipelines.plan`, `bundle.meta.read_meta`; a bare
    package name is read as `bucketscore.<package>`) is a module, or an attribute defined in
    one. Read from the sources, not imported: what `import` would find, without loading
    TensorFlow to check a comment."""
    if name.split(".")[0] in BARE:
        name = "bucketscore." + name
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        file = _module_file(".".join(parts[:i]), root)
        if file:
            return i == len(parts) or _defined_in(file, parts[i:])
    return False


def _subfolders(root: str) -> set[str]:
    """Names of the folders inside the source folders (`commands`, `features`, ...)."""
    out = set()
    for top in SOURCES + ("tests",):
        for _dir, dirs, _files in os.walk(os.path.join(root, top)):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
            out.update(dirs)
    return out


def _path_exists(path: str, bases: list[str]) -> bool:
    """`path` exists under one of `bases`. The part that must exist ends before a glob
    (`pipelines/commands/*`: the folder) or a placeholder (`pipelines/features/<name>.py`)."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        if re.search(r"[*<>{}]", part):
            parts = parts[:i]
            break
    path = "/".join(p for p in parts if p)
    return any(os.path.exists(os.path.join(base, path)) for base in bases)


def _python_file_names(root: str) -> set[str]:
    out = set()
    for top in (*SOURCES, "tests", ".ci"):
        for _dir, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            out.update(f for f in files if f.endswith(".py"))
    return out | {f for f in os.listdir(root) if f.endswith(".py")}


# A section of a page named by its title: `docs/decisions.md, "The local runner"`,
# `docs/decisions.md ("Small runs in one process", "Incremental runs in one process")`,
# `README, "Results"`.
SECTION_REF = re.compile(
    r"((?:docs/[\w-]+\.md)|(?:(?:infra|benchmarks)/)?README(?:\.md)?)[,:\s(]*"
    r'((?:"[^"]+"(?:\s*,\s*|\s+and\s+)?)+)'
)


def missing_sections(text: str, root: str = REPO) -> list[str]:
    """`page: "title"` for every section `text` names on a Markdown page that has no heading
    with that title (a heading `Title: more` may be named by `Title`)."""
    out = []
    for page, titles in SECTION_REF.findall(text):
        file = page if page.endswith(".md") else page + ".md"
        path = os.path.join(root, file)
        if not os.path.isfile(path):
            out.append(f"{file} (no such page)")
            continue
        with open(path, encoding="utf-8") as f:
            headings = HEADING.findall(FENCE.sub("", f.read()))
        known = {anchor(h) for h in headings} | {anchor(h.split(":")[0]) for h in headings}
        for title in re.findall(r'"([^"]+)"', titles):
            title = " ".join(title.split())
            if anchor(title) not in known:
                out.append(f'{file}: "{title}"')
    return out


def stale_names(text: str, where: str, root: str = REPO) -> list[str]:
    """The module paths, dotted names and doc sections that `text` (a comment or docstring
    of the file `where`, relative to `root`) names and that do not exist."""
    out = missing_sections(text, root)
    here = os.path.dirname(os.path.join(root, where))
    # Relative paths may be written from the file's own folder or its package's.
    bases = [root, here, os.path.dirname(here)] + [os.path.join(root, top) for top in SOURCES]
    subfolders = _subfolders(root)
    for path in PATH.findall(text):
        path = path.rstrip(".,;:)")
        first = path.split("/")[0]
        if not first or "." in first and not first.endswith(".py"):
            continue  # a host or file name (`model.json/...`), not one of our folders
        if path.startswith(GENERATED) or COUNTER.match(path) and not _path_exists(path, [root]):
            continue
        if first in ROOTS:
            ok = _path_exists(path, [root])
        elif first in subfolders:
            ok = _path_exists(path, bases)
        else:
            continue  # not ours: an external package's path, a MIME type, a counter name
        if not ok:
            out.append(path)
    files = _python_file_names(root)
    for name in FILE.findall(PATH.sub("", text)):
        if name not in files:
            out.append(name)
    for package, rest in DOTTED.findall(text):
        name = package + rest
        if rest.endswith((".py", ".json", ".md")):
            continue  # a file name, checked as a path
        if not dotted_name_exists(name, root):
            out.append(name)
    return out


def python_files(root: str = REPO) -> list[str]:
    out = []
    for top in SOURCES:
        for folder, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            out += [
                os.path.relpath(os.path.join(folder, f), root) for f in files if f.endswith(".py")
            ]
    return sorted(out)


def stale_names_in_file(path: str, root: str = REPO) -> list[str]:
    with open(os.path.join(root, path), encoding="utf-8") as f:
        source = f.read()
    return [
        f"{path}:{line}: {name}"
        for line, text in comments_and_docstrings(source)
        for name in stale_names(text, path, root)
    ]


# --- Tests -----------------------------------------------------------------------------------


def test_readme_is_short():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail to docs/"
    )


def test_every_markdown_page_is_checked():
    pages = markdown_files()
    for page in ("README.md", "benchmarks/README.md", "infra/README.md", "docs/decisions.md"):
        assert page in pages


def current_text(page_text: str) -> str:
    """A page's text less what names old places on purpose: the section "What moved where"
    and any line that says what a thing was called (`(it was ...)`)."""
    text = re.sub(r"(?ms)^## What moved where$.*?(?=^## )", "", page_text)
    return "\n".join(line for line in text.splitlines() if "it was `" not in line)


@pytest.mark.parametrize("page", markdown_files())
def test_pages_name_no_missing_module(page):
    with open(os.path.join(REPO, page), encoding="utf-8") as f:
        text = current_text(f.read())
    assert stale_names(text, page) == []


def test_current_text_drops_the_renames_only():
    page = "# A\n\nSee `x/a.py`.\n\n## What moved where\n\n| `x/old.py` | `x/a.py` |\n\n"
    page += "## Tests\n\nThe entry is `y` (it was `x.old`).\nAnd `x/b.py`.\n"
    assert current_text(page) == "# A\n\nSee `x/a.py`.\n\n## Tests\n\nAnd `x/b.py`."


@pytest.mark.parametrize("page", markdown_files())
def test_relative_links_resolve(page):
    with open(os.path.join(REPO, page), encoding="utf-8") as f:
        text = f.read()
    assert broken_links(page, text) == []


def test_readme_links_every_docs_page():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        links = {t.partition("#")[0] for t in markdown_links(f.read())}
    pages = {os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md"))}
    assert pages, "docs/ has no pages"
    assert pages <= links, f"docs pages the README does not link: {sorted(pages - links)}"


def test_link_checker_finds_broken_links(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\n## Two words: `code`\n\n## Again\n")
    text = "\n".join(
        [
            "[ok](docs/guide.md) [ok](docs/guide.md#two-words-code) [ok](#top-heading)",
            "[ok](https://example.com/x.md) ![ok](docs/guide.md) `[not a link](nowhere.md)`",
            "# Top heading",
            "[missing](docs/gone.md) [bad anchor](docs/guide.md#two-words)",
            "[bad here](#nothing)",
            "[ref]: docs/also-gone.md",
            "```",
            "[in code](nowhere-either.md)",
            "```",
        ]
    )
    assert broken_links("README.md", text, root=str(tmp_path)) == [
        "README.md: docs/gone.md: no such file",
        "README.md: docs/guide.md#two-words: no heading #two-words",
        "README.md: #nothing: no heading #nothing",
        "README.md: docs/also-gone.md: no such file",
    ]


def test_anchors_as_github_makes_them():
    text = (
        "# Results: `<output>/<run_id>/`\n"
        "## Report, run history, comparing runs\n## Again\n## Again\n"
    )
    assert anchors(text) == {
        "results-outputrun_id",
        "report-run-history-comparing-runs",
        "again",
        "again-1",
    }


def test_comments_and_docstrings_name_no_missing_module():
    stale = [line for path in python_files() for line in stale_names_in_file(path)]
    assert stale == []


def test_comments_and_docstrings_are_what_is_read():
    source = (
        '"""Module: a.py."""\n\n\ndef f():\n    """Function."""\n    x = "not read"  # comment\n'
        "    # a comment over\n    # two lines\n\n    # another\n"
    )
    assert comments_and_docstrings(source) == [
        (1, "Module: a.py."),
        (5, "Function."),
        (6, " comment\n a comment over\n two lines"),
        (10, " another"),
    ]


@pytest.mark.parametrize(
    "stale",
    [
        "model_export/bundle.py",
        "model_export/images.py",
        "model_export/predictor.py",
        "model_export/devices.py",
        "model_export/classify.py",
        "model_export/label_sources.py",
        "model_export/bundle_cache.py",
        "pipelines/cli.py",
        "pipelines/commands/*",
        "pipelines/commands/score.py",
        "pipelines/launcher.py",
        "pipelines/runtime_defaults.py",
        "pipelines/template.py",
        "pipelines/preflight.py",
        "pipelines/failures.py",
        "pipelines/run_log.py",
        "transforms/incremental.py",
        "transforms/run_folder.py",
        "preprocessing.py",
        "runtime_defaults.py",
        "tests/support/nothing_here.py",
        "bucketscore.model_export.images.decode_image",
        "bucketscore.pipelines.launcher.start",
        "bucketscore.bundle.meta.no_such_function",
        "transforms.decoding.decode_image",
        "transforms.progress",
        "model_export.devices",
        "pipelines.runtime_defaults.plan",
        "bundle.predictor.NoSuchClass.method",
    ],
)
def test_name_checker_catches_a_stale_name(stale):
    comment = f"Decides it once (see {stale}, and storage/listing.py)."
    assert stale_names(comment, "pipelines/plan.py") == [stale]


def test_name_checker_accepts_what_exists():
    text = (
        "pipelines/workers.py, storage/listing.py count_images, tests/support/helpers.py, "
        "bucketscore.pipelines.plan, bucketscore.bundle.meta.read_meta, pipelines.plan.RunPlan, "
        "bucketscore.pipelines.plan.RunPlan.describe, bundle.onnx_runtime.ort_threads, "
        "pipelines/features/<name>.py, cli/commands/*, features/template.py, plan.py, "
        "benchmarks/results/listing-*.json, docs/decisions.md, tests/<package>/test_<module>.py, "
        "s3://b/storage/listing.py, ~/.cache/bucketscore/logs/, apache_beam/runners/x.py, "
        "image/jpeg, bucketscore/listed, the end of a sentence in bucketscore. Next one."
    )
    assert stale_names(text, "pipelines/plan.py") == []


def test_section_checker_finds_a_missing_title():
    text = (
        'Why: docs/decisions.md ("Worker processes on one machine", "Small\n'
        'runs in one process"); docs/decisions.md, "No such decision"; README, "Results"; '
        'README, "Nothing"; docs/nowhere.md, "X".'
    )
    assert missing_sections(text) == [
        'docs/decisions.md: "No such decision"',
        'README.md: "Nothing"',
        "docs/nowhere.md (no such page)",
    ]


def test_sections_the_code_points_to_exist():
    for title in (
        "The local runner",
        "Worker processes on one machine",
        "Small runs in one process",
        "Incremental runs in one process",
        "Inference batch size",
        "No Flatten of prediction rows",
    ):
        assert missing_sections(f'docs/decisions.md, "{title}"') == []
