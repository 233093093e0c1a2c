"""bundle.torch_runtime and the torch backend's edges: torch stays out of the ONNX Runtime
and TensorFlow paths, a missing torch is one line and exit 2, triton is kept out, reduced
precision's agreement, devices for torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from bucketscore.bundle import devices
from bucketscore.bundle.meta import BundleError, BundleMeta, InputSpec
from bucketscore.bundle.predictor import choose_backend
from bucketscore.bundle.torch_runtime import agreement
from tests.support.helpers import REPO


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )


def meta(*backends) -> BundleMeta:
    files = {"tf": "saved_model/saved_model.pb", "onnx": "model.onnx", "torch": "model.pt2"}
    return BundleMeta(
        name="m",
        version="v",
        labels=("a", "b"),
        input=InputSpec(8, 8, 1),
        files={files[b]: "x" for b in backends},
        extra={"backends": list(backends)},
    )


def test_agreement_counts_top1_and_the_largest_difference():
    reference = np.array([[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]])
    reduced = np.array([[0.69, 0.31], [0.55, 0.45], [0.5, 0.5]])
    got = agreement(reference, reduced)
    assert got == {
        "images": 3,
        "top1_agreement": pytest.approx(2 / 3),
        "max_probability_difference": pytest.approx(0.15),
    }


def test_auto_keeps_onnx_and_torch_is_chosen_only_when_asked_for():
    assert choose_backend(meta("onnx", "torch"), "auto") == "onnx"
    assert choose_backend(meta("onnx", "torch"), "torch") == "torch"
    assert choose_backend(meta("torch"), "auto") == "torch"
    with pytest.raises(BundleError, match="backend torch: the bundle m has no model.pt2"):
        choose_backend(meta("onnx", "tf"), "torch")


def test_the_onnx_and_tensorflow_paths_never_import_torch(demo_bundle):
    image = next((p for p in sorted(__import__("pathlib").Path(demo_bundle.data).rglob("*.png"))))
    code = (
        "import sys\nfrom bucketscore.cli.main import main\n"
        f"status = main(['classify', {str(image)!r}, '--model', {demo_bundle.model!r}, '--json'])\n"
        "from bucketscore.bundle.meta import BundleMeta, InputSpec\n"
        "from bucketscore.bundle.predictor import choose_backend\n"
        "m = BundleMeta('m', 'v', ('a',), InputSpec(8, 8, 1), {'model.onnx': 'x', "
        "'model.pt2': 'y'}, extra={'backends': ['onnx', 'torch']})\n"
        "print(status, choose_backend(m), 'torch' in sys.modules)"
    )
    done = run_python(code)
    assert done.stdout.split()[-3:] == ["0", "onnx", "False"], done.stderr[-2000:]


def test_without_torch_the_torch_backend_and_export_say_what_to_install(demo_bundle, tmp_path):
    block = "import sys\nsys.modules['torch'] = None\nfrom bucketscore.cli.main import main\n"
    (tmp_path / "p.pt2").write_bytes(b"x")
    (tmp_path / "l.txt").write_text("a\n")
    for argv in (
        [
            "score",
            "--input",
            demo_bundle.data,
            "--model",
            demo_bundle.model,
            "--output",
            str(tmp_path / "o"),
            "--backend",
            "torch",
        ],
        [
            "export",
            "--torch",
            str(tmp_path / "p.pt2"),
            "--labels",
            str(tmp_path / "l.txt"),
            "--out",
            str(tmp_path / "b"),
        ],
    ):
        done = run_python(block + f"sys.exit(main({argv!r}))")
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
        assert "pip install 'bucketscore[torch]'" in lines[0]
    assert not (tmp_path / "o").exists() and not (tmp_path / "b").exists()


def test_torch_is_imported_without_triton():
    pytest.importorskip("torch")
    done = run_python(
        "import sys\nfrom bucketscore.bundle.torch_runtime import torch_module\n"
        "torch = torch_module()\nimport torch.export\n"
        "print(sys.modules.get('triton', 'absent'))"
    )
    assert done.stdout.strip() == "None", done.stderr[-2000:]


def test_devices_know_torch(monkeypatch):
    hw = devices.Hardware(gpu=True, ort_cuda=False, tf_cuda=False, torch_cuda=True)
    assert devices.choose(["onnx", "torch"], "auto", "auto", hw) == devices.Choice("torch", "gpu")
    assert devices.choose(["onnx", "torch"], "auto", "cpu", hw) == devices.Choice("onnx", "cpu")
    no_gpu = devices.Hardware(gpu=False, ort_cuda=False, tf_cuda=False, torch_cuda=False)
    with pytest.raises(devices.DeviceError, match="a CUDA build of torch"):
        devices.choose(["torch"], "torch", "gpu", no_gpu)


def test_this_hosts_torch_build_and_device():
    torch = pytest.importorskip("torch")
    assert devices.torch_is_cuda_build() == (torch.version.cuda is not None)
    if not torch.cuda.is_available():  # this project's machines: no GPU
        assert devices.torch_device("auto") == "cpu"
        with pytest.raises(devices.DeviceError, match="PyTorch sees no GPU"):
            devices.torch_device("gpu")
    assert devices.torch_device("cpu") == "cpu"


def test_reduced_precision_is_refused_off_a_local_gpu(demo_bundle, tmp_path, capsys):
    from bucketscore.cli.main import main

    status = main(
        [
            "score",
            "--input",
            demo_bundle.data,
            "--model",
            demo_bundle.model,
            "--output",
            str(tmp_path / "o"),
            "--precision",
            "bf16",
        ]
    )
    assert status == 2
    assert "reduced precision runs with --backend torch on this machine's GPU" in (
        capsys.readouterr().err
    )


def test_the_agreement_of_a_reduced_precision_is_measured_on_the_runs_images(tmp_path):
    """On the CPU (no GPU here), bf16 autocast through the same function the plan calls on a
    GPU, against the program's fp32 and bf16 runs made directly."""
    pytest.importorskip("torch")
    from bucketscore.bundle.images import decode_image
    from bucketscore.bundle.meta import read_meta
    from bucketscore.bundle.torch_runtime import torch_module
    from bucketscore.cli.main import main
    from bucketscore.pipelines.inference_plan import precision_agreement
    from bucketscore.pipelines.options import ScoreConfig
    from tests.support.helpers import image_bytes, write_file

    torch = torch_module()
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
    ).eval()
    program = tmp_path / "p.pt2"
    torch.export.save(
        torch.export.export(
            net,
            (torch.rand(2, 3, 12, 12),),
            dynamic_shapes=({0: torch.export.Dim("batch", max=64)},),
        ),
        str(program),
    )
    (tmp_path / "l.txt").write_text("a\nb\nc\nd\n")
    bundle = str(tmp_path / "bundle")
    assert (
        main(
            [
                "export",
                "--torch",
                str(program),
                "--labels",
                str(tmp_path / "l.txt"),
                "--scale",
                "1/255",
                "--softmax",
                "--out",
                bundle,
            ]
        )
        == 0
    )
    rng = np.random.default_rng(0)
    files = [
        write_file(
            str(tmp_path / "in" / f"{i}.png"),
            image_bytes(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)),
        )
        for i in range(5)
    ]
    config = ScoreConfig(
        inputs=(str(tmp_path / "in"),),
        output=str(tmp_path / "o"),
        model=bundle,
        backend="torch",
        precision="bf16",
    )
    got = precision_agreement(config, read_meta(bundle), "cpu", "bf16", sample=4)
    spec = read_meta(bundle).input
    x = np.stack([decode_image(open(f, "rb").read(), spec)[0] for f in sorted(files)[:4]])
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        fp32 = torch.softmax(net(x), 1).numpy()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = torch.softmax(net(x).float(), 1).numpy()
    expected = agreement(fp32, bf16)
    assert got["images"] == 4 and got["top1_agreement"] == expected["top1_agreement"]
    assert got["max_probability_difference"] == pytest.approx(
        expected["max_probability_difference"], abs=5e-3
    )
    assert 0 < got["max_probability_difference"] < 0.05  # bf16 rounds: not the same numbers
    assert json.dumps(got)  # recorded as JSON in manifest.json
