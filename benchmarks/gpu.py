"""`make bench-gpu`: the project's own decode + inference path on a GPU machine.

Measures, in one run:

* the host's decode ceiling: images/s of `bucketscore.bundle.images.decode_image` (Pillow decode,
  EXIF orientation, resize as model.json says) in one process per core, on the benchmark
  corpus (500x375 JPEGs of scikit-image's photographs, benchmarks/corpus.py);
* per model (MobileNetV2-224 and ResNet-50, random weights; their bundles are built once
  with the project's BundleBuilder and kept in the work folder) and per batch size
  (32 .. 512): inference images/s through the project's predictor (ONNX Runtime with its
  CUDA provider), and the GPU's utilisation sampled with nvidia-smi while it runs;
* decode-bound ratio: inference images/s over the decode ceiling; above 1 the GPU is
  faster than this host's cores can decode, so decoding bounds a worker of this shape.

Without a GPU (or without a CUDA build of ONNX Runtime), the GPU parts are skipped with
one line saying why, the decode ceiling is still measured, and the exit status is 0.
Results: a table on stdout and JSON in benchmarks/results/bench-gpu-*.json.

    python -m benchmarks.gpu [--models mobilenet_v2,resnet50] [--batches 32,64,128,256,512]
                             [--n 2048] [--bundle PATH ...] [--work benchmarks/work]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from benchmarks import save_results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("mobilenet_v2", "resnet50")
BATCHES = (32, 64, 128, 256, 512)


def log(msg: str) -> None:
    print(f"[bench-gpu {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# The host: GPUs, decode ceiling
# --------------------------------------------------------------------------------------
def gpu_status() -> tuple[bool, str]:
    """(usable, why not / what): an NVIDIA GPU and ONNX Runtime's CUDA provider."""
    from bucketscore.bundle import devices

    hw = devices.probe()
    if not hw.gpu:
        return False, "no GPU visible (no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides it)"
    if not hw.ort_cuda:
        return False, "a GPU is here but onnxruntime has no CUDA provider (onnxruntime-gpu)"
    return True, f"{devices.gpu_count()} GPU(s), onnxruntime with CUDA"


def _decode_chunk(args) -> int:
    datas, spec_doc = args
    from bucketscore.bundle.images import decode_image
    from bucketscore.bundle.meta import InputSpec

    spec = InputSpec(**spec_doc)
    for data in datas:
        decode_image(data, spec)
    return len(datas)


def decode_ceiling(datas: list[bytes], spec_doc: dict, processes: int) -> float:
    """Images/s of decode_image in `processes` processes (after one warm-up pass)."""
    chunks = [datas[i::processes] for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_decode_chunk, [(c[:8], spec_doc) for c in chunks]))  # warm up
        started = time.perf_counter()
        done = sum(pool.map(_decode_chunk, [(c, spec_doc) for c in chunks]))
        return done / (time.perf_counter() - started)


# --------------------------------------------------------------------------------------
# Models and inference on the GPU
# --------------------------------------------------------------------------------------
def build_bundle(model: str, out: str):
    """The benchmark bundle of `model` at `out` (built once: random weights, 10 classes)."""
    from bucketscore.bundle.meta import BundleError, read_meta

    try:
        return read_meta(out)
    except BundleError:
        pass
    if model == "mobilenet_v2":
        from benchmarks.model import write_bench_bundle

        return write_bench_bundle(out)
    import keras

    from benchmarks.model import calibrate_batchnorm, calibration_images, labels
    from bucketscore.bundle.meta import InputSpec
    from bucketscore.model_export.exporting import BundleBuilder

    keras.utils.set_random_seed(0)
    names = labels()
    inputs = keras.Input((224, 224, 3), name="images")
    x = keras.applications.resnet50.preprocess_input(inputs)
    base = keras.applications.ResNet50(input_tensor=x, weights=None, classes=len(names))
    net = keras.Model(inputs, base.output, name="resnet50_bench")
    calibrate_batchnorm(net, calibration_images(32))
    spec = InputSpec(height=224, width=224, channels=3)
    with BundleBuilder(name="bench-resnet50", labels=names, input_spec=spec) as b:
        b.add_keras(net)
        b.add_onnx()
        return b.seal(out, extra={"benchmark": {"architecture": "ResNet50"}})


