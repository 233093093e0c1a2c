"""export --torch: torch.export programs (torchvision MobileNetV2 and ResNet-18 with random
weights, a small CNN trained on digits, a uint8 program) wrapped as bundles, scored with
--backend torch and --backend onnx from the same bundle, checked against a direct torch call;
and the refusals."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("torch")  # the torch extra: make setup installs it
from bucketscore.bundle.torch_runtime import torch_module

torch = torch_module()  # as bucketscore imports it (without triton: see torch_module)

from bucketscore.bundle.images import decode_image  # noqa: E402
from bucketscore.bundle.meta import InputSpec, read_meta  # noqa: E402
from bucketscore.cli.main import main  # noqa: E402
from tests.support.helpers import read_local_run  # noqa: E402
from tests.support.torch_models import (  # noqa: E402
    save_program,
    torchvision_program,
    train_digits,
)

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def photo_crops(folder, n: int = 10):
    """n PNGs cropped from scikit-image's sample photographs: images that differ."""
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(n):
        photo = photos[i % len(photos)]
        y, x = rng.integers(0, photo.shape[0] - 160), rng.integers(0, photo.shape[1] - 160)
        Image.fromarray(photo[y : y + 160, x : x + 160]).save(folder / f"crop_{i:02d}.png")
    return folder


def labels_file(path, n: int) -> str:
    path.write_text("".join(f"class{i}\n" for i in range(n)))
    return str(path)


def export(tmp_path, *argv) -> int:
    return main(["export", *map(str, argv)])


