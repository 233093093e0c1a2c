"""bucketscore.private_apis: each helper does what its docstring says on the installed Beam,
Keras and argparse, checked through their public behaviour: Beam's own option parsing, a
pipeline run on the runner, a small Keras model, the `bucketscore` parser, and the number of
boto3 Sessions Beam's S3 client makes (in a fresh interpreter).
"""

from __future__ import annotations

import subprocess
import sys

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, S3Options
from apache_beam.options.value_provider import RuntimeValueProvider
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from bucketscore import private_apis
from bucketscore.cli.main import _commands, build_parser
from tests.support.helpers import REPO

BEAM_FLAGS = [
    "--runner=DirectRunner",
    "--s3_endpoint_url=http://127.0.0.1:9",
    "--direct_num_workers=3",
    "--project=p",
    "--experiments=a",
    "--experiments=b",
]


def test_beam_option_parser_knows_every_beam_flag():
    known, unknown = private_apis.beam_option_parser().parse_known_args(
        BEAM_FLAGS + ["--s3_endpoint=typo", "--no_such_flag=1"]
    )
    assert unknown == ["--s3_endpoint=typo", "--no_such_flag=1"]
    # The same values Beam's own PipelineOptions reads from these flags.
    beams = PipelineOptions(BEAM_FLAGS).get_all_options()
    for name in ("runner", "s3_endpoint_url", "direct_num_workers", "project", "experiments"):
        assert getattr(known, name) == beams[name], name
    assert known.experiments == ["a", "b"] and known.direct_num_workers == 3


def test_beam_filesystem_options_are_those_set_for_the_filesystems():
    before = private_apis.beam_filesystem_options()
    options = PipelineOptions(["--s3_endpoint_url=http://127.0.0.1:7"])
    FileSystems.set_options(options)
    try:
        got = private_apis.beam_filesystem_options()
        assert got.view_as(S3Options).s3_endpoint_url == "http://127.0.0.1:7"
    finally:
        FileSystems.set_options(before if before is not None else PipelineOptions([]))


class _WorkerOptions(beam.DoFn):
    """The --s3_endpoint_url a worker process sees (Beam's runtime options there)."""

    def process(self, element):
        runtime = RuntimeValueProvider.runtime_options or {}
        yield element, runtime.get("s3_endpoint_url")


def test_fn_api_runner_hands_the_options_to_worker_processes():
    options = PipelineOptions(
        [
            "--s3_endpoint_url=http://127.0.0.1:5",
            "--direct_running_mode=multi_processing",
            "--direct_num_workers=2",
        ]
    )
    runner = private_apis.fn_api_runner(options)
    assert isinstance(runner, FnApiRunner)
    with beam.Pipeline(runner=runner, options=options) as p:
        seen = p | beam.Create([1, 2]) | beam.ParDo(_WorkerOptions())
        assert_that(seen, equal_to([(1, "http://127.0.0.1:5"), (2, "http://127.0.0.1:5")]))


def test_keras_producer_and_inbound_nodes_walk_a_functional_model():
    import keras

    inputs = keras.Input((4,), name="pixels")
    hidden = keras.layers.Dense(3, name="hidden")
    features = hidden(inputs)
    head = keras.layers.Dense(2, name="head")
    outputs = head(features)
    model = keras.Model(inputs, outputs)
    layer, inputs_of_call = private_apis.keras_producer(model.outputs[0])
    assert layer is head
    assert len(inputs_of_call) == 1 and inputs_of_call[0] is features
    layer, inputs_of_call = private_apis.keras_producer(features)
    assert layer is hidden and inputs_of_call[0] is inputs
    nodes = private_apis.keras_inbound_nodes(hidden)
    assert len(nodes) == 1
    hidden(keras.Input((4,)))  # called again, in another graph
    assert len(private_apis.keras_inbound_nodes(hidden)) == 2


def test_subcommand_parser_and_option_kinds_of_the_score_command():
    parser = build_parser(_commands())
    score = private_apis.subcommand_parser(parser, "score")
    args, _extra = score.parse_known_args(
        ["--input", "a/", "b/", "--output", "o", "--model", "m", "--allow_empty"]
    )
    assert args.input == ["a/", "b/"] and args.allow_empty is True
    switches, lists = private_apis.option_kinds(score)
    assert {"--allow_empty", "--no_progress", "-h"} <= switches
    assert "--input" in lists
    assert not ({"--output", "--model", "--top_k"} & (switches | lists))
    runs = private_apis.subcommand_parser(parser, "runs")
    assert "--json" in private_apis.option_kinds(runs)[0]


_SESSIONS = """
import boto3
from apache_beam.io.aws.clients.s3 import boto3_client
from apache_beam.options.pipeline_options import PipelineOptions

made = []
real = boto3.session.Session


class Counting(real):
    def __init__(self, *args, **kwargs):
        made.append(1)
        super().__init__(*args, **kwargs)


boto3.session.Session = Counting
if SHARE:
    from bucketscore.private_apis import share_beam_s3_session

    share_beam_s3_session()
    share_beam_s3_session()  # twice: still one shim
options = PipelineOptions(["--s3_endpoint_url=http://127.0.0.1:9", "--s3_region_name=us-east-1",
                           "--s3_access_key_id=k", "--s3_secret_access_key=s"])
clients = [boto3_client.Client(options) for _ in range(3)]
assert all(c.client.meta.endpoint_url == "http://127.0.0.1:9" for c in clients)
print(len(made))
"""


def _sessions(share: bool) -> int:
    done = subprocess.run(
        [sys.executable, "-c", f"SHARE = {share}\n{_SESSIONS}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.split()[-1])


def test_share_beam_s3_session_makes_beams_clients_share_one_session():
    assert _sessions(share=False) == 3  # Beam alone: a Session per client
    assert _sessions(share=True) == 1


def test_run_inference_base_imports_neither_torch_nor_scipy_and_keeps_the_rest():
    """transforms/inference.py gets Beam's RunInference without PyTorch and SciPy (in a fresh
    process: this one may have imported them); `resource` is set, and ModelManager can still
    be imported afterwards (base.py's own lazy import of it)."""
    code = (
        "import sys\n"
        "import bucketscore.transforms.inference as inference\n"
        "from bucketscore import private_apis\n"
        "base = private_apis.run_inference_base()\n"
        "assert inference.RunInference is base.RunInference\n"
        "assert 'torch' not in sys.modules and 'scipy.optimize' not in sys.modules\n"
        "assert base.resource is not None\n"
        "assert sys.modules.get('apache_beam.ml.inference.model_manager', 0) is not None\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "ok"