class UtilisationSampler:
    """nvidia-smi's GPU utilisation, sampled every `every` seconds while running."""

    def __init__(self, every: float = 0.2):
        self._every = every
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.wait(self._every):
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                ).stdout.split()
                self._samples.append(float(np.mean([float(v) for v in out])))
            except (OSError, ValueError, subprocess.SubprocessError):
                return

    def __enter__(self):
        if shutil.which("nvidia-smi"):
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()

    @property
    def mean(self):
        return float(np.mean(self._samples)) if self._samples else None


def infer_rate(bundle: str, pixels: np.ndarray, batch: int, seconds: float = 5.0) -> dict:
    """Images/s of the project's predictor on the GPU with batches of `batch` (after a
    warm-up batch), and the GPU utilisation meanwhile."""
    from bucketscore.bundle.predictor import load_predictor

    predictor = load_predictor(bundle, "onnx", "gpu")
    images = np.resize(pixels, (batch,) + pixels.shape[1:]).astype(np.uint8)
    predictor.predict(images)
    done, started = 0, time.perf_counter()
    with UtilisationSampler() as sampler:
        while time.perf_counter() - started < seconds:
            predictor.predict(images)
            done += batch
    rate = done / (time.perf_counter() - started)
    return {"batch": batch, "images_per_s": rate, "gpu_utilisation": sampler.mean}


# --------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}"
    )
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--n", type=int, default=2048, help="corpus images to decode")
    parser.add_argument(
        "--bundle",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="use this bundle for a model instead of building it",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="inference time per batch size")
    parser.add_argument("--work", default=os.path.join(REPO, "benchmarks", "work"))
    parser.add_argument("--results", default=os.path.join(REPO, "benchmarks", "results"))
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    batches = [int(b) for b in args.batches.split(",") if b]
    given = dict(b.split("=", 1) for b in args.bundle)
    cores = os.cpu_count() or 1
    from benchmarks.ceiling import load_corpus_bytes
    from benchmarks.corpus import write_local

    corpus = os.path.join(args.work, "gpu-corpus")
    write_local(corpus, args.n)
    datas = load_corpus_bytes(corpus, args.n)
    spec = {
        "height": 224,
        "width": 224,
        "channels": 3,
        "resize": "squash",
        "interpolation": "bilinear",
    }
    load = os.getloadavg()
    ceiling = decode_ceiling(datas, spec, cores)
    log(
        f"decode ceiling: {ceiling:.0f} images/s on {cores} cores ({len(datas)} JPEGs, "
        f"load average {load[0]:.2f})"
    )
    usable, why = gpu_status()
    doc = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": {
            "cores": cores,
            "cpu": platform.processor() or platform.machine(),
            "load_average": load,
            "gpu": why,
        },
        "decode_ceiling_images_per_s": ceiling,
        "models": {},
    }
    lines = [f"decode ceiling: {ceiling:.0f} images/s on {cores} cores", ""]
    if not usable:
        log(f"GPU parts skipped: {why}")
        lines.append(f"GPU parts skipped: {why}")
    else:
        from bucketscore.bundle.images import decode_image
        from bucketscore.bundle.meta import InputSpec

        pixels = np.stack([decode_image(d, InputSpec(**spec))[0] for d in datas[:64]])
        lines.append("| model | batch | images/s | GPU utilisation % | decode-bound ratio |")
        lines.append("| --- | ---: | ---: | ---: | ---: |")
        for model in models:
            bundle = given.get(model) or os.path.join(args.work, f"bundle-{model}")
            build_bundle(model, bundle)
            rows = []
            for batch in batches:
                row = infer_rate(bundle, pixels, batch, args.seconds)
                # Over 1: the GPU infers faster than the cores decode, decoding bounds.
                row["decode_bound_ratio"] = row["images_per_s"] / ceiling
                rows.append(row)
                util = row["gpu_utilisation"]
                lines.append(
                    f"| {model} | {batch} | {row['images_per_s']:.0f} | "
                    f"{'-' if util is None else f'{util:.0f}'} | "
                    f"{row['decode_bound_ratio']:.2f} |"
                )
                log(lines[-1])
            doc["models"][model] = rows
    print("\n".join(lines))
    log(f"results: {save_results(args.results, 'bench-gpu', doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
