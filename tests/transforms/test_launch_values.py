"""transforms.launch_values: what a classic template reads at launch (inputs, output, run
id), read when the job runs, never when the graph is built; Derived values."""

import pickle

import pytest
from apache_beam.options.value_provider import RuntimeValueProvider, StaticValueProvider

from bucketscore.transforms import launch_values as lv


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


def _count_calls(prefix, name):
    _count_calls.n += 1
    return f"{prefix}/{name}"


_count_calls.n = 0


def test_derived_is_computed_once_per_process_and_never_shipped():
    d = lv.Derived(_count_calls, StaticValueProvider(str, "gs://b/out"), "x")
    _count_calls.n = 0
    assert d.is_accessible()
    assert d.get() == "gs://b/out/x" and d.get() == "gs://b/out/x"
    assert _count_calls.n == 1  # cached after the first get()
    shipped = pickle.loads(pickle.dumps(d))
    assert not hasattr(shipped, "_cached")  # the value is computed again where it runs
    assert shipped.get() == "gs://b/out/x" and _count_calls.n == 2
    assert str(d) == "Derived(_count_calls, gs://b/out, x)"
    assert not lv.Derived(
        _count_calls, RuntimeValueProvider("never_set_b", str, "")
    ).is_accessible()


def test_value_of_and_input_list(tmp_path, monkeypatch):
    assert lv.value_of(StaticValueProvider(int, 3)) == 3 and lv.value_of("plain") == "plain"
    assert lv.input_list(("/data/a/", "gs://b/x")) == ["/data/a/", "gs://b/x"]
    assert lv.input_list("gs://b/one/ 'gs://b/two words/'") == ["gs://b/one/", "gs://b/two words/"]
    monkeypatch.chdir(tmp_path)
    assert lv.input_list(["rel/"]) == [str(tmp_path / "rel") + "/"]  # local paths made absolute
    with pytest.raises(lv.LaunchValueError, match="no input"):
        lv.input_list("  ")
    with pytest.raises(lv.LaunchValueError, match="no output"):
        lv.run_uri("", "r1")
    assert lv.output_uri(None) == "" and lv.join("gs://b/run/", "x.csv") == "gs://b/run/x.csv"


@pytest.mark.parametrize("run_id", [".", "..", "a/b"])
def test_a_run_id_must_be_a_plain_folder_name(run_id):
    with pytest.raises(lv.LaunchValueError, match="must be a plain folder name"):
        lv.launch_run_id(run_id)
