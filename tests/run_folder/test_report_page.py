"""report.html, the page: self-contained (data: URIs only, no script), every value from the
data escaped, the sections a summary calls for (headline, figures, predictions, shift since
the previous run, mistakes, least and most confident images, failures, parameters), and
write_report that never raises; then the page of real runs of the demo model (duration,
warnings about the labels source, top-k capped). The page in a real browser:
test_report_page_in_chromium.py.
"""

from __future__ import annotations

import base64
import io
import json
import re

from PIL import Image

from bucketscore.cli.main import main
from bucketscore.run_folder.accuracy import empty_summary
from bucketscore.run_folder.report_page import render_report
from bucketscore.run_folder.summary import drift
from bucketscore.run_folder.thumbnails import thumbnail
from tests.support.helpers import copy_demo_subset, image_bytes, write_file
from tests.support.report_rows import LABELS, prediction_row, rgb, summary_of_matrix


def _img_srcs(page: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]*)"', page)


def test_render_report_is_self_contained_with_figures_and_thumbnails():
    thumb = thumbnail(image_bytes(rgb(20, 20)))
    mistakes = [
        dict(prediction_row("s3://b/dog/x.png", "dog", "fox", 0.93), thumbnail=thumb),
        dict(prediction_row("s3://b/cat/y.png", "cat", "dog", 0.81), thumbnail=None),
    ]
    failures = [
        {
            "uri": "s3://b/fox/z.jpg",
            "stage": "decode",
            "error": "DecodeError: bad",
            "thumbnail": thumb,
        }
    ]
    summary = summary_of_matrix()
    page = render_report(
        summary, mistakes, failures, {"input": ["s3://b/"], "top_k": 2, "beam_options": ["--x=***"]}
    )
    assert page.startswith("<!DOCTYPE html>")
    # Nothing outside the file: no scripts, stylesheets or remote images.
    assert "<script" not in page and "<link" not in page
    assert not re.search(r'(src|href)="(?!data:)', page)
    srcs = _img_srcs(page)
    # confusion matrix, per-class bars, coverage/accuracy, reliability, class distribution,
    # confidence histogram, two thumbnails
    assert len(srcs) == 6 + 2
    for src in srcs:
        mime, b64 = re.match(r"data:(image/png);base64,(.*)", src).groups()
        Image.open(io.BytesIO(base64.b64decode(b64))).load()
    assert 'id="confusion-matrix"' in page and 'id="per-class"' in page
    # Headline figures, as in summary.json.
    c = summary["counts"]
    for key, value in (("listed", c["listed"]), ("scored", c["scored"]), ("failed", 2)):
        assert f'data-figure="{key}"><div class="v">{value}</div>' in page
    assert f"{100 * summary['accuracy']:.2f}%" in page
    assert f"{100 * summary['top_k_accuracy']:.2f}%" in page and "top-2 accuracy" in page
    assert f"{summary['macro']['f1']:.4f}" in page
    # Mistakes and failures with their labels and scores; parameters.
    assert "x.png" in page and "0.9300" in page and "no preview" in page
    assert "DecodeError: bad" in page and "decode" in page
    assert "beam_options" in page and "--x=***" in page and "toy" in page
    assert "(2 shown of 4)" in page  # the off-diagonal cells: 4 wrong predictions


def test_render_report_escapes_everything_from_data():
    evil = "a<b>&\"q'<script>alert(1)</script>"
    labels = [evil, "$x$_{y}", "ok"]  # `$` would be mathtext to matplotlib
    summary = summary_of_matrix(labels=labels)
    mistakes = [dict(prediction_row(f"s3://b/{evil}.png", evil, "ok", 0.9), thumbnail=None)]
    failures = [
        {"uri": f"/data/{evil}.png", "stage": "read", "error": f"Err: {evil}", "thumbnail": None}
    ]
    page = render_report(summary, mistakes, failures, {"input": [evil], evil: evil})
    assert "<script" not in page and "<b>&" not in page and "alert(1)<" not in page
    assert "a&lt;b&gt;&amp;&quot;q&#x27;&lt;script&gt;" in page
    # Every attribute value is quoted and holds no raw quote or angle bracket.
    for attr in re.findall(r'(?:title|alt)="([^"]*)"', page):
        assert "<" not in attr and ">" not in attr
    assert len(_img_srcs(page)) == 6  # the figures were drawn despite the odd labels


