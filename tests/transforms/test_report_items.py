"""CollectReportItems, the Beam stage: from prediction rows and error rows to the ONE element
report.html is drawn from (the n most confident mistakes, the first n failures, the least
confident rows, the most confident per class), each with a thumbnail; on TestPipeline. Which
rows count and their order (run_folder.report_selection) and the thumbnails themselves
(run_folder.thumbnails) are tested directly in tests/run_folder/.
"""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.transforms.records import ErrorRow
from bucketscore.transforms.report_items import CollectReportItems
from tests.support.helpers import image_bytes, write_file
from tests.support.report_rows import LABELS, png_size, prediction_row, rgb


def _summarise_items(items):
    """What assert_that compares: names, order, and whether a PNG thumbnail came with it."""

    def thumb(t):
        return None if t is None else png_size(t)

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
        files[f"m{i}.png"] = write_file(f"{root}/m{i}.png", image_bytes(rgb(20, 30, i)))
    rows = [
        prediction_row(files["m0.png"], "cat", "dog", 0.55),
        prediction_row(files["m1.png"], "cat", "fox", 0.95),
        prediction_row(files["m2.png"], "dog", "cat", 0.75),
        prediction_row(files["m3.png"], "dog", "dog", 0.99),  # right
        prediction_row(files["m4.png"], None, "dog", 0.999),  # unlabelled
        prediction_row(files["m5.png"], "fox", None, 0.3, below=True),  # abstained
        prediction_row(files["m6.png"], "fox", "cat", 0.75),  # ties with m2: m2 < m6 wins
        prediction_row(files["m7.png"], "owl", "dog", 0.98),  # a label the model does not know
        prediction_row(f"{root}/gone.png", "fox", "dog", 0.90),
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
        prediction_row("/x/a.png", None, "dog", 0.40),
        prediction_row("/x/b.png", None, "dog", 0.90),
        prediction_row("/x/c.png", "cat", "cat", 0.40),
        prediction_row("/x/d.png", None, "cat", 0.99),
        prediction_row("/x/e.png", None, "dog", 0.95),
        prediction_row("/x/f.png", "fox", None, 0.2, below=True),
        prediction_row("/x/g.png", None, "dog", 0.97),
        prediction_row("/x/h.png", None, "fox", 0.6),
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
    row = prediction_row("/nowhere/x.png", "cat", "dog", 0.5)
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


def test_collect_report_items_with_n_zero_keeps_only_the_per_class_rows():
    row = prediction_row("/x/a.png", "cat", "dog", 0.9)
    with TestPipeline() as p:
        items = (
            p | "Rows" >> beam.Create([row]),
            p | "Errors" >> beam.Create([ErrorRow("/x/b.png", "read", "gone")]),
        ) | CollectReportItems(0, per_class=1)
        assert_that(
            items,
            equal_to(
                [
                    {
                        "mistakes": [],
                        "failures": [],
                        "least_confident": [],
                        "most_confident": [{"label": "dog", "rows": [dict(row, thumbnail=None)]}],
                    }
                ]
            ),
        )


def test_collect_report_items_refuses_negative_counts():
    with pytest.raises(ValueError, match="n and per_class must be >= 0, not -1, 3"):
        CollectReportItems(-1)
    with pytest.raises(ValueError, match="not 2, -1"):
        CollectReportItems(2, per_class=-1)
