"""transforms/beam_without_torch.py: Beam's worker processes import no torch for
RunInference (through --beam_plugin), while torch is installed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")  # without torch there is nothing to keep out


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_beams_base_alone_imports_torch_and_the_plugin_stops_it():
    # The control: Beam 2.77's base imports its model manager, which imports torch.
    assert (
        _python("import sys, apache_beam.ml.inference.base; print('torch' in sys.modules)")
        == "True"
    )
    assert (
        _python(
            "import sys, bucketscore.transforms.beam_without_torch as m, apache_beam.ml.inference"
            ".base as b; print('torch' in sys.modules, b.resource is not None)"
        )
        == "False True"
    )


PIPELINE = """
import json, sys
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

def probe(_):
    import apache_beam.ml.inference.base  # what a worker running RunInference imports
    return "torch" in sys.modules

flags = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"] + sys.argv[1:]
with beam.Pipeline(options=PipelineOptions(flags)) as p:
    (p | beam.Create(range(4)) | beam.Map(probe)
       | beam.combiners.ToList()
       | beam.Map(lambda seen: open(OUT, "w").write(json.dumps(seen))))
"""


def test_worker_processes_import_the_guard_first(tmp_path):
    # Without the plugin these workers would report True (the first test's control: Beam's
    # base imports torch when nothing stopped it).
    out = tmp_path / "seen.json"
    script = tmp_path / "pipeline.py"
    script.write_text(PIPELINE.replace("OUT", repr(str(out))))
    done = subprocess.run(
        [sys.executable, str(script), "--beam_plugin=bucketscore.transforms.beam_without_torch"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(out.read_text())
    assert seen == [False] * 4
