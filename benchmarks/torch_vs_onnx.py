"""The same MobileNetV2 bundle scored with --backend torch and --backend onnx, on the CPU.

    python -m benchmarks.torch_vs_onnx                 # 200 and 800 images, 2 repeats

torchvision's MobileNetV2 (random weights, BatchNorm statistics set on corpus images)
exported with torch.export and wrapped by `bucketscore export --torch` (the bundle holds
model.pt2 and its ONNX twin), the benchmark corpus (500x375 JPEGs, benchmarks/corpus.py).
Each backend scores n_small and n_big images, whole process each, default settings, in
alternation; steady images/s = (n_big - n_small) / (t_big - t_small), the fastest of the
repeats. Load average beside the figures; results: benchmarks/results/torch-vs-onnx-*.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def calibrated_model_code(arch: str, corpus: str) -> str:
    """Python source (for a fresh interpreter) that leaves `torch` and `m`: torchvision
    `arch` with random weights, BatchNorm calibrated on 16 corpus images (ImageNet mean/std
    normalised), 10 classes."""
    return f"""
import glob, numpy as np
from PIL import Image
from bucketscore.bundle.torch_runtime import torch_module
torch = torch_module()
import torchvision
from tests.support.torch_models import calibrated, save_program
files = sorted(glob.glob({os.path.join(corpus, "*", "*.jpg")!r}))[:16]
x = np.stack([np.asarray(Image.open(f).convert('RGB').resize((224, 224)), np.float32) / 255
              for f in files])
x = (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
data = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2), np.float32))
m = calibrated(torchvision.models.{arch}(weights=None, num_classes=10), 224, data=data)
"""


def build_bundle(work: str, corpus: str) -> str:
    """MobileNetV2 -> program -> bundle (in a fresh interpreter: torchvision and TensorFlow
    must not share a process)."""
    bundle = os.path.join(work, "mnv2-torch")
    if os.path.isfile(os.path.join(bundle, "model.json")):
        return bundle
    program = os.path.join(work, "mnv2.pt2")
    code = calibrated_model_code("mobilenet_v2", corpus) + (
        f"save_program(m, (2, 3, 224, 224), {program!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    labels = os.path.join(work, "labels.txt")
    with open(labels, "w") as f:
        f.write("".join(f"c{i}\n" for i in range(10)))
    exe = os.path.join(os.path.dirname(sys.executable), "bucketscore")
    subprocess.run(
        [
            exe,
            "export",
            "--torch",
            program,
            "--labels",
            labels,
            "--preprocess",
            "torch",
            "--softmax",
            "--resize",
            "crop",
            "--out",
            bundle,
        ],
        check=True,
    )
    return bundle


def timed_run(bundle: str, images: str, out: str, backend: str) -> float:
    exe = os.path.join(os.path.dirname(sys.executable), "bucketscore")
    started = time.monotonic()
    subprocess.run(
        [
            exe,
            "score",
            "--input",
            images,
            "--model",
            bundle,
            "--output",
            out,
            "--backend",
            backend,
            "--labels",
            "none",
            "--no_progress",
        ],
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def main(argv=None) -> int:
    from benchmarks.corpus import link_copies, write_local

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n_small", type=int, default=200)
    ap.add_argument("--n_big", type=int, default=800)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--work", default=os.path.join(REPO, "benchmarks", "work", "torch"))
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = ap.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    corpus = os.path.join(args.work, "corpus")
    if not os.path.isdir(corpus):
        write_local(corpus, args.n_big)
    bundle = build_bundle(args.work, corpus)
    subsets = {}
    rels = sorted(
        os.path.relpath(os.path.join(r, n), corpus)
        for r, _d, names in os.walk(corpus)
        for n in names
    )
    for n in (args.n_small, args.n_big):
        folder = os.path.join(args.work, f"images-{n}")
        if not os.path.isdir(folder):
            link_copies(corpus, rels[:n], folder, 1)
        subsets[n] = folder
    times: dict[str, dict[int, list[float]]] = {"torch": {}, "onnx": {}}
    loads = [os.getloadavg()[0]]
    for r in range(args.repeats):
        for n, folder in subsets.items():
            for backend in ("onnx", "torch"):
                out = os.path.join(args.work, f"out-{backend}-{n}-{r}")
                times[backend].setdefault(n, []).append(timed_run(bundle, folder, out, backend))
                loads.append(os.getloadavg()[0])
    rates = {}
    for backend, by_n in times.items():
        small, big = min(by_n[args.n_small]), min(by_n[args.n_big])
        rates[backend] = (args.n_big - args.n_small) / (big - small)
    result = {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "seconds": times,
        "steady_images_per_s": rates,
        "torch_over_onnx": rates["torch"] / rates["onnx"],
        "load_1min": loads,
    }
    for backend, rate in rates.items():
        print(
            f"{backend:5s} {rate:6.1f} images/s (whole runs of {args.n_small} and "
            f"{args.n_big}: {min(times[backend][args.n_small]):.1f} s, "
            f"{min(times[backend][args.n_big]):.1f} s)"
        )
    print(f"torch / onnx: {result['torch_over_onnx']:.2f}; load {min(loads):.1f}-{max(loads):.1f}")
    os.makedirs(args.out, exist_ok=True)
    name = f"torch-vs-onnx-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}.json"
    with open(os.path.join(args.out, name), "w") as f:
        json.dump(result, f, indent=1)
    print(f"results: {os.path.join(args.out, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
