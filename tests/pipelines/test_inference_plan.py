"""pipelines.inference_plan: backend, device, batch size and model copies of a run."""

import pytest

from bucketscore.bundle import devices
from bucketscore.bundle.meta import BundleMeta, InputSpec
from bucketscore.errors import UsageError
from bucketscore.pipelines import inference_plan as ip


def meta(*backends):
    files = {"model.onnx": "x"} if "onnx" in backends else {}
    if "tf" in backends:
        files["saved_model/saved_model.pb"] = "y"
    return BundleMeta(
        name="m",
        version="v",
        labels=("a", "b"),
        input=InputSpec(8, 8, 1),
        files=files,
        extra={"backends": list(backends)},
    )


def test_batch_size_suits_the_device_unless_given():
    assert ip.batch_size_for("cpu") == ip.DEFAULT_BATCH_SIZE == 4
    assert ip.batch_size_for("auto") == ip.DEFAULT_BATCH_SIZE  # remote workers: the CPU size
    assert ip.batch_size_for("gpu") == ip.GPU_BATCH_SIZE
    assert ip.batch_size_for("gpu", given=8) == 8


def test_model_copies_one_per_gpu_unless_given(monkeypatch):
    monkeypatch.setattr(devices, "gpu_count", lambda environ=None: 3)
    assert ip.model_copies_for(None, "gpu") == 3
    assert ip.model_copies_for(None, "cpu") is None
    assert ip.model_copies_for(0, "gpu") is None  # 0: one per worker process
    assert ip.model_copies_for(2, "cpu") == 2
    monkeypatch.setattr(devices, "gpu_count", lambda environ=None: 0)
    assert ip.model_copies_for(None, "gpu") == 1  # a remote GPU worker: one


def test_remote_runs_leave_the_device_to_their_workers():
    choice = ip.choose_inference(meta("tf", "onnx"), "auto", "auto", local=False)
    assert (choice.backend, choice.device) == ("onnx", "auto")


def test_local_runs_choose_with_this_machines_hardware(monkeypatch):
    monkeypatch.setattr(
        devices, "probe", lambda: devices.Hardware(gpu=False, ort_cuda=False, tf_cuda=False)
    )
    choice = ip.choose_inference(meta("tf", "onnx"), "auto", "auto", local=True)
    assert (choice.backend, choice.device, choice.warning) == ("onnx", "cpu", None)
    with pytest.raises(UsageError, match="--device gpu"):
        ip.choose_inference(meta("onnx"), "auto", "gpu", local=True)
    with pytest.raises(UsageError, match="backend tf"):
        ip.choose_inference(meta("onnx"), "tf", "auto", local=True)


def test_a_gpu_no_backend_can_use_is_a_warning_in_the_plan(monkeypatch):
    from bucketscore.pipelines.options import ScoreConfig
    from bucketscore.pipelines.runners import runner_of

    monkeypatch.setattr(
        devices, "probe", lambda: devices.Hardware(gpu=True, ort_cuda=False, tf_cuda=False)
    )
    plan = ip.plan_inference(ScoreConfig(model="m"), meta("onnx"), runner_of([]))
    assert plan.device == "cpu" and plan.batch_size == 4 and "GPU is present" in plan.warning
    assert plan.record()["warning"] == plan.warning
    assert plan.describe() == (
        "bucketscore: inference: ONNX Runtime (model.onnx) on CPU, batches of 4"
    )


def int8_meta(default=False, backends=("tf", "onnx")):
    m = meta(*backends)
    files = {**m.files, "model.int8.onnx": "z"}
    agreement = {"images": 16, "top1_agreement": 1.0, "max_probability_difference": 0.01}
    return BundleMeta(
        name="m",
        version="v",
        labels=m.labels,
        input=m.input,
        files=files,
        extra={**m.extra, "int8": {"agreement": agreement, "default": default}},
    )


def _config(**kw):
    from bucketscore.pipelines.options import ScoreConfig

    return ScoreConfig(model="models/m", **kw)


def test_int8_precision_comes_from_the_flag_or_the_bundle_default():
    assert ip.choose_precision(_config(), meta("onnx")) == ("fp32", None)
    assert ip.choose_precision(_config(), int8_meta()) == ("fp32", "bundle default")
    assert ip.choose_precision(_config(), int8_meta(True)) == ("int8", "bundle default")
    assert ip.choose_precision(_config(precision="fp32"), int8_meta(True)) == (
        "fp32",
        "--precision",
    )
    assert ip.choose_precision(_config(backend="tf"), int8_meta(True)) == (
        "fp32",
        "bundle default",
    )
    assert ip.choose_precision(_config(precision="int8"), int8_meta()) == ("int8", "--precision")
    with pytest.raises(UsageError, match="has no int8 twin .* `bucketscore quantize models/m"):
        ip.choose_precision(_config(precision="int8"), meta("onnx"))
    with pytest.raises(UsageError, match="use --backend onnx or auto, not tf"):
        ip.choose_precision(_config(precision="int8", backend="tf"), int8_meta())


def test_int8_runs_on_cpus_with_the_agreement_measured_at_quantize(monkeypatch):
    from bucketscore.pipelines.runners import runner_of

    monkeypatch.setattr(
        devices, "probe", lambda: devices.Hardware(gpu=False, ort_cuda=False, tf_cuda=False)
    )
    plan = ip.plan_inference(_config(precision="int8"), int8_meta(), runner_of([]))
    assert (plan.backend, plan.device, plan.precision) == ("onnx", "cpu", "int8")
    assert plan.record()["precision_agreement"]["top1_agreement"] == 1.0
    assert plan.record()["precision_source"] == "--precision"
    assert "ONNX Runtime (model.int8.onnx, int8) on CPU" in plan.describe()
    assert "100.0% on 16 held-out images at quantize" in plan.describe()
    # A GPU the backend can use: the flag is refused, the bundle's default gives way to fp32.
    monkeypatch.setattr(
        devices, "probe", lambda: devices.Hardware(gpu=True, ort_cuda=True, tf_cuda=False)
    )
    with pytest.raises(UsageError, match="add --device cpu"):
        ip.plan_inference(_config(precision="int8"), int8_meta(), runner_of([]))
    plan = ip.plan_inference(_config(), int8_meta(True), runner_of([]))
    assert (plan.device, plan.precision) == ("gpu", "fp32")
