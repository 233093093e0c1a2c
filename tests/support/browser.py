"""Headless Chromium for the report tests: find it (skip without it, fail in CI), load a page,
and a probe script that reports how many images the page decoded."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

# Added to a copy of the page (the report itself has no script): records how many images
# there are, how many decoded, and any load error, on <body> for --dump-dom to show.
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(
  (e.target && e.target.tagName ? e.target.tagName + " " : "") + (e.message || "load error")),
  true);
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);
  document.body.setAttribute("data-images", String(imgs.length));
  document.body.setAttribute("data-decoded", String(ok.length));
  document.body.setAttribute("data-figures", String(
    ok.filter(i => i.id === "confusion-matrix" || i.id === "per-class").length));
  document.body.setAttribute("data-acting", String(
    ok.filter(i => i.id === "coverage-accuracy" || i.id === "reliability").length));
  document.body.setAttribute("data-suspects", String(
    ok.filter(i => i.closest("#suspect-labels") && i.classList.contains("thumb")).length));
  document.body.setAttribute("data-errors", String(window.__errors.length));
});
</script>"""


def chromium() -> str:
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(
            "chromium is not installed but CI is set: the report's browser test must "
            "run in CI (apt-get install -y chromium)"
        )
    pytest.skip(
        "chromium is not installed (apt-get install -y chromium); "
        "this test runs whenever it is, and always in CI"
    )


def _run_chromium(browser: str, tmp_path, page: str, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.iterdir()))}"
    proc = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, f"file://{page}"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
