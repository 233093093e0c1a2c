"""transforms.prepare_run_folder.PrepareRunFolder: a classic template's run folder cleared
from inside the pipeline, before anything is listed (Beam's temporary files kept); and the
run_folder.layout.clear_run_folder rules it applies."""

import os

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.run_folder.layout import NotARunFolder, clear_run_folder
from bucketscore.transforms import launch_values as lv
from bucketscore.transforms.prepare_run_folder import PrepareRunFolder


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


def test_the_stage_keeps_beams_temporary_files_and_gives_the_start_time(tmp_path):
    import datetime as dt

    run = str(tmp_path / "out" / "r1") + "/"
    _touch(run + "manifest.json")
    _touch(run + "beam-temp-predictions-7/part-0")
    with TestPipeline() as p:
        started = p | PrepareRunFolder(run)
        assert_that(
            started | beam.Map(lambda t: dt.datetime.fromisoformat(t).tzinfo is not None),
            equal_to([True]),
        )
    assert os.listdir(run) == ["beam-temp-predictions-7"]


def test_the_stage_refuses_a_folder_that_is_not_a_run(tmp_path):
    photos = str(tmp_path / "photos") + "/"
    _touch(photos + "holiday.jpg")
    with pytest.raises(Exception, match="not a bucketscore run folder"):
        with TestPipeline() as p:
            p | PrepareRunFolder(photos)
    assert os.listdir(photos) == ["holiday.jpg"]
