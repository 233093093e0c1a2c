"""infra/: every file parses, and every schedule passes only what `bucketscore score` accepts.

Each schedule's arguments go through the real CLI parser and `config_from_args` (the same
validation a run does before building its graph), so a schedule naming an option that does
not exist, or a value `score` would refuse, fails here rather than at 3 a.m. Flex Template
launch bodies are also parsed as Dataflow's own LaunchFlexTemplateParameter message (unknown
fields are refused), and their parameters must be declared in metadata.json, as Dataflow
requires. Airflow is not installed: the DAG is compiled and read with `ast`, never imported.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import re
import shlex

import pytest
import yaml

from bucketscore.cli.main import _commands, build_parser
from bucketscore.pipelines.beam_options import unknown_beam_flags
from bucketscore.pipelines.options import REQUIRED_FOR_A_RUN, config_from_args
from tests.support.helpers import REPO

INFRA = os.path.join(REPO, "infra")
FLEX = os.path.join(INFRA, "flex_template")
SCHEDULES = os.path.join(INFRA, "schedules")
# Beam options a Flex Template launch may pass as parameters (declared in metadata.json).
BEAM_PARAMETERS = {"dataflow_service_options", "number_of_worker_harness_threads"}


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def score_parser() -> argparse.ArgumentParser:
    from bucketscore.private_apis import subcommand_parser

    return subcommand_parser(build_parser(_commands()), "score")


def score_options() -> dict[str, argparse.Action]:
    """`score`'s own options by name without dashes (input, output, model, ...)."""
    actions = score_parser()._actions  # noqa: SLF001 - argparse lists its actions nowhere else
    return {a.dest: a for a in actions if a.option_strings and a.dest != "help"}


