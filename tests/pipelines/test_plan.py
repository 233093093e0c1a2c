"""pipelines.plan: what a run will do, decided once, without running or writing anything.

Every test here calls `plan()` (or `bucketscore score --plan`) and checks the decision and
that nothing was written: no run folder, no output prefix, no state pointer.
"""

from __future__ import annotations

import argparse
import json
import os

import pytest

from bucketscore.cli.main import main
from bucketscore.errors import UsageError
from bucketscore.pipelines.options import add_score_arguments, config_from_args
from bucketscore.pipelines.plan import plan
from bucketscore.pipelines.workers import SMALL_RUN_IMAGES
from tests.support.helpers import copy_demo_subset
from tests.support.storage_servers import unique_bucket_name


def config_of(argv: list[str]):
    parser = argparse.ArgumentParser()
    add_score_arguments(parser)
    args, extra = parser.parse_known_args(argv)
    return config_from_args(args, extra)


def files_under(path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(r, n), path) for r, _d, names in os.walk(path) for n in names
    )


@pytest.fixture
def images(demo_bundle, tmp_path):
    folder = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(folder), per_class=2)  # 20 images
    return folder


def test_a_small_local_run(demo_bundle, images, tmp_path):
    out = tmp_path / "out"
    p = plan(
        config_of(
            [
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(out),
                "--run_id",
                "r1",
                "--top_k",
                "50",
                "--executor",
                "beam",
            ]
        )
    )
    assert p.runner.local and not p.runner.template and p.waits and p.completes_after_run
    assert p.meta.version == demo_bundle.meta.version
    assert (p.inference.backend, p.inference.device, p.inference.batch_size) == ("onnx", "cpu", 4)
    assert p.images == 20 and p.counted and p.workers.small and p.shards == 1
    assert p.workers.workers == 1 and p.beam_args == ()
    assert p.top_k == 10  # at most the model's labels, decided here once
    assert p.info.top_k == 10 and p.info.run_uri == p.run_uri == str(out / "r1") + "/"
    assert p.info.extra["inference"] == {
        "backend": "onnx",
        "device": "cpu",
        "batch_size": 4,
        "model_copies": None,
        "executor": "beam",
        "workers": 1,
        "running_mode": "in_memory",
        "threads_per_worker": p.workers.cores,
    }
    assert p.base_run is None
    assert p.notes == (
        "bucketscore: WARNING: --top_k 50: the model has 10 labels; 10 are kept per image",
    )
    lines = p.start_lines()
    assert lines[:2] == [
        f"bucketscore: scoring {images} with {demo_bundle.model}",
        f"bucketscore: run r1 -> {out}/r1/",
    ]
    assert not out.exists()


def test_users_worker_flags_are_kept_and_the_images_not_counted(demo_bundle, images, tmp_path):
    flags = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    p = plan(
        config_of(
            [
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out"),
                *flags,
            ]
        )
    )
    assert p.images is None and not p.counted and not p.workers.small
    assert p.beam_args == tuple(flags) and p.shards == 0
    assert "not counted" in "\n".join(p.describe())


def test_more_images_than_a_small_run_are_not_counted_further(demo_bundle, tmp_path, monkeypatch):
    import bucketscore.pipelines.plan as plan_module

    seen = {}

    def count(inputs, limit):
        seen["limit"] = limit
        return None  # more than the limit

    monkeypatch.setattr(plan_module, "count_images", count)
    p = plan(
        config_of(
            [
                "--input",
                demo_bundle.data,
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out"),
                "--executor",
                "beam",
            ]
        )
    )
    assert seen["limit"] == SMALL_RUN_IMAGES
    assert p.images is None and p.counted and not p.workers.small
    assert p.workers.workers == min(2, p.workers.cores) or p.workers.cores == 1
    assert f"more than {SMALL_RUN_IMAGES:,}" in "\n".join(p.describe())


def test_an_incremental_run_plans_on_its_base_run(demo_bundle, images, tmp_path):
    out = tmp_path / "out"
    argv = [
        "--input",
        str(images),
        "--model",
        demo_bundle.model,
        "--output",
        str(out),
        "--incremental",
    ]
    first = plan(config_of(argv + ["--run_id", "day1"]))
    assert first.base_run is None and "no completed run with model version" in first.notes[0]
    assert main(["score", *argv, "--run_id", "day1", "--no_progress"]) == 0
    before = files_under(out)
    second = plan(config_of(argv + ["--run_id", "day2"]))
    assert second.base_run == str(out / "day1") + "/"
    assert second.notes == (f"bucketscore: incremental: building on {out}/day1/",)
    assert second.info.base_run == second.base_run
    # replacing the base run itself: nothing to build on, and it says so
    again = plan(config_of(argv + ["--run_id", "day1"]))
    assert again.base_run is None and "being replaced" in again.notes[0]
    assert files_under(out) == before  # planning wrote nothing