def score_rows(images, bundle, out, run_id, backend, capsys) -> dict:
    status = main(
        [
            "score",
            "--input",
            str(images),
            "--model",
            bundle,
            "--output",
            str(out),
            "--run_id",
            run_id,
            "--backend",
            backend,
            "--labels",
            "none",
            "--no_progress",
            "--top_k",
            "3",
        ]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return {r["uri"]: r for r in read_local_run(str(out / run_id))["predictions"]}


@pytest.mark.parametrize("arch", ["mobilenet_v2", "resnet18"])
def test_a_torchvision_model_scores_the_same_with_torch_onnx_and_a_direct_call(
    arch, demo_bundle, tmp_path, capsys
):
    size = 64  # small images: the architectures take any size >= 32
    images = photo_crops(tmp_path / "images")
    uris = sorted(str(p) for p in images.rglob("*.png"))
    # independently: decode as model.json says, normalise by hand, call the model
    spec = InputSpec(size, size, 3, resize="squash")
    pixels = np.stack([decode_image(open(u, "rb").read(), spec)[0] for u in uris])
    x = ((pixels.astype(np.float32) / 255 - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2)
    np.save(tmp_path / "x.npy", np.ascontiguousarray(x))
    program = str(tmp_path / f"{arch}.pt2")
    torchvision_program(
        arch, 7, size, program, str(tmp_path / "x.npy"), str(tmp_path / "expected.npy")
    )
    expected = np.load(tmp_path / "expected.npy")
    bundle = str(tmp_path / "bundle")
    assert (
        export(
            tmp_path,
            "--torch",
            program,
            "--labels",
            labels_file(tmp_path / "l.txt", 7),
            "--preprocess",
            "torch",
            "--softmax",
            "--out",
            bundle,
        )
        == 0
    )
    meta = read_meta(bundle)
    assert meta.backends == ("onnx", "torch") and meta.extra["torch"]["layout"] == "nchw"
    assert meta.extra["onnx"]["converted_from"] == "torch"
    assert meta.extra["onnx"]["max_abs_diff"]["probabilities"] <= 1e-4
    by_torch = score_rows(images, bundle, tmp_path / "out", "t", "torch", capsys)
    by_onnx = score_rows(images, bundle, tmp_path / "out", "o", "onnx", capsys)
    assert sorted(by_torch) == sorted(by_onnx) == uris
    manifest = json.load(open(tmp_path / "out" / "t" / "manifest.json"))
    assert manifest["inference"]["backend"] == "torch"
    assert len({tuple(np.round(e, 4)) for e in expected}) > 1  # the images score apart
    for uri, probabilities in zip(uris, expected):
        row = by_torch[uri]
        assert row["predicted_label"] == by_onnx[uri]["predicted_label"]
        assert np.allclose(row["top_k_scores"], by_onnx[uri]["top_k_scores"], atol=1e-4)
        order = np.argsort(-probabilities, kind="stable")[:3]
        assert row["top_k_labels"] == [f"class{i}" for i in order]
        # the wrapper folds the scaling into one multiply-add: float32 rounding apart
        assert np.allclose(row["top_k_scores"], probabilities[order], atol=1e-4)


def test_a_cnn_trained_on_digits_scores_with_the_accuracy_of_a_direct_call(
    demo_bundle, tmp_path, capsys
):
    from bucketscore.model_export.digits_demo import DEMO_SPEC, LABELS, digit_png, load_split

    images8, target, train, _val, test = load_split()
    pixels = np.stack([decode_image(digit_png(images8[i]), DEMO_SPEC)[0] for i in train])
    model = train_digits(pixels, target[train])
    program = save_program(model, (2, 1, 28, 28), str(tmp_path / "digits.pt2"))
    bundle = str(tmp_path / "bundle")
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{x}\n" for x in LABELS))
    assert (
        export(
            tmp_path,
            "--torch",
            program,
            "--labels",
            labels,
            "--scale",
            "1/255",
            "--softmax",
            "--output_key",
            "0",
            "--embedding_output",
            "1",
            "--out",
            bundle,
        )
        == 0
    )
    assert read_meta(bundle).extra["embedding_dim"] == 32
    status = main(
        [
            "score",
            "--input",
            demo_bundle.data,
            "--model",
            bundle,
            "--output",
            str(tmp_path / "out"),
            "--run_id",
            "d",
            "--backend",
            "torch",
            "--embeddings",
            "--no_progress",
        ]
    )
    capsys.readouterr()
    assert status == 0
    run = read_local_run(str(tmp_path / "out" / "d"))
    test_pixels = np.stack([decode_image(digit_png(images8[i]), DEMO_SPEC)[0] for i in test])
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(test_pixels).float().permute(0, 3, 1, 2) / 255)
    direct = float(np.mean(logits.argmax(1).numpy() == target[test]))
    assert direct > 0.85  # the test trained something
    assert run["summary"]["accuracy"] == pytest.approx(direct, abs=1e-9)
    assert run["summary"]["counts"]["scored"] == len(test)
    embeddings = [n for n in os.listdir(tmp_path / "out" / "d") if n.startswith("embeddings")]
    assert embeddings
    # classify with torch answers as the run did
    some = sorted(run["predictions"], key=lambda r: r["uri"])[:3]
    assert (
        main(
            [
                "classify",
                *[r["uri"] for r in some],
                "--model",
                bundle,
                "--backend",
                "torch",
                "--json",
            ]
        )
        == 0
    )
    answers = json.loads(capsys.readouterr().out)
    for answer, row in zip(answers, some):
        assert answer["top_k_labels"][0] == row["predicted_label"]
        assert answer["top_k_scores"][0] == pytest.approx(row["confidence"], abs=1e-6)


def test_a_uint8_program_is_wrapped_as_it_is(tmp_path, capsys):
    class Uint8Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):  # uint8 NCHW in: the preprocessing is inside
            y = self.conv(x.float() / 255).relu().mean((2, 3))
            return self.fc(y)

    torch.manual_seed(1)
    model = Uint8Net().eval()
    example = torch.randint(0, 255, (2, 3, 16, 16), dtype=torch.uint8)
    path = str(tmp_path / "u8.pt2")
    torch.export.save(
        torch.export.export(
            model, (example,), dynamic_shapes=({0: torch.export.Dim("batch", max=64)},)
        ),
        path,
    )
    bundle = str(tmp_path / "bundle")
    labels = labels_file(tmp_path / "l.txt", 3)
    assert (
        export(tmp_path, "--torch", path, "--labels", labels, "--scale", "1/255", "--out", bundle)
        == 1
    )
    assert "takes uint8 images" in capsys.readouterr().err
    assert export(tmp_path, "--torch", path, "--labels", labels, "--softmax", "--out", bundle) == 0
    meta = read_meta(bundle)
    assert meta.extra["torch"]["input"]["dtype"] == "uint8"
    assert meta.extra["scaling"] == {"none": "the program takes uint8 images"}
    from bucketscore.bundle.predictor import load_predictor

    images = np.random.default_rng(0).integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(images).permute(0, 3, 1, 2)), 1)
    for backend in ("torch", "onnx"):
        got = load_predictor(bundle, backend).predict(images).probabilities
        assert np.allclose(got, expected.numpy(), atol=1e-5), backend


def test_what_is_no_image_classifier_program_is_refused_in_one_line(tmp_path, capsys):
    linear = torch.nn.Linear(10, 3).eval()
    flat = save_program(linear, (2, 10), str(tmp_path / "flat.pt2"))
    labels = labels_file(tmp_path / "l.txt", 3)
    assert export(tmp_path, "--torch", flat, "--labels", labels, "--out", tmp_path / "b") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an image batch" in err[0] and "flat.pt2" in err[0]
    scripted = str(tmp_path / "scripted.pt")
    torch.jit.save(torch.jit.script(linear), scripted)
    assert export(tmp_path, "--torch", scripted, "--labels", labels, "--out", tmp_path / "b") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TorchScript" in err[0] and "torch.export.save" in err[0]
    assert not (tmp_path / "b").exists()