def flex_main():
    spec = importlib.util.spec_from_file_location("flex_main", os.path.join(FLEX, "main.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render_jinja(text: str) -> str:
    """Airflow's templates, rendered with a sample logical date."""
    return re.sub(r"\{\{\s*ds_nodash\s*\}\}", "20260101", text)


def check_score_argv(argv: list[str]):
    """Parse like `bucketscore score ARGV` and validate like a run does; returns the config."""
    parser = build_parser(_commands())
    args, extra = parser.parse_known_args(["score", *argv])
    assert args.command == "score"
    assert unknown_beam_flags(extra) == [], extra
    return config_from_args(args, extra)


def check_flex_launch(launch: dict, metadata: dict):
    """A LaunchFlexTemplateParameter body: valid for Dataflow, and for `bucketscore score`."""
    from google.cloud import dataflow_v1beta3 as dataflow

    dataflow.LaunchFlexTemplateParameter.from_json(json.dumps(launch))  # unknown fields: error
    assert launch["containerSpecGcsPath"].startswith("gs://")
    params = launch["parameters"]
    declared = {p["name"] for p in metadata["parameters"]}
    assert set(params) <= declared, set(params) - declared
    for p in metadata["parameters"]:
        if p["name"] in params:
            for pattern in p.get("regexes", []):
                assert re.fullmatch(pattern, params[p["name"]]), (p["name"], params[p["name"]])
    # The launcher passes each parameter as --name=value; main.py adapts them for `score`.
    argv = flex_main().flex_argv(
        [f"--{k}={v}" for k, v in params.items()], {"BUCKETSCORE_SDK_CONTAINER_IMAGE": "img"}
    )
    config = check_score_argv(argv)
    assert "--runner=DataflowRunner" in config.beam_args
    return config


def all_infra_files() -> list[str]:
    out = []
    for root, _dirs, files in os.walk(INFRA):
        out += [os.path.join(root, f) for f in files if "__pycache__" not in root]
    return sorted(out)


# --------------------------------------------------------------------------------------
# every file parses
# --------------------------------------------------------------------------------------
def test_infra_has_the_expected_files():
    names = {os.path.relpath(f, INFRA) for f in all_infra_files()}
    assert {
        "README.md",
        "flex_template/Dockerfile",
        "flex_template/metadata.json",
        "flex_template/main.py",
        "flex_template/cloudbuild.yaml",
        "schedules/cloud_scheduler.yaml",
        "schedules/airflow_dag.py",
        "schedules/k8s_cronjob.yaml",
        "schedules/crontab",
    } <= names


@pytest.mark.parametrize(
    "path",
    [f for f in all_infra_files() if f.endswith((".yaml", ".yml", ".json"))],
    ids=lambda p: os.path.relpath(p, INFRA),
)
def test_every_yaml_and_json_file_parses(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        assert isinstance(json.loads(text), dict)
    else:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        assert docs and all(isinstance(d, dict) for d in docs)


@pytest.mark.parametrize(
    "path",
    [f for f in all_infra_files() if f.endswith(".py")],
    ids=lambda p: os.path.relpath(p, INFRA),
)
def test_every_python_file_compiles(path):
    with open(path, encoding="utf-8") as f:
        compile(f.read(), path, "exec")


# --------------------------------------------------------------------------------------
# Flex Template
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def metadata() -> dict:
    with open(os.path.join(FLEX, "metadata.json"), encoding="utf-8") as f:
        return json.load(f)


def test_metadata_names_every_score_parameter(metadata):
    params = {p["name"]: p for p in metadata["parameters"]}
    options = score_options()
    assert set(options) <= set(params), f"not in metadata.json: {set(options) - set(params)}"
    assert set(params) - set(options) <= BEAM_PARAMETERS, set(params) - set(options)
    for name in BEAM_PARAMETERS & set(params):
        assert unknown_beam_flags([f"--{name}=1"]) == [], name
    for name, p in params.items():
        assert p["label"] and p["helpText"], name
        required = name in options and (options[name].required or name in REQUIRED_FOR_A_RUN)
        assert p.get("isOptional", False) is (not required), name
        for pattern in p.get("regexes", []):
            re.compile(pattern)
    assert metadata["name"] and metadata["description"]


def test_metadata_regexes_accept_the_defaults(metadata):
    options = score_options()
    for p in metadata["parameters"]:
        action = options.get(p["name"])
        if action is None or action.default in (None, argparse.SUPPRESS) or not p.get("regexes"):
            continue
        default = action.default
        text = str(default).lower() if isinstance(default, bool) else str(default)
        assert any(re.fullmatch(r, text) for r in p["regexes"]), (p["name"], text)


def test_flex_main_adapts_launch_parameters():
    main = flex_main()
    argv = main.flex_argv(
        [
            "--input=gs://a/ 'gs://b/with space/'",
            "--embeddings=true",
            "--allow_empty=false",
            "--top_k=3",
            "--project=p",
        ],
        {"BUCKETSCORE_SDK_CONTAINER_IMAGE": "europe-docker.pkg.dev/p/r/i:1"},
    )
    assert argv[:4] == ["--input", "gs://a/", "gs://b/with space/", "--embeddings"]
    assert "--allow_empty" not in " ".join(argv)
    assert argv[4:] == [
        "--top_k=3",
        "--project=p",
        "--runner=DataflowRunner",
        "--sdk_container_image=europe-docker.pkg.dev/p/r/i:1",
        "--sdk_location=container",
        "--no_wait_until_finish",
    ]
    config = check_score_argv(argv + ["--output=gs://r/", "--model=gs://m/v1"])
    assert config.inputs == ("gs://a/", "gs://b/with space/") and config.embeddings
    assert not config.allow_empty and config.top_k == 3
    # What the caller gives explicitly wins; without an image env nothing is added for it.
    argv = main.flex_argv(["--runner=DirectRunner", "--no_wait_until_finish"], {})
    assert argv == ["--runner=DirectRunner", "--no_wait_until_finish"]
    # A value `score` cannot take is left for `score` to refuse.
    assert main.flex_argv(["--embeddings=maybe"], {})[0] == "--embeddings=maybe"


def _dockerfile() -> tuple[str, list[tuple[str, str]]]:
    with open(os.path.join(FLEX, "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    joined = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            instructions.append((word.upper(), rest.strip()))
    return text, instructions


def _setup_pins() -> dict[str, str]:
    with open(os.path.join(REPO, "setup.py"), encoding="utf-8") as f:
        text = f.read()
    return dict(re.findall(r'"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^"]+)"', text))


def test_dockerfile_builds_on_beams_sdk_image_matching_setup_py():
    _text, instructions = _dockerfile()
    pins = _setup_pins()
    args = {}
    for word, rest in instructions:
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args.setdefault(key, value.strip('"'))
    froms = [rest for word, rest in instructions if word == "FROM"]
    final = froms[-1].replace("${BEAM_VERSION}", args["BEAM_VERSION"])
    assert final == f"apache/beam_python3.11_sdk:{pins['apache-beam']}"
    assert args["BEAM_VERSION"] == pins["apache-beam"] == "2.77.0"
    assert args["ACCELERATOR"] == "cpu"  # the CPU builds setup.py pins; gpu: test_gpu_image
    assert any("template-launcher-base" in f and "AS template_launcher" in f for f in froms)
    env = " ".join(rest for word, rest in instructions if word == "ENV")
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE=/template/main.py" in env
    assert "PIP_NO_DEPS=True" in env
    assert ("ENTRYPOINT", '["/opt/apache/beam/boot"]') in instructions


def setup_folders() -> dict[str, str]:
    """setup.py's FOLDERS: import name -> folder on disk."""
    import ast

    with open(os.path.join(REPO, "setup.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    node = next(
        n
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "FOLDERS"
    )
    return ast.literal_eval(node.value)


def test_dockerfile_copies_every_package_setup_py_installs():
    _text, instructions = _dockerfile()
    copies = [rest.split() for word, rest in instructions if word == "COPY"]
    local = [c for c in copies if not c[0].startswith("--from")]
    for *sources, _dest in local:
        for src in sources:
            assert os.path.exists(os.path.join(REPO, src)), f"COPY {src}: not in the repository"
    copied = {c[0].rstrip("/") for c in local}
    folders = {path.split("/")[0] for path in setup_folders().values()}
    assert folders <= copied, folders - copied
    assert ["infra/flex_template/main.py", "main.py"] in local
    assert any(c[0].startswith("--from=template_launcher") for c in copies)


def test_cloudbuild_builds_the_dockerfile_and_the_template_spec():
    with open(os.path.join(FLEX, "cloudbuild.yaml"), encoding="utf-8") as f:
        build = yaml.safe_load(f)
    steps = {s["id"]: s for s in build["steps"]}
    assert "--file=infra/flex_template/Dockerfile" in steps["build"]["args"]
    spec = steps["template-spec"]["args"]
    assert spec[:3] == ["dataflow", "flex-template", "build"]
    assert "--metadata-file=infra/flex_template/metadata.json" in spec
    assert "--sdk-language=PYTHON" in spec
    assert "--build-arg=ACCELERATOR=${_ACCELERATOR}" in steps["build"]["args"]
    assert build["substitutions"]["_ACCELERATOR"] == "cpu"


# --------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------
def test_cloud_scheduler_launches_the_flex_template_with_valid_parameters(metadata):
    with open(os.path.join(SCHEDULES, "cloud_scheduler.yaml"), encoding="utf-8") as f:
        flags = yaml.safe_load(f)
    assert all(k.startswith("--") for k in flags)  # a gcloud --flags-file
    assert flags["--http-method"] == "POST"
    assert re.fullmatch(
        r"https://dataflow\.googleapis\.com/v1b3/projects/[^/]+/locations/"
        r"[^/]+/flexTemplates:launch",
        flags["--uri"],
    )
    assert flags["--uri"].split("/locations/")[1].split("/")[0] == flags["--location"]
    assert len(flags["--schedule"].split()) == 5
    assert flags["--max-retry-attempts"] == 0
    body = json.loads(flags["--message-body"])
    config = check_flex_launch(body["launchParameter"], metadata)
    assert config.output.startswith("gs://") and config.inputs[0].startswith("gs://")
    assert "run_id" not in body["launchParameter"]["parameters"]  # a new run per launch


def _dag_module() -> ast.Module:
    with open(os.path.join(SCHEDULES, "airflow_dag.py"), encoding="utf-8") as f:
        return ast.parse(f.read())


def _dag_constants(tree: ast.Module) -> dict:
    """Module-level NAME = <literal> (or dict(OTHER, k=v)) assignments, evaluated safely."""
    values: dict = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            name = node.targets[0].id
            try:
                values[name] = ast.literal_eval(node.value)
                continue
            except ValueError:
                pass
            if isinstance(node.value, ast.Dict):  # literal keys, values may be constants
                values[name] = {
                    ast.literal_eval(k): _value(v, values)
                    for k, v in zip(node.value.keys, node.value.values)
                }
            elif (
                isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id == "dict"
            ):
                base = dict(_value(node.value.args[0], values)) if node.value.args else {}
                base.update({kw.arg: _value(kw.value, values) for kw in node.value.keywords})
                values[name] = base
    return values


def _value(node, values):
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _value(node.left, values) + _value(node.right, values)
    if isinstance(node, ast.Dict):
        return {ast.literal_eval(k): _value(v, values) for k, v in zip(node.keys, node.values)}
    return ast.literal_eval(node)


def _operator_calls(tree: ast.Module, name: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
    ]


def test_airflow_dag_launches_the_flex_template_with_valid_parameters(metadata):
    tree = _dag_module()
    imports = {
        (n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
    }
    assert (
        "airflow.providers.google.cloud.operators.dataflow",
        "DataflowStartFlexTemplateOperator",
    ) in imports
    consts = _dag_constants(tree)
    (call,) = _operator_calls(tree, "DataflowStartFlexTemplateOperator")
    kwargs = {kw.arg: kw.value for kw in call.keywords}
    assert {"task_id", "project_id", "location", "body"} <= set(kwargs)
    launch = _value(kwargs["body"], consts)["launchParameter"]
    launch = json.loads(render_jinja(json.dumps(launch)))
    assert launch["containerSpecGcsPath"] == consts["TEMPLATE"]
    config = check_flex_launch(launch, metadata)
    assert config.run_id == "nightly-20260101"  # one run per logical date: re-runs replace it
    # The GPU variant is valid too.
    gpu = dict(
        launch,
        parameters=dict(launch["parameters"], **consts["GPU_PARAMETERS"]),
        environment=consts["GPU_ENVIRONMENT"],
    )
    gpu_config = check_flex_launch(json.loads(render_jinja(json.dumps(gpu))), metadata)
    assert any(
        a.startswith("--dataflow_service_options=worker_accelerator=") for a in gpu_config.beam_args
    )
    # The sensor waits for that run's _SUCCESS, in the bucket and prefix of --output.
    (sensor,) = _operator_calls(tree, "GCSObjectExistenceSensor")
    skw = {
        kw.arg: _value(kw.value, consts) for kw in sensor.keywords if kw.arg in ("bucket", "object")
    }
    assert f"gs://{skw['bucket']}/{render_jinja(skw['object'])}" == (
        f"{config.output}{config.run_id}/_SUCCESS"
    )


def test_k8s_cronjob_runs_score_on_the_direct_runner():
    with open(os.path.join(SCHEDULES, "k8s_cronjob.yaml"), encoding="utf-8") as f:
        (job,) = [d for d in yaml.safe_load_all(f) if d]
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "CronJob")
    spec = job["spec"]
    assert len(spec["schedule"].split()) == 5 and spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (container,) = pod["containers"]
    assert container["command"] == ["bucketscore"] and container["args"][0] == "score"
    assert all(isinstance(a, str) for a in container["args"])
    config = check_score_argv(container["args"][1:])
    flags = dict(zip(config.beam_args[::2], config.beam_args[1::2]))
    assert flags["--runner"] == "DirectRunner"
    assert int(flags["--direct_num_workers"]) <= int(container["resources"]["limits"]["cpu"])
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert secrets == {"bucketscore-s3"}


def test_crontab_line_runs_score_with_valid_arguments():
    with open(os.path.join(SCHEDULES, "crontab"), encoding="utf-8") as f:
        lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    jobs = [ln for ln in lines if not re.match(r"^[A-Z_]+=", ln)]
    assert len(jobs) == 1
    fields = jobs[0].split(None, 5)
    minute, hour, dom, month, dow, command = fields
    assert re.fullmatch(r"\d+", minute) and re.fullmatch(r"\d+", hour)
    assert "%" not in command  # cron would turn it into a newline
    words = shlex.split(command)
    start = words.index("score")
    assert words[start - 1].endswith("bucketscore")
    end = words.index(">>") if ">>" in words else len(words)
    config = check_score_argv(words[start + 1 : end])
    assert config.inputs and config.output and config.model


def test_schedules_all_score_the_same_kind_of_run():
    """The four schedules are alternatives: each names an input, an output and a model."""
    texts = {}
    for name in ("cloud_scheduler.yaml", "airflow_dag.py", "k8s_cronjob.yaml", "crontab"):
        with open(os.path.join(SCHEDULES, name), encoding="utf-8") as f:
            texts[name] = f.read()
    for name, text in texts.items():
        for word in ("input", "output", "model"):
            assert re.search(rf"\b{word}\b", text), (name, word)


def test_readme_documents_gpu_and_worker_options():
    with open(os.path.join(INFRA, "README.md"), encoding="utf-8") as f:
        text = f.read()
    for needle in (
        "worker_accelerator",
        "machine_type",
        "max_num_workers",
        "disk_size_gb",
        "sdk_container_image",
        "Flex Template",
        "classic template",
        "cloud_scheduler.yaml",
        "airflow_dag.py",
        "k8s_cronjob.yaml",
        "crontab",
    ):
        assert needle in text, needle