def test_render_report_without_labels_or_results():
    summary = summary_of_matrix()
    summary.update(empty_summary(LABELS))
    summary["counts"] = {"listed": 0, "scored": 0, "failed": 0, "labelled": 0}
    summary["accuracy"] = summary["top_k_accuracy"] = None
    page = render_report(summary, [], [], {})
    assert _img_srcs(page) == []
    assert "No labelled images" in page and 'id="mistakes"' not in page  # nothing to be wrong
    assert "No image failed" in page and "n/a" in page


def test_write_report_writes_the_page_and_never_raises(tmp_path, caplog):
    from bucketscore.run_folder.layout import REPORT
    from bucketscore.run_folder.report_page import write_report

    run = str(tmp_path / "run") + "/"
    summary = summary_of_matrix()
    items = {
        "mistakes": [dict(prediction_row("s3://b/x.png", "cat", "dog", 0.9), thumbnail=None)],
        "failures": [],
    }
    assert write_report(run, summary, items, {"top_k": 2}) == run + REPORT
    with open(run + REPORT, encoding="utf-8") as f:
        assert "x.png" in f.read()
    assert write_report(run, summary, None, {}) == run + REPORT  # no items: still a page
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert write_report(str(blocker) + "/", summary, items, {}) is None
    assert "could not write" in caplog.text
    assert write_report(run, {"counts": "not a dict"}, items, {}) is None


def test_labelled_report_shows_the_duration(demo_bundle, tmp_path):
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out"),
                "--run_id",
                "l",
                "--no_progress",
            ]
        )
        == 0
    )
    page = open(tmp_path / "out" / "l" / "report.html", encoding="utf-8").read()
    assert 'data-figure="duration"' in page and 'id="mistakes"' in page


def test_date_folders_taken_as_labels_are_warned_about(demo_bundle, tmp_path, capsys):
    images = tmp_path / "cams"
    rels = copy_demo_subset(demo_bundle.data, str(tmp_path / "src"), per_class=1)
    for i, rel in enumerate(rels):
        day = f"2026-11-{28 + i % 3}"
        write_file(
            str(images / day / rel.replace("/", "_")), open(tmp_path / "src" / rel, "rb").read()
        )
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out"),
                "--run_id",
                "d",
                "--no_progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    summary = json.load(open(tmp_path / "out" / "d" / "summary.json"))
    (warning,) = summary["warnings"]
    assert "2026-11-28" in warning and "--labels none" in warning
    assert f"warning: {warning}" in out
    assert "warning:" in open(tmp_path / "out" / "d" / "report.html").read()


def test_a_regex_that_matches_no_file_name_is_warned_about(demo_bundle, tmp_path, capsys):
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out"),
                "--run_id",
                "r",
                "--labels",
                r"regex:cat_(\d+)",
                "--no_progress",
            ]
        )
        == 0
    )
    summary = json.load(open(tmp_path / "out" / "r" / "summary.json"))
    (warning,) = summary["warnings"]
    assert "matched no file name" in warning and "'digit_" in warning
    assert "warning:" in capsys.readouterr().out


def test_top_k_is_capped_at_the_number_of_labels(tmp_path, demo_bundle, capsys):
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out"),
                "--run_id",
                "k",
                "--top_k",
                "50",
                "--no_progress",
            ]
        )
        == 0
    )
    assert "top-10 accuracy" in capsys.readouterr().out
    summary = json.load(open(tmp_path / "out" / "k" / "summary.json"))
    assert summary["top_k"] == 10
    assert "top-10 accuracy" in open(tmp_path / "out" / "k" / "report.html").read()


def _section(page: str, section_id: str) -> str:
    """The HTML of one <section> of the page (fails when there is none)."""
    assert f'<section id="{section_id}">' in page, section_id
    return page.split(f'<section id="{section_id}">', 1)[1].split("</section>", 1)[0]


