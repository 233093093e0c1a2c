"""bucketscore.score: a run started from Python, checked as the command line checks it,
returned as bucketscore.results.Run (predictions compared with the command's own run)."""

import pytest

import bucketscore
from bucketscore.cli.main import main
from bucketscore.errors import UsageError
from bucketscore.run_folder.finish import RunFailed
from tests.support.helpers import copy_demo_subset, read_local_run


def test_score_returns_the_run_as_the_command_writes_it(demo_bundle, tmp_path, capsys):
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=2)
    run = bucketscore.score(
        str(images), demo_bundle.model, str(tmp_path / "py"), run_id="r", top_k=3, exclude=["9/*"]
    )
    assert run.completed and run.run_id == "r" and run.uri == str(tmp_path / "py" / "r") + "/"
    assert len(run.predictions) == 18 and run.summary["counts"]["scored"] == 18
    assert run.summary["selection"]["exclude"] == ["9/*"]
    assert all(len(labels) == 3 for labels in run.predictions.top_k_labels)
    assert (
        main(
            [
                "score",
                "--input",
                str(images),
                "--model",
                demo_bundle.model,
                "--output",
                str(tmp_path / "cli"),
                "--run_id",
                "r",
                "--top_k",
                "3",
                "--exclude",
                "9/*",
            ]
        )
        == 0
    )
    capsys.readouterr()
    cli_rows = {r["uri"]: r for r in read_local_run(str(tmp_path / "cli" / "r"))["predictions"]}
    for row in run.predictions.itertuples():
        assert row.predicted_label == cli_rows[row.uri]["predicted_label"]
        assert row.confidence == pytest.approx(cli_rows[row.uri]["confidence"], abs=1e-6)


@pytest.mark.parametrize(
    "options,message",
    [
        ({"top_kk": 3}, r"unknown option\(s\): top_kk=3 \(did you mean top_k\?\)"),
        ({"top_k": 0}, "must be at least 1"),
        ({"sample": 3, "limit": 3}, "give one"),
    ],
)
def test_wrong_options_raise_the_commands_message(demo_bundle, tmp_path, options, message):
    with pytest.raises(UsageError, match=message):
        bucketscore.score(demo_bundle.data, demo_bundle.model, str(tmp_path / "o"), **options)
    assert not (tmp_path / "o").exists()


def test_a_missing_input_is_a_usage_error_and_a_failing_run_raises_run_failed(
    demo_bundle, tmp_path
):
    with pytest.raises(UsageError, match="no such file or folder"):
        bucketscore.score(str(tmp_path / "none"), demo_bundle.model, str(tmp_path / "o"))
    broken = tmp_path / "broken"
    (broken / "0").mkdir(parents=True)
    for i in range(3):
        (broken / "0" / f"{i}.png").write_bytes(b"not a png")
    with pytest.raises(RunFailed, match="3 of 3 images failed"):
        bucketscore.score(str(broken), demo_bundle.model, str(tmp_path / "o"))


def test_importing_bucketscore_loads_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys, bucketscore\n"
        "print(sorted({'apache_beam', 'tensorflow', 'PIL'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
    assert bucketscore.score.__doc__ and "bucketscore.results.Run" in bucketscore.score.__doc__
