"""int8 agreement of a *trained* ResNet-50: the one figure `make bench-int8` cannot give with
the random weights it has (no trained ResNet-50 can be downloaded here), measured on a
ResNet-50 trained on this machine.

    python -m benchmarks.int8_trained_resnet [--epochs 4] [--size 64]

1. scikit-learn's digits (1,797 8x8 images; nothing downloaded), upscaled to `--size`
   (bilinear, grey to RGB) and written as PNGs, one folder per class: a stratified 1,297 to
   train on and quantize with, 500 held out;
2. torchvision's ResNet-50 (no pretrained weights, 10 classes) trained on them for
   `--epochs` (Adam, batches of 32, the bundle's own preprocessing: ImageNet mean/std), in
   a fresh interpreter, exported to ONNX and wrapped by `bucketscore export --onnx`
   (`--preprocess torch --softmax`);
3. `bucketscore quantize` (model_export.quantizing.quantize_bundle, 128 calibration images,
   32 of them held out by quantize, the default agreement floor of 99%) writes the int8
   twin and records its agreement;
4. fp32 and int8 on the 500 held-out images: top-1 agreement, largest probability
   difference, accuracy of each; speed of each (one thread, batches of 4, best of
   `--repeats`, as in benchmarks/int8_bench.py).

Writes benchmarks/results/int8-trained-resnet-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks import save_results
from benchmarks.int8_bench import agreement_on, decoded, load, say_agreement, say_speed, timed

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELD_OUT = 500

TRAIN_CODE = """
import glob, os, sys, time
import numpy as np, torch, torchvision
from bucketscore.bundle.images import decode_image
from bucketscore.bundle.meta import InputSpec
folder, out, size, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
torch.set_num_threads(os.cpu_count())
spec = InputSpec(size, size, 3)
paths = sorted(glob.glob(os.path.join(folder, '*', '*.png')))
x = np.stack([decode_image(open(p, 'rb').read(), spec)[0] for p in paths])
y = torch.tensor([int(os.path.basename(os.path.dirname(p))) for p in paths])
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
x = (torch.tensor(x).permute(0, 3, 1, 2).float() / 255.0 - mean) / std
m = torchvision.models.resnet50(weights=None, num_classes=10)
opt = torch.optim.Adam(m.parameters(), lr=1e-3)
for epoch in range(epochs):
    m.train()
    order = torch.randperm(len(x))
    started, seen, right = time.time(), 0, 0
    for i in range(0, len(x), 32):
        idx = order[i:i + 32]
        logits = m(x[idx])
        loss = torch.nn.functional.cross_entropy(logits, y[idx])
        opt.zero_grad(); loss.backward(); opt.step()
        seen += len(idx); right += int((logits.argmax(1) == y[idx]).sum())
    print(f'epoch {epoch + 1}: train accuracy {right / seen:.3f}, {time.time() - started:.0f} s',
          flush=True)
m.eval()
torch.onnx.export(m, (torch.rand(2, 3, size, size),), out, dynamo=False, opset_version=17,
    input_names=['input'], output_names=['logits'],
    dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
"""


def write_digits(work: str, size: int) -> tuple[str, str]:
    """The digits as `size`x`size` RGB PNGs: (train folder, held-out folder)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    train, held = os.path.join(work, "train"), os.path.join(work, "held")
    if os.path.isdir(held):
        return train, held
    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).astype(np.uint8)
    idx = np.arange(len(images))
    fit, test = train_test_split(idx, test_size=HELD_OUT, stratify=digits.target, random_state=0)
    for folder, chosen in ((train, fit), (held, test)):
        for i in chosen:
            label = str(digits.target[i])
            os.makedirs(os.path.join(folder, label), exist_ok=True)
            img = Image.fromarray(images[i]).resize((size, size), Image.Resampling.BILINEAR)
            img.convert("RGB").save(os.path.join(folder, label, f"{i:04d}.png"))
    return train, held


def build_bundle(work: str, train: str, size: int, epochs: int) -> str:
    """Train, export to ONNX, wrap as a bundle (once per work folder)."""
    bundle = os.path.join(work, "bundle")
    if os.path.isfile(os.path.join(bundle, "model.json")):
        return bundle
    onnx_file = os.path.join(work, "resnet50-digits.onnx")
    subprocess.run(
        [sys.executable, "-c", TRAIN_CODE, train, onnx_file, str(size), str(epochs)],
        check=True,
        cwd=REPO,
    )
    labels = os.path.join(work, "labels.txt")
    with open(labels, "w") as f:
        f.write("".join(f"{i}\n" for i in range(10)))
    exe = os.path.join(os.path.dirname(sys.executable), "bucketscore")
    subprocess.run(
        [exe, "export", "--onnx", onnx_file, "--labels", labels, "--preprocess", "torch"]
        + ["--softmax", "--resize", "squash", "--name", "resnet50-digits", "--out", bundle],
        check=True,
        capture_output=True,
    )
    return bundle


def accuracy_of(bundle: str, paths: list[str], images) -> dict:
    """Accuracy of fp32 and int8 on labelled held-out images (label: the folder name)."""
    from benchmarks.int8_bench import predictors

    truth = [int(os.path.basename(os.path.dirname(p))) for p in paths]
    out = {}
    for name, p in predictors(bundle, threads=2).items():
        predicted = p.predict(images).probabilities.argmax(1)
        out[f"accuracy_{name}"] = float(sum(int(a == b) for a, b in zip(predicted, truth))) / len(
            truth
        )
    return out


def main(argv=None) -> int:
    import glob

    from bucketscore.model_export.quantizing import AgreementTooLow, quantize_bundle

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--size", type=int, default=64, help="input height and width")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timed", type=int, default=128, help="held-out images timed")
    ap.add_argument("--work", default=os.path.join(REPO, "benchmarks", "work", "int8-resnet"))
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = ap.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    started = time.monotonic()
    train, held = write_digits(args.work, args.size)
    bundle = build_bundle(args.work, train, args.size, args.epochs)
    print(f"trained and exported in {time.monotonic() - started:.0f} s (load {load():.2f})")
    refused = None
    try:
        meta = quantize_bundle(bundle, calibration=train, samples=128, log=lambda _: None)
    except AgreementTooLow as e:  # under the default floor: say so, and measure it anyway
        refused = str(e)
        print(f"refused at the default floor: {refused}")
        meta = quantize_bundle(
            bundle, calibration=train, samples=128, min_agreement=0.0, log=lambda _: None
        )
    say_agreement("ResNet-50", "held out at quantize", meta.int8["agreement"])
    paths = sorted(glob.glob(os.path.join(held, "*", "*.png")))
    images = decoded(paths, meta.input)
    agreement = {**agreement_on(bundle, images), **accuracy_of(bundle, paths, images)}
    say_agreement("ResNet-50", "held-out digits", agreement)
    speed = timed(bundle, images[: args.timed], args.repeats)
    say_speed("ResNet-50", speed)
    result = {
        "epochs": args.epochs,
        "size": args.size,
        "quantize_agreement": meta.int8["agreement"],
        "refused_at_default_floor": refused,
        "held_out": agreement,
        "speed": speed,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "speed"}, indent=1)[:2000])
    print(f"results: {save_results(args.out, 'int8-trained-resnet', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