def test_a_manifest_run(demo_bundle, images, tmp_path):
    listing = tmp_path / "list.jsonl"
    names = sorted(files_under(images))[:5]
    listing.write_text(
        "".join(
            json.dumps({"uri": str(images / n), "label": n.split("/")[0]}) + "\n" for n in names
        )
    )
    p = plan(
        config_of(
            [
                "--input",
                f"manifest:{listing}",
                "--labels",
                "manifest",
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "out"),
            ]
        ),
        count=True,
    )
    assert p.images == 5 and p.inputs == [f"manifest:{listing}"]
    assert "manifest" in "\n".join(p.describe())
    with pytest.raises(UsageError, match="no such file or folder"):
        plan(
            config_of(
                [
                    "--input",
                    f"manifest:{tmp_path / 'missing.jsonl'}",
                    "--model",
                    demo_bundle.model,
                    "--output",
                    str(tmp_path / "out"),
                ]
            )
        )


def test_a_run_from_s3(demo_bundle, s3_server, tmp_path):
    bucket = s3_server.create_bucket(unique_bucket_name("plan"))
    client = s3_server.boto3_client()
    for i in range(3):
        client.put_object(
            Bucket=bucket,
            Key=f"in/7/{i}.png",
            Body=open(
                os.path.join(
                    demo_bundle.data,
                    "7",
                    sorted(os.listdir(os.path.join(demo_bundle.data, "7")))[i],
                ),
                "rb",
            ).read(),
        )
    p = plan(
        config_of(
            [
                "--input",
                f"s3://{bucket}/in/",
                "--model",
                demo_bundle.model,
                "--output",
                f"s3://{bucket}/out/",
                "--run_id",
                "r",
                "--executor",
                "beam",
                *s3_server.beam_options(),
            ]
        )
    )
    assert p.images == 3 and p.run_uri == f"s3://{bucket}/out/r/"
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert sorted(o["Key"] for o in listed) == [f"in/7/{i}.png" for i in range(3)]


def test_a_template_build_plans_launch_values_and_no_run_folder(demo_bundle):
    p = plan(
        config_of(
            [
                "--model",
                demo_bundle.model,
                "--runner",
                "DataflowRunner",
                "--project",
                "p",
                "--region",
                "r",
                "--temp_location",
                "gs://b/tmp",
                "--template_location",
                "gs://b/t.json",
            ]
        )
    )
    assert p.runner.template and not p.waits and p.run_uri == ""
    assert p.beam_args[-1] == "--job_name=bucketscore-template-build"
    assert p.images is None and not p.workers.local
    assert "workers" not in p.info.extra["inference"]
    assert p.info.arguments["template"] == "gs://b/t.json"
    assert p.start_lines()[0].startswith("bucketscore: building a classic template")
    assert "given at launch" in "\n".join(p.describe())


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--embeddings"], "does not export embeddings"),
        (["--labels", "csv:{tmp}/missing.csv"], "cannot read the labels CSV"),
        (["--backend", "tf", "--device", "gpu"], "--device gpu"),
    ],
)
def test_what_needs_the_bundle_or_storage_is_refused_when_planning(
    demo_bundle, images, tmp_path, argv, message
):
    import shutil

    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    bundle = demo_bundle.model
    if "--embeddings" in argv:  # the demo bundle, its model.json saying: no embeddings
        bundle = str(tmp_path / "bundle")
        shutil.copytree(demo_bundle.model, bundle)
        meta = json.load(open(os.path.join(bundle, "model.json")))
        meta["outputs"] = ["probabilities"]
        with open(os.path.join(bundle, "model.json"), "w") as f:
            json.dump(meta, f)
    with pytest.raises(UsageError, match=message):
        plan(
            config_of(
                [
                    "--input",
                    str(images),
                    "--model",
                    bundle,
                    "--output",
                    str(tmp_path / "out"),
                    *argv,
                ]
            )
        )
    assert not (tmp_path / "out").exists()


def test_score_plan_prints_the_plan_and_writes_nothing(demo_bundle, images, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(out),
                "--run_id",
                "r1",
                "--plan",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "nothing was run or written" in text
    for word in (
        "inputs",
        "images",
        "20",
        demo_bundle.meta.version,
        "ONNX Runtime",
        "batches of 4",
        f"{out}/r1/",
        "label checks  suspect_labels.csv (up to 1,000 rows), duplicates.csv",
    ):
        assert word in text, word
    assert not out.exists()
