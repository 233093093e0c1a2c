"""What this machine can do: CPU time per image to decode+resize, and to run the model.

    ceiling (images/s) = cores / (decode CPU s/image + best inference CPU s/image)

Decode is timed single-threaded with `process_time` over the corpus bytes held in memory
(no I/O), both with the pipeline's own `decode_image` and with the three Pillow calls a
user would write; the cheaper one counts. Inference is timed per backend (tf, onnx), per
intra-op thread count (1, 2) and per batch size, each backend x threads in a fresh process
(TensorFlow's thread pools are fixed at start-up); `process_time` counts every thread's
CPU, so spinning worker threads are charged too. The best CPU time per image over all of
them counts. Wall-clock rates are reported beside the CPU figures.

    python -m benchmarks.ceiling --bundle benchmarks/work/bundle --corpus benchmarks/work/corpus
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import subprocess
import sys
import time

import numpy as np

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


def load_corpus_bytes(corpus: str, n: int) -> list[bytes]:
    files = sorted(glob.glob(os.path.join(corpus, "*", "*.jpg")))[:n]
    out = []
    for f in files:
        with open(f, "rb") as fh:
            out.append(fh.read())
    return out


def time_decode(datas: list[bytes], spec, repeats: int = 3) -> dict:
    """CPU seconds per image, best of `repeats` passes, for decode_image and plain Pillow."""
    from PIL import Image

    from bucketscore.bundle.images import decode_image

    size = (spec.width, spec.height)

    def plain(data: bytes) -> np.ndarray:
        img = Image.open(io.BytesIO(data)).convert("RGB").resize(size, Image.Resampling.BILINEAR)
        return np.asarray(img)

    def ours(data: bytes) -> np.ndarray:
        return decode_image(data, spec)[0]

    result = {}
    for name, fn in (("pillow", plain), ("decode_image", ours)):
        fn(datas[0])
        best = float("inf")
        for _ in range(repeats):
            c0 = time.process_time()
            for d in datas:
                fn(d)
            best = min(best, (time.process_time() - c0) / len(datas))
        result[name] = best
    a, b = plain(datas[0]), ours(datas[0])
    result["identical_pixels"] = bool(np.array_equal(a, b))
    return result


def _inference_worker(
    bundle: str, backend: str, threads: int, images: int, batch_sizes
) -> list[dict]:
    """In a fresh process: CPU and wall time per image for each batch size."""
    if backend == "tf":
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
        os.environ["TF_NUM_INTEROP_THREADS"] = "1"
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    else:
        os.environ["BUCKETSCORE_ONNX_THREADS"] = str(threads)
    from bucketscore.bundle.predictor import load_predictor

    pred = load_predictor(bundle, backend)
    spec = pred.meta.input
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 256, (64, spec.height, spec.width, spec.channels), dtype=np.uint8)
    rows = []
    for bs in batch_sizes:
        x = pool[:bs] if bs <= len(pool) else np.resize(pool, (bs,) + pool.shape[1:])
        for _ in range(3):
            pred.predict(x)  # warm up (graph tracing, allocator)
        n_calls = max(3, images // bs)
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(n_calls):
            pred.predict(x)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        n = n_calls * bs
        rows.append(
            {
                "backend": backend,
                "threads": threads,
                "batch": bs,
                "cpu_ms_per_image": 1000 * cpu / n,
                "wall_images_per_s": n / wall,
            }
        )
    return rows


def time_inference(
    bundle: str, backends=("onnx", "tf"), threads=(1, 2), images: int = 256, batch_sizes=BATCH_SIZES
) -> list[dict]:
    rows = []
    for backend in backends:
        for t in threads:
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.ceiling",
                "--_worker",
                backend,
                str(t),
                "--bundle",
                bundle,
                "--images",
                str(images),
                "--batch_sizes",
                ",".join(map(str, batch_sizes)),
            ]
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode != 0:
                raise RuntimeError(
                    f"inference timing failed ({backend}, {t} threads):\n{out.stderr[-3000:]}"
                )
            rows += json.loads(out.stdout.strip().splitlines()[-1])
    return rows


def measure(
    bundle: str,
    corpus: str,
    cores: int,
    decode_images: int = 400,
    infer_images: int = 256,
    backends=("onnx", "tf"),
    threads=(1, 2),
    batch_sizes=BATCH_SIZES,
) -> dict:
    from bucketscore.bundle.meta import read_meta

    spec = read_meta(bundle).input
    dec = time_decode(load_corpus_bytes(corpus, decode_images), spec)
    inf = time_inference(bundle, backends, threads, infer_images, batch_sizes)
    decode_s = min(dec["pillow"], dec["decode_image"])
    best = min(inf, key=lambda r: r["cpu_ms_per_image"])
    infer_s = best["cpu_ms_per_image"] / 1000
    fastest_wall = max(inf, key=lambda r: r["wall_images_per_s"])
    per_backend = {}
    for r in inf:
        b = per_backend.get(r["backend"])
        if b is None or r["cpu_ms_per_image"] < b["cpu_ms_per_image"]:
            per_backend[r["backend"]] = r
    return {
        "cores": cores,
        "decode_cpu_ms_per_image": {
            k: (v * 1000 if isinstance(v, float) else v) for k, v in dec.items()
        },
        "inference": inf,
        "best_inference": best,
        "best_inference_per_backend": per_backend,
        "fastest_inference_wall": fastest_wall,
        "ceiling_images_per_s": cores / (decode_s + infer_s),
        "ceiling_per_backend": {
            b: cores / (decode_s + r["cpu_ms_per_image"] / 1000) for b, r in per_backend.items()
        },
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="benchmarks/work/bundle")
    ap.add_argument("--corpus", default="benchmarks/work/corpus")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch_sizes", default=",".join(map(str, BATCH_SIZES)))
    ap.add_argument("--backends", default="onnx,tf")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--_worker", dest="worker", nargs=2, metavar=("BACKEND", "THREADS"))
    args = ap.parse_args(argv)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.worker:
        backend, t = args.worker
        print(
            json.dumps(
                _inference_worker(os.path.abspath(args.bundle), backend, int(t), args.images, sizes)
            )
        )
        return
    res = measure(
        os.path.abspath(args.bundle),
        args.corpus,
        os.cpu_count() or 1,
        infer_images=args.images,
        backends=args.backends.split(","),
        threads=[int(t) for t in args.threads.split(",")],
        batch_sizes=sizes,
    )
    for r in res["inference"]:
        print(
            f"{r['backend']:5s} threads={r['threads']} batch={r['batch']:3d}  "
            f"cpu {r['cpu_ms_per_image']:6.2f} ms/image  "
            f"wall {r['wall_images_per_s']:7.1f} images/s"
        )
    print(json.dumps({k: v for k, v in res.items() if k != "inference"}, indent=1))


if __name__ == "__main__":
    main()
