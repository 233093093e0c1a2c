"""pipelines.features.incremental: the --incremental flag, and base_run(): no base run, the
last completed run to build on, never an incomplete one, never the run being replaced."""

from __future__ import annotations

from bucketscore.bundle.meta import BundleMeta, InputSpec
from bucketscore.pipelines.features import incremental
from bucketscore.pipelines.options import ScoreConfig
from bucketscore.run_folder.state import write_pointer


def config(out, run_id: str, **kw) -> ScoreConfig:
    return ScoreConfig(inputs=("/imgs/",), output=str(out), model="/m", run_id=run_id, **kw)


def completed_run(out, run_id: str, version: str) -> str:
    """A run folder with _SUCCESS and the state pointer, as a completed run leaves them."""
    (out / run_id).mkdir(parents=True)
    (out / run_id / "_SUCCESS").write_text("{}\n")
    write_pointer(str(out), version, run_id, "2026-11-01T00:00:00+00:00")
    return f"{out}/{run_id}/"


def test_the_flag():
    flag = incremental.FLAG.metadata["flag"]
    assert flag.name == "incremental" and incremental.FLAG.default is False
    assert flag.argparse == {"action": "store_true"}
    assert "new or changed" in flag.help


def test_checks_have_nothing_to_refuse():
    meta = BundleMeta(name="m", version="v", labels=("a",), input=InputSpec(8, 8, 1), files={})
    c = ScoreConfig(inputs=("/imgs/",), output="/o", model="/m", incremental=True)
    assert incremental.check(c) is None and incremental.check_bundle(c, meta) is None


def test_no_base_run_without_incremental(tmp_path):
    completed_run(tmp_path, "day1", "v1")
    assert incremental.base_run(config(tmp_path, "day2"), "v1") == (None, "")


def test_no_completed_run_yet(tmp_path):
    base, note = incremental.base_run(config(tmp_path, "day1", incremental=True), "v1")
    assert base is None
    assert note == (
        f"bucketscore: incremental: no completed run with model version v1 under "
        f"{tmp_path}; scoring everything"
    )


def test_building_on_the_last_completed_run_of_that_model_version(tmp_path):
    day1 = completed_run(tmp_path, "day1", "v1")
    c = config(tmp_path, "day2", incremental=True)
    assert incremental.base_run(c, "v1") == (day1, f"bucketscore: incremental: building on {day1}")
    # another model version has no run to build on
    assert incremental.base_run(c, "v2")[0] is None


def test_never_on_a_run_without_success(tmp_path):
    completed_run(tmp_path, "day1", "v1")
    (tmp_path / "day1" / "_SUCCESS").unlink()  # as if it had died before finishing
    assert incremental.base_run(config(tmp_path, "day2", incremental=True), "v1")[0] is None


def test_never_on_the_run_being_replaced(tmp_path):
    completed_run(tmp_path, "day1", "v1")
    base, note = incremental.base_run(config(tmp_path, "day1", incremental=True), "v1")
    assert base is None
    assert note == (
        "bucketscore: incremental: the last completed run is the run being replaced "
        "(same --run_id); scoring everything"
    )
