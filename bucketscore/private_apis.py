"""Every use of a library's private API, in one place, with why and the version checked.

Each function wraps one private name of Apache Beam, Keras or argparse. When one of those
libraries is upgraded, this file is the list to re-check (the tests that cover each use are
named below). Imports happen inside the functions: importing this module loads nothing.

Checked against apache-beam 2.77.0, keras 3 (as installed with tensorflow-cpu 2.21.0) and
CPython 3.11's argparse.
"""

from __future__ import annotations

import argparse
from typing import Any


def beam_option_parser() -> argparse.ArgumentParser:
    """An argparse parser that knows every Beam pipeline option (every PipelineOptions
    subclass's flags), built as Beam builds its own.

    Why: to refuse a flag that neither bucketscore nor Beam knows (Beam itself drops unknown
    flags with a warning, so a typo like `--s3_endpoint` would be silently ignored). Private:
    `_BeamArgumentParser` (Beam's parser class, which accepts its custom actions) and each
    class's `_add_argparse_args`. Tests: tests/pipelines/test_options.py (unknown flags),
    tests/bucketscore/test_private_apis.py.
    """
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    seen = set()
    for cls in PipelineOptions.__subclasses__():
        if str(cls) not in seen:
            seen.add(str(cls))
            cls._add_argparse_args(parser)
    return parser


def beam_filesystem_options() -> Any:
    """The PipelineOptions Beam's filesystems use in this process (set by
    `FileSystems.set_options` in the launcher, or the runtime options on a worker).

    Why: bucketscore's own S3 client (storage/s3.py) must use exactly the `--s3_*` options
    Beam's S3 filesystem uses. Private: `FileSystems._pipeline_options`. Tests:
    tests/storage/test_s3.py, every S3 end-to-end test.
    """
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.value_provider import RuntimeValueProvider

    return FileSystems._pipeline_options or RuntimeValueProvider.runtime_options


def fn_api_runner(options) -> Any:
    """Beam's FnApiRunner, built exactly as DirectRunner builds it for a batch pipeline
    (the pipeline options handed to worker processes, so `--s3_*` options reach them).

    Why: DirectRunner first tries the Prism runner, which downloads a Go binary on first use
    (offline it fails, then falls back) and ignores --direct_num_workers /
    --direct_running_mode. Private: `fn_runner.ExtendedProvisionInfo` and
    `JobServiceHandle.encode_pipeline_options` (public classes in internal modules).
    Tests: tests/pipelines/test_runners.py, every local end-to-end run.
    """
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    info = fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    )
    return fn_runner.FnApiRunner(provision_info=info)


def keras_producer(tensor) -> tuple[Any, list]:
    """(the layer that produced a symbolic Keras tensor, that call's input tensors).

    Why: the embeddings are the input of a classifier's final Dense layer; Keras 3 has no
    public way to walk a functional graph backwards from an output. Private:
    `KerasTensor._keras_history` and `Layer._inbound_nodes`. Tests:
    tests/model_export/test_user_models.py (embeddings of nested and wrapped models).
    """
    layer, node_index, _tensor_index = tensor._keras_history
    node = layer._inbound_nodes[node_index]
    return layer, list(node.input_tensors)


def keras_inbound_nodes(layer) -> list:
    """The calls of `layer` in the graphs it is used in (Keras 3 `Layer._inbound_nodes`).

    Why: to find where an outer model calls a nested one (embeddings named by layer inside
    a nested model). Tests: tests/model_export/test_user_models.py.
    """
    return list(layer._inbound_nodes)


def subcommand_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of subcommand `name` (argparse keeps it in a private action).

    Why: the Flex Template launcher (infra/flex_template/main.py) turns launch parameters
    into `bucketscore score` flags and must know which options are switches or lists.
    Private: `ArgumentParser._actions`, `argparse._SubParsersAction`. Tests:
    tests/infra/test_infra_files.py.
    """
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string of a parser (its private `_actions`), --help left out.
    Why: "did you mean" suggestions for a mistyped flag (cli/main.py). Tests:
    tests/cli/test_main.py."""
    return [o for a in parser._actions for o in a.option_strings if o not in ("-h", "--help")]


