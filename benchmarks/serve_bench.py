"""`bucketscore serve` under load: requests/s and latency, one image per request and 16.

    python -m benchmarks.serve_bench                      # the demo digits model
    python -m benchmarks.serve_bench --model benchmarks/work/bundle --images DIR
    make bench-serve [BENCH_ARGS=...]

A real server process (tests/support/serve_process.py) on 127.0.0.1 and client threads in
this process, each with its own keep-alive connection, sending the same images as base64
JSON to /v1/models/NAME:predict. Per case (images per request x client threads x
--max_batch of the server): requests/s, images/s, p50 and p99 latency in ms, and the 1-minute
load average before and after. --max_batch 1 against the default 32 is what batching
requests together gains. Results: benchmarks/results/serve-<time>.json.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import os
import statistics
import sys
import threading
import time

from benchmarks.servers import serve_process

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_images(folder: str, n: int = 64) -> list[bytes]:
    files = sorted(
        os.path.join(root, name)
        for root, _d, names in os.walk(folder)
        for name in names
        if name.lower().endswith((".png", ".jpg", ".jpeg"))
    )[:n]
    if not files:
        raise SystemExit(f"no images under {folder}")
    return [open(f, "rb").read() for f in files]


def run_case(port: int, name: str, bodies: list[bytes], clients: int, seconds: float) -> dict:
    """`clients` threads posting `bodies` round-robin for `seconds`: latencies and counts."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, i = [], offset
        while time.monotonic() < stop:
            body = bodies[i % len(bodies)]
            i += 1
            started = time.perf_counter()
            conn.request(
                "POST",
                f"/v1/models/{name}:predict",
                body,
                {"Content-Type": "application/json"},
            )
            r = conn.getresponse()
            data = r.read()
            mine.append(time.perf_counter() - started)
            if r.status != 200 or b'"error"' in data:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(k * 7,)) for k in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - began
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "errors": errors[0],
        "seconds": round(took, 2),
        "requests_per_s": round(n / took, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ms": round(1000 * latencies[min(n - 1, int(0.99 * n))], 2),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a bundle (default: the demo digits model, built if missing)")
    ap.add_argument("--images", help="a folder of images to send (default: the demo's)")
    ap.add_argument("--seconds", type=float, default=8.0, help="per case (default 8)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--max_batch", type=int, nargs="+", default=[32, 1])
    ap.add_argument("--work", default=os.path.join(REPO, "benchmarks", "work", "serve"))
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = ap.parse_args(argv)

    model, images = args.model, args.images
    if not model:
        from bucketscore.model_export.digits_demo import ensure_demo

        model, images = os.path.join(args.work, "model"), os.path.join(args.work, "demo_data")
        ensure_demo(model, images)
    if not images:
        raise SystemExit("--images: a folder of images for --model")
    with open(os.path.join(model, "model.json")) as f:
        name = json.load(f)["name"]
    data = [base64.b64encode(b).decode() for b in load_images(images)]
    bodies = {
        per: [
            json.dumps(
                {"instances": [{"b64": data[(i + j) % len(data)]} for j in range(per)]}
            ).encode()
            for i in range(0, len(data), per)
        ]
        for per in (1, 16)
    }
    cases = []
    for max_batch in args.max_batch:
        server = serve_process().ServeProcess(model, "--max_batch", str(max_batch))
        try:
            for per, body in bodies.items():
                run_case(server.port, name, body, 1, 1.0)  # warm-up
                for clients in args.clients:
                    load_before = os.getloadavg()[0]
                    got = run_case(server.port, name, body, clients, args.seconds)
                    got.update(
                        max_batch=max_batch,
                        images_per_request=per,
                        clients=clients,
                        images_per_s=round(got["requests_per_s"] * per, 1),
                        load_1min=[round(load_before, 2), round(os.getloadavg()[0], 2)],
                    )
                    cases.append(got)
                    print(
                        f"max_batch {max_batch:3d}  {per:2d} img/request  {clients} clients: "
                        f"{got['requests_per_s']:8.1f} req/s {got['images_per_s']:8.1f} img/s  "
                        f"p50 {got['p50_ms']:7.2f} ms  p99 {got['p99_ms']:7.2f} ms  "
                        f"errors {got['errors']}  load {got['load_1min']}",
                        flush=True,
                    )
        finally:
            server.stop()
    result = {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": os.path.abspath(model),
        "model_name": name,
        "cores": os.cpu_count(),
        "cases": cases,
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"serve-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"results: {path}")
    return 1 if any(c["errors"] for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
