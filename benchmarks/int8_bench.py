"""fp32 against int8 (bucketscore quantize) on ONNX Runtime, one thread: speed and agreement.

    make bench-int8                       # MobileNetV2, ResNet-50 and the digits demo
    python -m benchmarks.int8_bench --models resnet50 --timed 32

MobileNetV2 and ResNet-50 are torchvision's, random weights (BatchNorm statistics set on
corpus images: `calibrated` in tests/support/torch_models.py), exported with
torch.onnx.export and wrapped by `bucketscore export --onnx --preprocess torch --softmax
--resize crop`; each bundle is quantized with the project's own path
(model_export.quantizing.quantize_bundle) calibrated on `--calibration` photographs of the
benchmark corpus (benchmarks/corpus.py, 500x375 JPEGs; quantize holds 1/4 of them out).
Then, in this process:

* agreement: top-1 agreement and largest probability difference of int8 with fp32 on
  `--eval` further corpus images (none of them calibrated on);
* speed: images/s (wall) and CPU ms per image (process CPU time) of each model on `--timed`
  decoded images in batches of 4 (score's CPU batch), one intra-op thread (one thread per
  worker), fp32 and int8 in alternation, the best of `--repeats`;
* the digits demo (a trained LeNet: accuracy is real): a copy of the demo bundle quantized
  on the demo images (labels from folders), quantize's held-out figures with the accuracy
  of each, and its speed.

Random weights cost what trained weights cost, but they quantize differently (their
scores are close together: small errors flip top-1 more often than in a trained model),
so the corpus agreement of MobileNetV2 and ResNet-50 is a pessimistic stand-in; the
digits figures are a trained model's. The 1-minute load average is printed beside every
figure. Results: benchmarks/results/int8-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import time

from benchmarks import save_results
from benchmarks.torch_vs_onnx import calibrated_model_code

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = {"mobilenet_v2": "MobileNetV2", "resnet50": "ResNet-50"}
BATCH = 4  # score's CPU batch size (DEFAULT_BATCH_SIZE in pipelines/inference_plan.py)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def build_onnx(arch: str, work: str, corpus: str) -> str:
    """torchvision `arch` (random, calibrated weights) -> ONNX (NCHW float, dynamic batch),
    in a fresh interpreter (torchvision and TensorFlow must not share a process)."""
    path = os.path.join(work, f"{arch}.onnx")
    if os.path.isfile(path):
        return path
    code = calibrated_model_code(arch, corpus) + (
        f"torch.onnx.export(m, (torch.rand(2, 3, 224, 224),), {path!r}, dynamo=False,\n"
        "    opset_version=17, input_names=['input'], output_names=['logits'],\n"
        "    dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    return path


def build_bundle(arch: str, work: str, corpus: str) -> str:
    bundle = os.path.join(work, f"{arch}-bundle")
    if os.path.isfile(os.path.join(bundle, "model.json")):
        return bundle
    onnx_file = build_onnx(arch, work, corpus)
    labels = os.path.join(work, "labels.txt")
    with open(labels, "w") as f:
        f.write("".join(f"c{i}\n" for i in range(10)))
    exe = os.path.join(os.path.dirname(sys.executable), "bucketscore")
    subprocess.run(
        [exe, "export", "--onnx", onnx_file, "--labels", labels, "--preprocess", "torch"]
        + ["--softmax", "--resize", "crop", "--name", arch, "--out", bundle],
        check=True,
        capture_output=True,
    )
    return bundle


def decoded(paths: list[str], spec):
    import numpy as np

    from bucketscore.bundle.images import decode_image

    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(decode_image(f.read(), spec)[0])
    return np.stack(out)


def predictors(bundle: str, threads: int):
    from bucketscore.bundle.meta import INT8_FILE, ONNX_FILE, read_meta
    from bucketscore.bundle.predictor import ONNXPredictor

    meta = read_meta(bundle)
    return {
        "fp32": ONNXPredictor(meta, bundle, "cpu", file=ONNX_FILE, threads=threads),
        "int8": ONNXPredictor(meta, bundle, "cpu", file=INT8_FILE, threads=threads),
    }


def timed(bundle: str, images, repeats: int) -> dict:
    """images/s and CPU ms per image of fp32 and int8, one thread, batches of BATCH, in
    alternation; the best of `repeats` (warm-up batches first)."""
    models = predictors(bundle, threads=1)
    for p in models.values():
        p.predict(images[:BATCH])
    best: dict[str, dict] = {}
    for _ in range(repeats):
        for name, p in models.items():
            before = load()
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(images), BATCH):
                p.predict(images[start : start + BATCH])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            figures = {
                "images_per_s": len(images) / wall,
                "cpu_ms_per_image": 1000 * cpu / len(images),
                "images": len(images),
                "load_1min": [before, load()],
            }
            if name not in best or figures["images_per_s"] > best[name]["images_per_s"]:
                best[name] = figures
    best["int8_over_fp32"] = best["int8"]["images_per_s"] / best["fp32"]["images_per_s"]
    return best


MARGIN = 0.1  # fp32 top-1 minus top-2 probability


def agreement_on(bundle: str, images) -> dict:
    import numpy as np

    from bucketscore.bundle.torch_runtime import agreement

    models = predictors(bundle, threads=2)
    fp32 = models["fp32"].predict(images).probabilities
    int8 = models["int8"].predict(images).probabilities
    # How close fp32's two best scores are: a random network's often are, and a small
    # error flips them; the agreement where the margin is wider tells the two apart.
    top2 = np.sort(fp32, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    same = fp32.argmax(1) == int8.argmax(1)
    wide = margin > MARGIN
    return {
        **agreement(fp32, int8),
        "fp32_top1_margin_median": float(np.median(margin)),
        f"share_with_margin_over_{MARGIN}": float(np.mean(wide)),
        f"top1_agreement_margin_over_{MARGIN}": float(np.mean(same[wide])) if wide.any() else None,
        "load_1min": load(),
    }


def say_speed(name: str, speed: dict) -> None:
    for precision in ("fp32", "int8"):
        s = speed[precision]
        print(
            f"  {name:12s} {precision}: {s['images_per_s']:7.1f} images/s, "
            f"{s['cpu_ms_per_image']:7.2f} CPU ms/image  (load {s['load_1min'][0]:.2f}-"
            f"{s['load_1min'][1]:.2f})"
        )
    print(f"  {name:12s} int8 / fp32 speed: {speed['int8_over_fp32']:.2f}x")


def say_agreement(name: str, where: str, a: dict) -> None:
    text = (
        f"  {name:12s} agreement on {a['images']} {where}: top-1 {a['top1_agreement']:.1%}, "
        f"largest probability difference {a['max_probability_difference']:.3g}"
    )
    if a.get("accuracy_fp32") is not None:
        text += f"; accuracy fp32 {a['accuracy_fp32']:.1%}, int8 {a['accuracy_int8']:.1%}"
    margin = a.get(f"top1_agreement_margin_over_{MARGIN}")
    if margin is not None:
        text += (
            f"; fp32 top-1 margin median {a['fp32_top1_margin_median']:.3f}, agreement "
            f"{margin:.1%} on the {a[f'share_with_margin_over_{MARGIN}']:.0%} with margin > "
            f"{MARGIN}"
        )
    print(text + f"  (load {a.get('load_1min', load()):.2f})")


def main(argv=None) -> int:
    from benchmarks.corpus import link_copies, write_local
    from bucketscore.bundle.meta import read_meta
    from bucketscore.model_export.quantizing import quantize_bundle

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v2,resnet50", help="of " + ",".join(ARCHS))
    ap.add_argument("--calibration", type=int, default=128, help="corpus images quantize reads")
    ap.add_argument("--eval", type=int, default=256, help="further corpus images compared")
    ap.add_argument("--timed", type=int, default=64, help="images timed per model and run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--demo_model", default=os.path.join(REPO, "models", "digits"))
    ap.add_argument("--demo_data", default=os.path.join(REPO, "demo_data", "digits"))
    ap.add_argument("--work", default=os.path.join(REPO, "benchmarks", "work", "int8"))
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = ap.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    result = {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "threads": 1,
        "batch": BATCH,
        "load_1min_at_start": load(),
        "models": {},
    }
    print(f"int8 benchmark: {os.cpu_count()} cores, load {load():.2f}")

    corpus = os.path.join(args.work, "corpus")
    rels = write_local(corpus, args.calibration + args.eval)
    calibration = os.path.join(args.work, "calibration")
    link_copies(corpus, rels[: args.calibration], calibration, 1)
    held = [os.path.join(corpus, r) for r in rels[args.calibration :]]
    for arch in [a for a in args.models.split(",") if a]:
        name = ARCHS[arch]
        bundle = build_bundle(arch, args.work, corpus)
        started = time.monotonic()
        meta = quantize_bundle(
            bundle,
            calibration=calibration,
            samples=args.calibration,
            labels="none",
            min_agreement=0.0,
            log=lambda _: None,
        )
        quantize_s = time.monotonic() - started
        print(f"{name}: quantized in {quantize_s:.0f} s (load {load():.2f})")
        say_agreement(name, "held-out calibration images", meta.int8["agreement"])
        eval_images = decoded(held, meta.input)
        corpus_agreement = agreement_on(bundle, eval_images)
        say_agreement(name, "further corpus images", corpus_agreement)
        speed = timed(bundle, eval_images[: args.timed], args.repeats)
        say_speed(name, speed)
        sizes = {
            f: os.path.getsize(os.path.join(bundle, f)) for f in ("model.onnx", "model.int8.onnx")
        }
        result["models"][name] = {
            "weights": "random (torchvision, BatchNorm statistics from corpus images)",
            "quantize_seconds": quantize_s,
            "quantize_held_out": meta.int8["agreement"],
            "corpus_agreement": corpus_agreement,
            "speed": speed,
            "file_bytes": sizes,
        }

    if os.path.isfile(os.path.join(args.demo_model, "model.json")):
        demo = os.path.join(args.work, "digits")
        shutil.rmtree(demo, ignore_errors=True)
        shutil.copytree(args.demo_model, demo)
        meta = quantize_bundle(demo, calibration=args.demo_data, samples=10_000, log=lambda _: None)
        print("digits demo (LeNet, trained):")
        say_agreement("digits", "held-out demo images", meta.int8["agreement"])
        import glob

        paths = sorted(glob.glob(os.path.join(args.demo_data, "*", "*.png")))
        speed = timed(demo, decoded(paths[: max(args.timed, 256)], read_meta(demo).input), 3)
        say_speed("digits", speed)
        result["models"]["digits demo"] = {
            "weights": "trained (bucketscore demo)",
            "quantize_held_out": {**meta.int8["agreement"], "load_1min": load()},
            "speed": speed,
        }
    else:
        print(f"digits demo: no bundle at {args.demo_model} (make demo): skipped")

    result["load_1min_at_end"] = load()
    print(f"results: {save_results(args.out, 'int8', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
