"""report.html pieces: thumbnails, CollectReportItems (TestPipeline), render_report."""

from __future__ import annotations

import base64
import io
import re

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from bucketscore.run_folder.accuracy import empty_summary
from bucketscore.run_folder.report_page import render_report
from bucketscore.run_folder.report_selection import is_mistake
from bucketscore.run_folder.thumbnails import thumbnail
from bucketscore.transforms.records import ErrorRow
from bucketscore.transforms.report_items import CollectReportItems
from tests.support.helpers import image_bytes, write_file

LABELS = ["cat", "dog", "fox"]


def _png_size(data: bytes) -> tuple[int, int]:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    img.load()
    return img.size


def _rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


# --------------------------------------------------------------------------------------
# thumbnail
# --------------------------------------------------------------------------------------
def test_thumbnail_fits_the_box_and_keeps_the_aspect_ratio():
    assert _png_size(thumbnail(image_bytes(_rgb(300, 600), "JPEG"))) == (96, 48)
    assert _png_size(thumbnail(image_bytes(_rgb(300, 600), "PNG"), size=40)) == (40, 20)
    # Small images are not enlarged (the page scales them up).
    assert _png_size(thumbnail(image_bytes(np.zeros((32, 32), np.uint8)))) == (32, 32)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "1", "CMYK"])
def test_thumbnail_any_mode(mode):
    img = Image.fromarray(_rgb(50, 70)).convert("RGBA" if mode in ("LA", "RGBA") else "RGB")
    if mode == "I;16":
        img = Image.fromarray((np.arange(50 * 70, dtype=np.uint16).reshape(50, 70) * 13))
    elif mode == "CMYK":
        img = img.convert("CMYK")
    else:
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format="TIFF" if mode in ("CMYK", "I;16") else "PNG")
    out = thumbnail(buf.getvalue())
    assert out is not None and _png_size(out) == (70, 50)
    assert Image.open(io.BytesIO(out)).mode == "RGB"


def test_thumbnail_applies_exif_orientation():
    img = Image.fromarray(_rgb(40, 80))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90: upright it is 40 wide, 80 high
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert _png_size(thumbnail(buf.getvalue())) == (40, 80)