def test_the_headline_counts_each_kind_of_image_and_the_duration():
    summary = summary_of_matrix(abstained=3)
    summary["counts"].update(unlabelled=4, unknown_label=2)
    summary["unknown_labels"] = {"owl": 2}
    summary["warnings"] = ["folders look like <dates>"]
    summary["duration_seconds"] = 3725.0
    head = _section(render_report(summary, [], [], {}), "headline")
    assert "22 labelled images count towards accuracy" in head  # 19 in the matrix + 3 below
    assert "4 without a label" in head and "2 with a label the model does not know" in head
    assert "3 below --min_confidence (no prediction)" in head
    assert "labels unknown to the model: owl (2)" in head
    assert "error ratio 8.33%" in head  # 2 failed of 22 + 2 listed
    assert '<p class="warning">warning: folders look like &lt;dates&gt;</p>' in head
    assert 'data-figure="duration"><div class="v">1 h 02 min</div>' in head
    for seconds, text in ((42.25, "42.2 s"), (89.9, "89.9 s"), (125, "2 min 05 s")):
        summary["duration_seconds"] = seconds
        page = render_report(summary, [], [], {})
        assert f'data-figure="duration"><div class="v">{text}</div>' in page, seconds
    del summary["duration_seconds"]
    assert 'data-figure="duration"' not in render_report(summary, [], [], {})


def test_the_shift_since_the_previous_run_lists_the_largest_changes_first():
    now = summary_of_matrix(matrix=[[1, 0, 0], [0, 1, 0], [0, 0, 8]])  # fox 80% of predictions
    then = summary_of_matrix(matrix=[[4, 0, 0], [0, 4, 0], [0, 0, 2]])
    then["run_id"] = "previous-run"
    now["drift"] = drift(now, then, "s3://out/previous-run/")
    shift = _section(render_report(now, [], [], {}), "drift")
    assert "in run previous-run (10 images)" in shift
    # then 40/40/20 %, now 10/10/80 %: total variation 0.6; fox moved most.
    assert 'data-figure="total variation"><div class="v">0.6000</div>' in shift
    rows = re.findall(
        r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", shift
    )
    assert rows[0] == ("fox", "20.00%", "80.00%", "+60.00 points")
    assert sorted(rows[1:]) == [
        ("cat", "40.00%", "10.00%", "-30.00 points"),
        ("dog", "40.00%", "10.00%", "-30.00 points"),
    ]
    assert 'id="drift"' not in render_report(then, [], [], {})


def test_least_and_most_confident_sections_show_their_rows():
    least = [
        dict(prediction_row("s3://b/u/a.png", None, "dog", 0.31), thumbnail=None),
        dict(prediction_row("s3://b/u/b.png", "cat", None, 0.12, below=True), thumbnail=None),
    ]
    best = [
        {"label": "fox", "rows": [dict(prediction_row("s3://b/f.png", None, "fox", 0.99))]},
        {"label": "<dog>", "rows": []},
    ]
    page = render_report(summary_of_matrix(), [], [], {}, least, best)
    low = _section(page, "least-confident")
    assert "Least confident predictions (2)" in low and low.count('class="item least') == 2
    # b.png: no label above the threshold, and a true label: a miss, tagged as such
    assert '<div class="item least wrong" title="s3://b/u/b.png">' in low
    assert 'predicted <span class="lab p">none</span> true <span class="lab t">cat</span>' in low
    assert "confidence 0.3100" in low and "confidence 0.1200" in low
    high = _section(page, "most-confident")
    assert re.findall(r'<h3 class="class">([^<]*)</h3>', high) == ["fox", "&lt;dog&gt;"]
    assert high.count('class="item best"') == 1 and "confidence 0.9900" in high
    plain = render_report(summary_of_matrix(), [], [], {})
    assert 'id="least-confident"' not in plain and 'id="most-confident"' not in plain


def test_failures_say_how_many_are_not_shown():
    failures = [{"uri": f"/d/{i}.png", "stage": "read", "error": "gone"} for i in range(2)]
    summary = summary_of_matrix()
    summary["counts"]["failed"] = 5
    part = _section(render_report(summary, [], failures, {}), "failures")
    assert "Failed images (2 shown of 5; all in errors.csv)" in part
    assert part.count('class="item failure"') == 2
    summary["counts"]["failed"] = 2
    part = _section(render_report(summary, [], failures, {}), "failures")
    assert "<h2>Failed images</h2>" in part


def test_parameters_show_lists_as_json_and_the_model():
    page = render_report(
        summary_of_matrix(), [], [], {"input": ["s3://b/x/", "s3://b/y/"], "top_k": 2}
    )
    params = _section(page, "parameters")
    assert '<th>input</th><td class="code">[&quot;s3://b/x/&quot;, &quot;s3://b/y/&quot;]' in params
    assert '<th>model uri</th><td class="code">s3://m/</td>' in params
    assert '<th>model labels</th><td class="code">cat, dog, fox</td>' in params
    assert "<title>bucketscore report run1</title>" in page
