"""What a new user tripped over (issue 26), end to end through the command: counts that agree
everywhere for an incremental run, the wrong model said out loud, settings changed only with a
word, mistakes with a way out, part of a bucket scored, the report's marks."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from bucketscore.cli.main import main
from bucketscore.pipelines.features import incremental
from tests.support.helpers import copy_demo_subset, read_local_run


def score(capsys, *argv) -> tuple[int, str, str]:
    status = main(["score", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def images(demo_bundle, tmp_path):
    folder = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(folder), per_class=2)  # 20 images
    return folder


def test_an_incremental_run_says_scored_now_and_carried_over_everywhere(
    demo_bundle, images, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    common = ["--input", images, "--model", demo_bundle.model, "--output", out, "--incremental"]
    assert score(capsys, *common, "--run_id", "day1")[0] == 0
    extra = tmp_path / "extra"
    copy_demo_subset(demo_bundle.data, str(extra), per_class=3)
    for label in os.listdir(extra):
        name = sorted(os.listdir(extra / label))[2]
        shutil.copy(extra / label / name, images / label / name)  # 10 new images
    status, stdout, stderr = score(capsys, *common, "--run_id", "day2")
    assert status == 0, stderr
    expected = "scored 30 (10 now, 20 carried over)"
    progress = [line for line in stderr.splitlines() if line.startswith("progress:")]
    assert progress and expected in progress[-1], progress  # the last line: the totals
    assert "images listed: 30  scored: 30 (10 now, 20 carried over)  failed: 0" in stdout
    run = read_local_run(str(out / "day2"))
    c = run["summary"]["counts"]
    assert (c["listed"], c["scored"], c["carried_over"]) == (30, 30, 20)
    report = open(out / "day2" / "report.html", encoding="utf-8").read()
    assert 'data-figure="scored now"' in report and 'data-figure="carried over"' in report
    assert main(["runs", "--output", str(out)]) == 0
    assert "30 (10 now, 20 carried over)" in capsys.readouterr().out
    assert main(["runs", "--output", str(out), "--json"]) == 0
    day2 = next(r for r in json.loads(capsys.readouterr().out) if r["run_id"] == "day2")
    assert (day2["scored"], day2["scored_now"], day2["carried_over"]) == (30, 10, 20)

    # A big base run is joined instead of held in memory: the same rows carried either way
    # (day2 is now the base: all 30 unchanged images keep day2's rows, run ids included).
    monkeypatch.setattr(incremental, "IN_MEMORY_BASE_IMAGES", 0)
    assert score(capsys, *common, "--run_id", "day2-joined")[0] == 0
    joined = read_local_run(str(out / "day2-joined"))
    assert joined["summary"]["counts"]["carried_over"] == 30
    fields = ("uri", "run_id", "predicted_label", "confidence", "top_k_labels")
    as_rows = lambda rows: sorted(tuple(r[f] for f in fields) for r in rows)  # noqa: E731
    assert as_rows(joined["predictions"]) == as_rows(run["predictions"])
    assert json.load(open(out / "day2-joined" / "manifest.json"))["inference"]["workers"] == 1


def test_the_wrong_model_is_said_on_the_console_in_the_summary_and_the_report(
    demo_bundle, tmp_path, capsys
):
    photos = tmp_path / "photos"
    copy_demo_subset(demo_bundle.data, str(tmp_path / "digits"), per_class=1)
    for i, src in enumerate(sorted((tmp_path / "digits").rglob("*.png"))):
        dest = photos / ("cat" if i % 2 else "dog") / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest)
    status, stdout, _ = score(
        capsys,
        "--input",
        photos,
        "--model",
        demo_bundle.model,
        "--output",
        tmp_path / "out",
        "--run_id",
        "r",
    )
    assert status == 0
    assert "accuracy: n/a (no image has a label this model knows" in stdout
    warning = next(line for line in stdout.splitlines() if line.startswith("warning:"))
    assert "10 of 10 labelled images have labels this model does not know" in warning
    assert "cat, dog" in warning
    summary = read_local_run(str(tmp_path / "out" / "r"))["summary"]
    assert any("right model" in w for w in summary["warnings"])
    assert "right model" in open(tmp_path / "out" / "r" / "report.html").read()


def test_settings_are_changed_only_with_a_word(demo_bundle, images, tmp_path, capsys):
    status, stdout, _ = score(
        capsys,
        "--input",
        images,
        "--model",
        demo_bundle.model,
        "--output",
        tmp_path / "out",
        "--run_id",
        "r",
        "--top_k",
        "50",
        "--min_confidence",
        "0.9999999",
    )
    assert status == 0
    assert (
        "bucketscore: WARNING: --top_k 50: the model has 10 labels; 10 are kept per image" in stdout
    )
    run = read_local_run(str(tmp_path / "out" / "r"))
    below = run["summary"]["counts"]["below_threshold"]
    assert below > 0
    assert f"below --min_confidence: {below} of 20 images" in stdout
    assert any("--top_k 50" in w for w in run["summary"]["warnings"])
    report = open(tmp_path / "out" / "r" / "report.html", encoding="utf-8").read()
    assert "10 (asked 50; the model has 10 labels)" in report


def test_a_huge_batch_is_refused(demo_bundle, images, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "o"),
                "--batch_size",
                "2000000000",
            ]
        )
    assert e.value.code == 2


def test_mistakes_have_a_way_out(demo_bundle, images, tmp_path, capsys):
    keras_file = tmp_path / "net.keras"
    keras_file.write_bytes(b"not read")
    status, stdout, stderr = score(
        capsys, "--input", images, "--model", keras_file, "--output", tmp_path / "out"
    )
    assert status == 2 and stdout == ""
    assert f"bucketscore export --keras {keras_file} --labels labels.txt" in stderr
    # a run refused before it starts says nothing of a run folder
    status, stdout, stderr = score(
        capsys,
        "--input",
        tmp_path / "missing",
        "--model",
        demo_bundle.model,
        "--output",
        tmp_path / "out",
    )
    assert status == 2 and stdout == "" and "no such file or folder" in stderr
    assert not (tmp_path / "out").exists()


def test_part_of_a_bucket_sample_limit_exclude(demo_bundle, images, tmp_path, capsys):
    common = ["--input", images, "--model", demo_bundle.model, "--output", tmp_path / "out"]
    assert score(capsys, *common, "--run_id", "s1", "--sample", "7", "--exclude", "3/*")[0] == 0
    status, stdout, _ = score(
        capsys, *common, "--run_id", "s2", "--sample", "7", "--exclude", "3/*"
    )
    assert status == 0
    assert "images selected: 7 of 20 listed (3/* excluded; a sample by URI hash)" in stdout
    s1, s2 = (read_local_run(str(tmp_path / "out" / r)) for r in ("s1", "s2"))
    uris = sorted(r["uri"] for r in s1["predictions"])
    assert uris == sorted(r["uri"] for r in s2["predictions"])  # the same sample again
    assert len(uris) == 7 and not any(f"{os.sep}3{os.sep}" in u for u in uris)
    assert s1["summary"]["counts"]["listed"] == 7
    assert s1["summary"]["selection"] == {
        "listed": 20,
        "selected": 7,
        "exclude": ["3/*"],
        "sample": 7,
    }
    assert score(capsys, *common, "--run_id", "l1", "--limit", "4")[0] == 0
    first = sorted(r["uri"] for r in read_local_run(str(tmp_path / "out" / "l1"))["predictions"])
    everything = sorted(str(p) for p in images.rglob("*.png"))
    assert first == everything[:4]


def test_the_report_marks_wrong_predictions_and_colours_right_ones(demo_bundle, tmp_path, capsys):
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    os.rename(images / "1", images / "7x")  # no model label: never right
    shutil.copytree(images / "2", images / "3", dirs_exist_ok=True)  # 2s labelled 3: wrong
    assert (
        score(
            capsys,
            "--input",
            images,
            "--model",
            demo_bundle.model,
            "--output",
            tmp_path / "out",
            "--run_id",
            "r",
        )[0]
        == 0
    )
    report = open(tmp_path / "out" / "r" / "report.html", encoding="utf-8").read()
    section = report[report.index('id="least-confident"') :]
    section = section[: section.index("</section>")]
    assert 'class="item least wrong"' in section and '<span class="tag">wrong</span>' in section
    assert 'class="lab p ok"' in section  # a right prediction in green