def test_thumbnail_never_raises():
    good = image_bytes(_rgb(64, 64), "JPEG")
    assert thumbnail(None) is None
    assert thumbnail(b"") is None
    assert thumbnail(b"not an image at all") is None
    assert thumbnail(good[: len(good) // 2]) is None  # truncated
    # A PNG header claiming 200000 x 200000 pixels: refused before decoding.
    header = image_bytes(np.zeros((1, 1), np.uint8))
    bomb = header[:16] + (200000).to_bytes(4, "big") * 2 + header[24:]
    assert thumbnail(bomb) is None


# --------------------------------------------------------------------------------------
# CollectReportItems
# --------------------------------------------------------------------------------------
def _row(uri, true, pred, conf, below=False):
    return {
        "uri": uri,
        "true_label": true,
        "predicted_label": pred,
        "confidence": conf,
        "correct": None if true is None else pred == true,
        "top_k_labels": [pred or "cat", "dog"],
        "top_k_scores": [conf, 1 - conf],
        "below_threshold": below,
        "width": 10,
        "height": 10,
        "model_version": "v",
        "run_id": "r",
    }


def test_is_mistake():
    assert is_mistake(_row("a", "cat", "dog", 0.9))
    assert not is_mistake(_row("a", "cat", "cat", 0.9))
    assert not is_mistake(_row("a", None, "dog", 0.9))  # unlabelled
    assert not is_mistake(_row("a", "cat", None, 0.2, below=True))  # abstained
    assert is_mistake(_row("a", "owl", "dog", 0.9))
    assert not is_mistake(_row("a", "owl", "dog", 0.9), labels=LABELS)  # unknown to the model
    assert is_mistake(_row("a", "cat", "dog", 0.9), labels=LABELS)


def _summarise_items(items):
    """What assert_that compares: names, order, and whether a PNG thumbnail came with it."""

    def thumb(t):
        return None if t is None else _png_size(t)

    return (
        [
            (m["uri"].rsplit("/", 1)[-1], m["confidence"], thumb(m["thumbnail"]))
            for m in items["mistakes"]
        ],
        [
            (f["uri"].rsplit("/", 1)[-1], f["stage"], f["error"], thumb(f["thumbnail"]))
            for f in items["failures"]
        ],
    )


def test_collect_report_items_keeps_the_top_n_with_thumbnails(tmp_path):
    root = str(tmp_path)
    files = {}
    for i in range(8):
        files[f"m{i}.png"] = write_file(f"{root}/m{i}.png", image_bytes(_rgb(20, 30, i)))
    rows = [
        _row(files["m0.png"], "cat", "dog", 0.55),
        _row(files["m1.png"], "cat", "fox", 0.95),
        _row(files["m2.png"], "dog", "cat", 0.75),
        _row(files["m3.png"], "dog", "dog", 0.99),  # right
        _row(files["m4.png"], None, "dog", 0.999),  # unlabelled
        _row(files["m5.png"], "fox", None, 0.3, below=True),  # abstained
        _row(files["m6.png"], "fox", "cat", 0.75),  # ties with m2: m2 < m6 wins
        _row(files["m7.png"], "owl", "dog", 0.98),  # a label the model does not know
        _row(f"{root}/gone.png", "fox", "dog", 0.90),
    ]  # file deleted since: no thumbnail
    errors = [
        ErrorRow(f"{root}/z.png", "decode", "DecodeError: z"),
        ErrorRow(files["m7.png"], "inference", "boom"),
        ErrorRow(f'{root}/a<&".png', "read", "FileNotFoundError: a"),
    ]
    with TestPipeline() as p:
        r = p | "Rows" >> beam.Create(rows)
        e = p | "Errors" >> beam.Create(errors)
        items = (r, e) | CollectReportItems(3, labels=LABELS)
        assert_that(
            items | beam.Map(_summarise_items),
            equal_to(
                [
                    (
                        [
                            ("m1.png", 0.95, (30, 20)),
                            ("gone.png", 0.90, None),
                            ("m2.png", 0.75, (30, 20)),
                        ],
                        [
                            ('a<&".png', "read", "FileNotFoundError: a", None),
                            ("m7.png", "inference", "boom", (30, 20)),
                            ("z.png", "decode", "DecodeError: z", None),
                        ],
                    )
                ]
            ),
        )


def test_collect_report_items_least_and_most_confident():
    rows = [
        _row("/x/a.png", None, "dog", 0.40),
        _row("/x/b.png", None, "dog", 0.90),
        _row("/x/c.png", "cat", "cat", 0.40),
        _row("/x/d.png", None, "cat", 0.99),
        _row("/x/e.png", None, "dog", 0.95),
        _row("/x/f.png", "fox", None, 0.2, below=True),
        _row("/x/g.png", None, "dog", 0.97),
        _row("/x/h.png", None, "fox", 0.6),
    ]

    def names(items):
        return (
            [r["uri"][3:] for r in items["least_confident"]],
            [(g["label"], [r["uri"][3:] for r in g["rows"]]) for g in items["most_confident"]],
        )

    with TestPipeline() as p:
        items = (
            p | "Rows" >> beam.Create(rows),
            p | "Errors" >> beam.Create([]).with_output_types(ErrorRow),
        ) | CollectReportItems(3, labels=LABELS, per_class=2)
        # least: f (0.2, abstained), then a and c tie at 0.40: the smaller URI first;
        # per class in model label order (cat, dog, fox), most confident first.
        assert_that(
            items | beam.Map(names),
            equal_to(
                [
                    (
                        ["f.png", "a.png", "c.png"],
                        [
                            ("cat", ["d.png", "c.png"]),
                            ("dog", ["g.png", "e.png"]),
                            ("fox", ["h.png"]),
                        ],
                    )
                ]
            ),
        )


def test_collect_report_items_keeps_every_row_field():
    row = _row("/nowhere/x.png", "cat", "dog", 0.5)
    with TestPipeline() as p:
        items = (
            p | "Rows" >> beam.Create([row]),
            p | "Errors" >> beam.Create([], reshuffle=False).with_output_types(ErrorRow),
        ) | CollectReportItems(5)
        assert_that(
            items,
            equal_to(
                [
                    {
                        "mistakes": [dict(row, thumbnail=None)],
                        "failures": [],
                        "least_confident": [dict(row, thumbnail=None)],
                        "most_confident": [{"label": "dog", "rows": [dict(row, thumbnail=None)]}],
                    }
                ]
            ),
        )


def test_collect_report_items_on_empty_inputs_gives_one_empty_element():
    with TestPipeline() as p:
        items = (
            p | "Rows" >> beam.Create([]).with_output_types(dict),
            p | "Errors" >> beam.Create([]).with_output_types(ErrorRow),
        ) | CollectReportItems(24)
        assert_that(
            items,
            equal_to(
                [{"mistakes": [], "failures": [], "least_confident": [], "most_confident": []}]
            ),
        )


# --------------------------------------------------------------------------------------
# render_report
# --------------------------------------------------------------------------------------
def _summary(labels=LABELS, matrix=None, abstained=0):
    """A summary.json-shaped document built by the pipeline's own CombineFn."""
    from bucketscore.transforms.summarising import SummaryFn

    fn = SummaryFn(labels)
    acc = fn.create_accumulator()
    matrix = matrix or [[5, 1, 0], [0, 4, 2], [1, 0, 6]]
    n = 0
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            for _ in range(count):
                n += 1
                acc = fn.add_input(acc, _row(f"s3://b/{n}.png", labels[i], labels[j], 0.9))
    for _ in range(abstained):
        acc = fn.add_input(acc, _row("s3://b/low.png", labels[0], None, 0.1, below=True))
    scores = fn.extract_output(acc)
    from bucketscore.run_folder.summary import build_summary

    model = {"uri": "s3://m/", "name": "toy", "version": "v1", "labels": list(labels)}
    scored = scores["counts"]["scored"]
    return build_summary("run1", scores, listed=scored + 2, failed=2, model=model, top_k=2)


def _img_srcs(page: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]*)"', page)


def test_render_report_is_self_contained_with_figures_and_thumbnails():
    thumb = thumbnail(image_bytes(_rgb(20, 20)))
    mistakes = [
        dict(_row("s3://b/dog/x.png", "dog", "fox", 0.93), thumbnail=thumb),
        dict(_row("s3://b/cat/y.png", "cat", "dog", 0.81), thumbnail=None),
    ]
    failures = [
        {
            "uri": "s3://b/fox/z.jpg",
            "stage": "decode",
            "error": "DecodeError: bad",
            "thumbnail": thumb,
        }
    ]
    summary = _summary()
    page = render_report(
        summary, mistakes, failures, {"input": ["s3://b/"], "top_k": 2, "beam_options": ["--x=***"]}
    )
    assert page.startswith("<!DOCTYPE html>")
    # Nothing outside the file: no scripts, stylesheets or remote images.
    assert "<script" not in page and "<link" not in page
    assert not re.search(r'(src|href)="(?!data:)', page)
    srcs = _img_srcs(page)
    # confusion matrix, per-class bars, class distribution, confidence histogram, two
    # thumbnails
    assert len(srcs) == 4 + 2
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
    summary = _summary(labels=labels)
    mistakes = [dict(_row(f"s3://b/{evil}.png", evil, "ok", 0.9), thumbnail=None)]
    failures = [
        {"uri": f"/data/{evil}.png", "stage": "read", "error": f"Err: {evil}", "thumbnail": None}
    ]
    page = render_report(summary, mistakes, failures, {"input": [evil], evil: evil})
    assert "<script" not in page and "<b>&" not in page and "alert(1)<" not in page
    assert "a&lt;b&gt;&amp;&quot;q&#x27;&lt;script&gt;" in page
    # Every attribute value is quoted and holds no raw quote or angle bracket.
    for attr in re.findall(r'(?:title|alt)="([^"]*)"', page):
        assert "<" not in attr and ">" not in attr
    assert len(_img_srcs(page)) == 4  # the figures were drawn despite the odd labels


def test_render_report_without_labels_or_results():
    summary = _summary()
    summary.update(empty_summary(LABELS))
    summary["counts"] = {"listed": 0, "scored": 0, "failed": 0, "labelled": 0}
    summary["accuracy"] = summary["top_k_accuracy"] = None
    page = render_report(summary, [], [], {})
    assert _img_srcs(page) == []
    assert "No labelled images" in page and 'id="mistakes"' not in page  # nothing to be wrong
    assert "No image failed" in page and "n/a" in page


def test_many_classes_are_cut_to_readable_figures():
    labels = [f"class_{i:03d}" for i in range(120)]
    matrix = [[0] * 120 for _ in range(120)]
    for i in range(120):
        matrix[i][i] = 1 + i % 7
        matrix[i][(i + 1) % 120] = i % 3
    summary = _summary(labels=labels, matrix=matrix)
    page = render_report(summary, [], [], {})
    assert "shows the 40 most frequent classes" in page
    assert "the 60 classes with the lowest F1" in page
    assert "the 60 most predicted classes of 120" in page
    srcs = _img_srcs(page)
    assert len(srcs) == 4  # matrix, per-class bars, class distribution, confidence histogram
    for src in srcs:
        w, h = _png_size(base64.b64decode(src.split(",", 1)[1]))
        assert w <= 2000 and h <= 2500


def test_absent_classes_are_left_out_of_the_matrix():
    labels = [str(i) for i in range(10)]
    matrix = [[0] * 10 for _ in range(10)]
    matrix[3][3], matrix[8][8], matrix[8][1] = 5, 4, 1
    page = render_report(_summary(labels=labels, matrix=matrix), [], [], {})
    assert "left out of the matrix" in page
    full = [[1 if i == j else 0 for j in range(10)] for i in range(10)]
    assert "left out of the matrix" not in render_report(
        _summary(labels=labels, matrix=full), [], [], {}
    )


def test_write_report_writes_the_page_and_never_raises(tmp_path, caplog):
    from bucketscore.run_folder.layout import REPORT
    from bucketscore.run_folder.report_page import write_report

    run = str(tmp_path / "run") + "/"
    summary = _summary()
    items = {
        "mistakes": [dict(_row("s3://b/x.png", "cat", "dog", 0.9), thumbnail=None)],
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