def option_kinds(parser: argparse.ArgumentParser) -> tuple[set[str], set[str]]:
    """(switch option strings, list option strings) of a parser: its private `_actions`.
    Why and tests: as subcommand_parser."""
    actions = parser._actions
    switches = {opt for a in actions if a.nargs == 0 for opt in a.option_strings}
    lists = {opt for a in actions if a.nargs in ("+", "*") for opt in a.option_strings}
    return switches, lists


def share_beam_s3_session() -> None:
    """Make Beam's S3 filesystem create its boto3 clients from one shared boto3 Session.

    Why: Beam's S3 filesystem (apache_beam.io.aws.clients.s3.boto3_client.Client, made anew
    for every list, open, copy, delete and exists call of the file sinks) starts a fresh
    boto3 Session each time, and botocore then re-reads its JSON service models, a fraction
    of a second of CPU per call (the figures: docs/decisions.md, "One boto3 Session for
    Beam's S3 filesystem"). Clients made from one Session reuse its loaded models (boto3
    clients are thread-safe; a Session's client() is not, hence the lock). Private: the
    module attribute `boto3_client.boto3`, replaced by a shim with the one attribute Beam
    uses (`boto3.session.Session`). Tests: every S3 end-to-end test; the small-run timing in
    `make bench`.
    """
    import threading
    import types

    from apache_beam.io.aws.clients.s3 import boto3_client

    if getattr(boto3_client, "_bucketscore_shared_session", False) or boto3_client.boto3 is None:
        return
    real = boto3_client.boto3
    lock = threading.Lock()
    shared = {}

    class _OneSession:
        def client(self, *args, **kwargs):
            with lock:
                if "session" not in shared:
                    shared["session"] = real.session.Session()
                return shared["session"].client(*args, **kwargs)

    boto3_client.boto3 = types.SimpleNamespace(session=types.SimpleNamespace(Session=_OneSession))
    boto3_client._bucketscore_shared_session = True


def run_inference_base() -> Any:
    """Beam's `apache_beam.ml.inference.base` module (ModelHandler, RunInference,
    PredictionResult), imported without PyTorch and SciPy when nothing loaded it yet.

    Why: the base module imports `apache_beam.ml.inference.model_manager` at module
    level, which imports `torch` and `scipy.optimize`: 2.5-3 s of every `bucketscore score`
    process where PyTorch is installed, for a class (ModelManager) that only RunInference
    with model-manager arguments uses, and that the base module then imports by itself (its
    `global ModelManager ... if ModelManager is None: import`). The module is made
    unimportable while the base module runs its imports (a `None` in sys.modules: the base
    module catches the ImportError and sets ModelManager and `resource` to None) and
    importable again right after; `resource` (memory figures in RunInference's metrics) is
    put back.
    Private: the base module's module-level `try: import resource; from
    ...model_manager import ModelManager except ImportError` and its module
    attribute `resource`. Tests:
    tests/bucketscore/test_private_apis.py, tests/transforms/test_inference.py, every
    end-to-end test; the import time in docs/performance.md ("Fixed cost").
    """
    import importlib
    import sys

    name = "apache_beam.ml.inference.base"
    if name in sys.modules:
        return sys.modules[name]
    blocked = "apache_beam.ml.inference.model_manager"
    block = blocked not in sys.modules
    if block:
        sys.modules[blocked] = None  # type: ignore[assignment]  # `import` raises ImportError
    try:
        base = importlib.import_module(name)
    finally:
        if block and sys.modules.get(blocked, 0) is None:
            del sys.modules[blocked]
    if getattr(base, "resource", None) is None:
        try:
            import resource
        except ImportError:  # not on this platform: Beam logs that itself
            pass
        else:
            base.resource = resource
    return base
