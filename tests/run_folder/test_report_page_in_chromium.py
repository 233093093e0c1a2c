"""report.html of real runs, opened in a real headless browser (Debian's chromium).

The page must load with every image decoded (figures and thumbnails, all data: URIs), log
nothing to the console, and a screenshot must show the figures: the header's colour, the
heatmap's dark blue and the recall bars' orange, not a blank page. An unlabelled run's page
shows its predictions instead of mistakes.

Chromium: `apt-get install -y chromium` (CI installs it). Without it the test is skipped,
except when CI is set: then a missing browser is a failure.
"""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest
from PIL import Image

from bucketscore.cli.main import main
from bucketscore.run_folder.layout import REPORT
from tests.support.browser import PROBE, _run_chromium, chromium
from tests.support.helpers import copy_demo_subset, write_file
from tests.support.report_rows import unlabelled_runs

ODD_NAME = 'odd <i>name & "quoted".png'


@pytest.fixture(scope="module")
def report_page(demo_bundle, tmp_path_factory):
    """report.html of a real run: 2 digits per class, one mislabelled image, one broken file."""
    root = tmp_path_factory.mktemp("report-run")
    images, out = str(root / "images"), str(root / "results")
    copy_demo_subset(demo_bundle.data, images, per_class=2)
    three = sorted(os.listdir(os.path.join(demo_bundle.data, "3")))[-1]
    with open(os.path.join(demo_bundle.data, "3", three), "rb") as f:
        write_file(os.path.join(images, "8", ODD_NAME), f.read())  # a 3 labelled 8
    write_file(os.path.join(images, "7", "broken.png"), b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    assert (
        main(
            [
                "score",
                "--input",
                images,
                "--model",
                demo_bundle.model,
                "--output",
                out,
                "--run_id",
                "r1",
            ]
        )
        == 0
    )
    path = os.path.join(out, "r1", REPORT)  # the run wrote it (or the test fails here)
    with open(path, encoding="utf-8") as f:
        return path, f.read()


def test_report_of_a_real_run_shows_the_mistake_and_the_failure(report_page):
    _path, page = report_page
    assert "odd &lt;i&gt;name &amp; &quot;quoted&quot;.png" in page
    assert "<i>name" not in page
    # The mislabelled image (a 3 in folder 8) is the mistake shown, predicted 3, true 8.
    mistakes = page.split('id="mistakes"', 1)[1].split("</section>", 1)[0]
    assert mistakes.count('class="item mistake"') >= 1
    assert 'true <span class="lab t">8</span> predicted <span class="lab p">3</span>' in mistakes
    assert "broken.png" in page and "decode" in page
    assert 'id="confusion-matrix"' in page and 'id="per-class"' in page
    suspects = page.split('id="suspect-labels"', 1)[1].split("</section>", 1)[0]
    assert 'labelled <span class="lab t">8</span>' in suspects
    assert 'looks like <span class="lab p">3</span>' in suspects
    assert 'id="duplicates"' in page and "No two scored images have the same bytes" in page


def test_report_loads_in_chromium_with_every_image_decoded(report_page, tmp_path):
    browser = chromium()
    path, page = report_page
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = _run_chromium(
        browser, tmp_path, str(probe), "--enable-logging=stderr", "--v=0", "--dump-dom"
    )

    body = re.search(r"<body([^>]*)>", proc.stdout)
    assert body, proc.stdout[:2000]
    attrs = dict(re.findall(r'data-(\w+)="(\d+)"', body.group(1)))
    assert attrs.get("figures") == "2", attrs
    # coverage/accuracy against the threshold and the reliability diagram; the image
    # labelled 8 that is a 3 is a suspect label, shown with its thumbnail
    assert attrs.get("acting") == "2" and attrs.get("suspects") == "1", attrs
    # confusion matrix + bars + the mislabelled image's thumbnail at least
    assert int(attrs["images"]) >= 3 and attrs["decoded"] == attrs["images"], attrs
    assert attrs["errors"] == "0", attrs
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    # The odd file name is text on the page, not markup.
    assert "odd &lt;i&gt;name" in proc.stdout


def test_report_screenshot_shows_the_figures(report_page, tmp_path):
    browser = chromium()
    path, _page = report_page
    shot = tmp_path / "report.png"
    _run_chromium(browser, tmp_path, path, f"--screenshot={shot}", "--window-size=1280,2600")
    img = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")).astype(int)
    assert img.shape[:2] == (2600, 1280)
    pixels = img.reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 200, "the screenshot is (nearly) blank"
    assert (pixels.min(axis=1) < 240).mean() > 0.05, "the screenshot is (nearly) all white"

    def share_near(rgb, tolerance=12):
        return float((np.abs(pixels - np.array(rgb)).max(axis=1) <= tolerance).mean())

    assert share_near((0x1D, 0x35, 0x57)) > 0.005, "no header: the page's CSS did not apply"
    assert share_near((8, 48, 107)) > 0.002, "no dark-blue heatmap cells: no confusion matrix"
    assert share_near((255, 127, 14)) > 0.002, "no orange recall bars: no per-class figure"
    assert share_near((31, 119, 180)) > 0.002, "no blue precision bars: no per-class figure"


@pytest.fixture(scope="module")
def two_runs(demo_bundle, tmp_path_factory):
    """Two unlabelled runs under one output: all classes, then mostly 1s and 7s."""
    return unlabelled_runs(demo_bundle, tmp_path_factory)


def test_unlabelled_report_shows_predictions_in_chromium(two_runs, tmp_path):
    browser = chromium()
    page = open(two_runs / "u2" / "report.html", encoding="utf-8").read()
    for section in (
        "class-distribution",
        "confidence-histogram",
        'id="drift"',
        'id="least-confident"',
        'id="most-confident"',
    ):
        assert section in page, section
    assert 'id="mistakes"' not in page  # no labels: no mistakes section
    least = page.split('id="least-confident"', 1)[1].split("</section>", 1)[0]
    assert least.count('class="item least"') == 24
    best = page.split('id="most-confident"', 1)[1].split("</section>", 1)[0]
    assert best.count('<h3 class="class">') == 10
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = _run_chromium(
        browser, tmp_path, str(probe), "--enable-logging=stderr", "--v=0", "--dump-dom"
    )
    body = re.search(r"<body([^>]*)>", proc.stdout)
    attrs = dict(re.findall(r'data-(\w+)="(\d+)"', body.group(1)))
    # 2 figures + 24 least confident + up to 3 per class for 10 classes, all decoded
    assert int(attrs["images"]) >= 2 + 24 + 10 and attrs["decoded"] == attrs["images"], attrs
    assert attrs["errors"] == "0", attrs
