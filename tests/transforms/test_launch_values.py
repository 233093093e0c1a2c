"""transforms.launch_values (what a template reads at launch) and transforms.run_folder
(clearing a re-used run folder), as plain functions and in a pipeline."""

import os
import pickle

import apache_beam as beam
import pytest
from apache_beam.options.value_provider import RuntimeValueProvider
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.run_folder.layout import NotARunFolder, clear_run_folder
from bucketscore.transforms import launch_values as lv
from bucketscore.transforms.prepare_run_folder import PrepareRunFolder


@pytest.fixture
def runtime_options():
    """Stand in for a worker's runtime context: the options a launch hands it."""

    def set_options(options):
        RuntimeValueProvider.set_runtime_options(options)

    yield set_options
    RuntimeValueProvider.set_runtime_options(None)


def test_static_target_is_the_given_values(tmp_path):
    t = lv.RunTarget.static([str(tmp_path / "a b"), "gs://b/x/*.png"], str(tmp_path / "out"), "r1")
    assert lv.value_of(t.inputs) == [str(tmp_path / "a b"), "gs://b/x/*.png"]
    assert lv.value_of(t.run_uri) == str(tmp_path / "out" / "r1") + "/"
    assert lv.value_of(t.run_id) == "r1"
    again = pickle.loads(pickle.dumps(t))
    assert lv.value_of(again.run_uri) == lv.value_of(t.run_uri)


def test_launch_target_reads_the_launch_parameters(runtime_options):
    t = lv.RunTarget.at_launch("built-as", output_default="gs://r/default/")
    shipped = pickle.loads(pickle.dumps(t))  # as workers receive it
    runtime_options({"input": "gs://b/one/ 'gs://b/two words/'", "run_id": "n1"})
    assert lv.value_of(shipped.inputs) == ["gs://b/one/", "gs://b/two words/"]
    assert lv.value_of(shipped.run_uri) == "gs://r/default/n1/"  # the build's default output


def test_run_id_defaults_to_the_launch_job_name_but_never_the_build_one(runtime_options):
    runtime_options({"input": "gs://b/", "output": "gs://r/", "job_name": "nightly-7"})
    t = pickle.loads(pickle.dumps(lv.RunTarget.at_launch("built-as")))
    assert lv.value_of(t.run_uri) == "gs://r/nightly-7/"
    runtime_options({"input": "gs://b/", "output": "gs://r/", "job_name": "built-as"})
    t = pickle.loads(pickle.dumps(lv.RunTarget.at_launch("built-as")))
    with pytest.raises(lv.LaunchValueError, match="run_id=NAME"):
        lv.value_of(t.run_uri)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"output": "gs://r/", "run_id": "x"}, "input=URI"),
        ({"input": "gs://b/", "run_id": "x"}, "output=URI"),
        ({"input": "gs://b/", "output": "gs://r/", "run_id": "a/b"}, "plain folder name"),
    ],
)
def test_missing_or_bad_launch_parameters_say_which(runtime_options, params, message):
    runtime_options(params)
    t = lv.RunTarget.at_launch("built-as")
    with pytest.raises(lv.LaunchValueError, match=message):
        lv.value_of(t.inputs), lv.value_of(t.run_uri)


def _touch(path, data=b"x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def test_clear_run_folder_removes_an_earlier_run_and_keeps_temp_when_asked(tmp_path):
    run = str(tmp_path / "run") + "/"
    for name in (
        "_SUCCESS",
        "summary.json",
        "predictions-00000-of-00003.csv",
        "beam-temp-predictions-1/part",
        "report.html",
    ):
        _touch(run + name)
    assert clear_run_folder(run, keep_temp=True) == 4
    assert os.listdir(run) == ["beam-temp-predictions-1"]
    assert clear_run_folder(run) == 1
    assert os.listdir(run) == []
    assert clear_run_folder(str(tmp_path / "never-made") + "/") == 0


def test_clear_run_folder_refuses_a_folder_that_is_not_a_run(tmp_path):
    run = str(tmp_path / "photos") + "/"
    _touch(run + "holiday.jpg")
    with pytest.raises(NotARunFolder, match="not a bucketscore run folder"):
        clear_run_folder(run)
    assert os.listdir(run) == ["holiday.jpg"]


def test_prepare_run_folder_in_a_pipeline_with_a_launch_value(tmp_path):
    run = str(tmp_path / "out" / "nightly") + "/"
    _touch(run + "_SUCCESS")
    _touch(run + "predictions-00001-of-00002.csv")
    target = lv.RunTarget(("unused",), str(tmp_path / "out"), lv.Derived(str.strip, " nightly "))
    with TestPipeline() as p:
        started = p | PrepareRunFolder(target.run_uri)
        assert_that(started | beam.Map(lambda t: t[:2]), equal_to(["20"]))
    assert os.listdir(run) == []
