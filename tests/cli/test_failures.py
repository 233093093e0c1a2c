"""cli.failures: cause_line, the one line a failed run prints, on representative exception
texts: a storage failure, a run that refused to complete (RunFailed, as Beam re-raises it in
this process and as a worker process reports it), and Beam's "while running 'Decode'" text
naming an object."""

from __future__ import annotations

import apache_beam as beam
import pytest

from bucketscore.cli.failures import cause_line
from bucketscore.run_folder.finish import RunFailed

STORAGE_TEXT = (
    "Traceback (most recent call last):\n"
    '  File "apache_beam/runners/common.py", line 1501, in process\n'
    '  File "/app/transforms/concurrent_reading.py", line 88, in process\n'
    "ValueError: a first error, lower in the chain\n"
    "bucketscore.storage.errors.StorageUnavailable: bucketscore storage failed: imgs "
    "(s3://imgs/a/1.png) did not answer for 30 s (7 attempts; --storage_retry_seconds): "
    "Could not connect to the endpoint URL [while running 'ReadBytes/ParDo(Read)']\n"
    "bucketscore run failed: not this one\n"
)

DECODE_TEXT = (
    "Traceback (most recent call last):\n"
    '  File "apache_beam/runners/common.py", line 1501, in process\n'
    '  File "/app/transforms/decoding.py", line 71, in process\n'
    "element: ReadImage(uri='s3://imgs/cats/001.jpg', size=2048)\n"
    "OSError: image file is truncated (12 bytes not processed) "
    "[while running 'Decode/ParDo(DecodeImages)']\n"
)


def test_a_storage_failure_comes_first():
    assert cause_line(RuntimeError(STORAGE_TEXT)) == (
        "storage failed: imgs (s3://imgs/a/1.png) did not answer for 30 s (7 attempts; "
        "--storage_retry_seconds): Could not connect to the endpoint URL "
        "[while running 'ReadBytes/ParDo(Read)']"
    )


class _Refuse(beam.DoFn):
    def process(self, _):
        raise RunFailed("5 of 15 images failed (33.3% > --max_error_ratio 0.1)")


def test_a_run_that_refused_to_complete_as_beam_reraises_it():
    # Beam re-raises a DoFn's exception as the same type with the step added to its
    # message (RunFailed adds its mark again): a real pipeline, in this process.
    with pytest.raises(RunFailed) as e:
        with beam.Pipeline() as p:
            _ = p | beam.Create([None]) | "FinishRun" >> beam.ParDo(_Refuse())
    assert str(e.value).count("bucketscore run failed:") == 2
    assert cause_line(e.value) == (
        "5 of 15 images failed (33.3% > --max_error_ratio 0.1) [while running 'FinishRun']"
    )


def test_a_run_that_refused_to_complete_in_a_worker_process():
    text = (
        "Pipeline job failed: Traceback (most recent call last):\n"
        '  File "/app/transforms/finishing.py", line 63, in process\n'
        "bucketscore.run_folder.finish.RunFailed: bucketscore run failed: 3 listed images "
        "are neither scored nor failed [while running 'FinishRun']\n"
    )
    assert cause_line(RuntimeError(text)) == (
        "3 listed images are neither scored nor failed [while running 'FinishRun']"
    )


def test_beam_while_running_decode_names_the_stage_and_the_object():
    assert cause_line(RuntimeError(DECODE_TEXT)) == (
        "stage decode: s3://imgs/cats/001.jpg: OSError: image file is truncated "
        "(12 bytes not processed) [while running 'Decode/ParDo(DecodeImages)']"
    )


def test_the_innermost_error_without_its_module_path():
    text = (
        "RuntimeError: outer\n"
        "tensorflow.python.framework.errors_impl.InvalidArgumentError: input must be 4-D "
        "[while running 'Infer/RunInference']\n"
    )
    assert cause_line(RuntimeError(text)) == (
        "stage inference: InvalidArgumentError: input must be 4-D "
        "[while running 'Infer/RunInference']"
    )


def test_an_object_named_in_the_error_is_not_repeated():
    text = "OSError: cannot read gs://b/x.png [while running 'ReadBytes/Read']"
    assert cause_line(RuntimeError(text)) == (
        "stage read: OSError: cannot read gs://b/x.png [while running 'ReadBytes/Read']"
    )


def test_plain_errors_and_unknown_steps():
    assert cause_line(ValueError("bad value")) == "ValueError: bad value"
    assert cause_line(KeyError("k")) == "KeyError: 'k'"
    assert cause_line(RuntimeError("")) == "RuntimeError: "
    text = "ValueError: odd [while running 'Mystery/Step']"
    assert (
        cause_line(RuntimeError(text))
        == "stage Mystery: ValueError: odd [while running 'Mystery/Step']"
    )


def test_a_long_error_is_cut():
    line = cause_line(ValueError("x" * 2000))
    assert line == "ValueError: " + "x" * (600 - len("ValueError: "))
