"""cli.serving over HTTP: a real `bucketscore serve` process on 127.0.0.1 answers as
`classify` does on the same images (bundle.classify, in this process: top-1 equal,
probabilities within 1e-6), in TF Serving's and Vertex AI's JSON and as raw bytes; bad
images, malformed requests, oversized bodies, other names and paths each get their one-line
answer; 8 threads x 50 requests are all answered right."""

from __future__ import annotations

import base64
import json
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from bucketscore.bundle.classify import classify, open_model
from tests.support.helpers import copy_demo_subset
from tests.support.serve_process import ServeProcess

MAX_BODY_MB = 0.25  # small, so that a 413 is cheap to provoke
ATOL = 1e-6


@pytest.fixture(scope="module")
def images(demo_bundle, tmp_path_factory) -> dict[str, bytes]:
    """Three demo digits per class: path -> bytes."""
    root = tmp_path_factory.mktemp("serving")
    rel = copy_demo_subset(demo_bundle.data, str(root), per_class=3)
    return {str(root / r): (root / r).read_bytes() for r in rel}


@pytest.fixture(scope="module")
def expected(demo_bundle, images) -> dict[str, dict]:
    """What `classify` answers for each image, all labels ranked."""
    model = open_model(demo_bundle.model, "onnx", "cpu")
    labels = len(model.meta.labels)
    return {a.uri: a.as_dict() for a in classify(model, list(images), k=labels)}


@pytest.fixture(scope="module")
def server(demo_bundle):
    s = ServeProcess(demo_bundle.model, "--max_body_mb", str(MAX_BODY_MB), "--top_k", "3")
    yield s
    s.stop()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _predict(server, meta_name: str, instances, parameters=None):
    doc = {"instances": instances}
    if parameters is not None:
        doc["parameters"] = parameters
    return server.request(f"/v1/models/{meta_name}:predict", json.dumps(doc).encode())


def _same(answer: dict, want: dict, k: int) -> None:
    assert answer["labels"][0] == want["top_k_labels"][0]
    assert answer["labels"] == want["top_k_labels"][:k]
    assert answer["scores"] == pytest.approx(want["top_k_scores"][:k], abs=ATOL)
    assert (answer["width"], answer["height"]) == (want["width"], want["height"])


def test_predict_answers_as_classify_in_both_json_forms(server, demo_bundle, images, expected):
    name, version = demo_bundle.meta.name, demo_bundle.meta.version
    paths = sorted(images)
    instances = [
        {"b64": _b64(images[p])} if i % 2 else {"image_bytes": {"b64": _b64(images[p])}}
        for i, p in enumerate(paths)
    ]
    r = _predict(server, name, instances, {"top_k": 10})
    assert r.status == 200, r.body
    assert r.headers["x-model-version"] == version and r.headers["x-model-name"] == name
    got = r.json()["predictions"]
    assert len(got) == len(paths)
    for answer, path in zip(got, paths):
        _same(answer, expected[path], 10)
    default = _predict(server, name, instances[:1]).json()["predictions"][0]
    assert len(default["labels"]) == 3  # --top_k 3


def test_classify_takes_raw_bytes(server, demo_bundle, images, expected):
    name = demo_bundle.meta.name
    path = sorted(images)[0]
    r = server.request(f"/v1/models/{name}:classify?top_k=4", images[path], "image/png")
    assert r.status == 200 and r.headers["x-model-version"] == demo_bundle.meta.version
    _same(r.json(), expected[path], 4)
    r = server.request(f"/v1/models/{name}:classify", images[path], "application/octet-stream")
    _same(r.json(), expected[path], 3)


def test_a_bad_image_is_an_error_in_its_place_and_the_others_are_answered(
    server, demo_bundle, images, expected
):
    name = demo_bundle.meta.name
    path = sorted(images)[1]
    r = _predict(
        server,
        name,
        [{"b64": _b64(b"not an image")}, {"b64": _b64(images[path])}, {"b64": "%%"}],
    )
    assert r.status == 200
    bad, good, not_b64 = r.json()["predictions"]
    assert bad["stage"] == "decode" and "not an image" in bad["error"]
    _same(good, expected[path], 3)
    assert not_b64["stage"] == "read" and "not base64" in not_b64["error"]
    r = server.request(f"/v1/models/{name}:classify", b"GIF89a broken", "image/gif")
    assert r.status == 422 and r.json()["stage"] == "decode"


def test_a_decompression_bomb_is_refused_as_score_refuses_it(demo_bundle, tmp_path):
    from PIL import Image

    path = tmp_path / "big.png"
    Image.new("L", (400, 300)).save(path)
    s = ServeProcess(demo_bundle.model, "--max_pixels", "100000")
    try:
        r = s.request(
            f"/v1/models/{demo_bundle.meta.name}:classify", path.read_bytes(), "image/png"
        )
    finally:
        s.stop()
    assert r.status == 422 and "120,000 pixels" in r.json()["error"]


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"{not json", 400, "the body is not JSON"),
        (b'{"inputs": []}', 400, 'must be a JSON object with "instances"'),
        (b'{"instances": [3]}', 400, "instance 0 is not an image"),
        (b'{"instances": [{"b64": "YQ=="}], "parameters": {"top_k": 0}}', 400, "top_k must"),
    ],
)
def test_malformed_requests_are_400_with_one_line(server, demo_bundle, body, status, message):
    r = server.request(f"/v1/models/{demo_bundle.meta.name}:predict", body)
    assert r.status == status and message in r.json()["error"]
    assert "\n" not in r.json()["error"]


def test_an_oversized_body_is_413(server, demo_bundle):
    name = demo_bundle.meta.name
    big = int(MAX_BODY_MB * 2**20) + 1
    r = server.request(f"/v1/models/{name}:predict", b"x" * big)
    assert r.status == 413 and "--max_body_mb" in r.json()["error"]
    r = server.request(f"/v1/models/{name}:classify", b"x" * big, "image/png")
    assert r.status == 413
    ok = server.request(f"/v1/models/{name}:classify", b"x" * (big - 2), "image/png")
    assert ok.status == 422  # under the limit: read, and not an image


def test_other_names_paths_methods_and_types(server, demo_bundle):
    name = demo_bundle.meta.name
    r = server.request("/v1/models/cats:predict", b'{"instances": [{"b64": "YQ=="}]}')
    assert r.status == 404 and r.json()["error"] == (
        f"no model 'cats' here: this server serves {name!r}"
    )
    assert server.request("/v1/models/cats").status == 404
    r = server.request("/v2/anything")
    assert r.status == 404 and f"POST /v1/models/{name}:predict" in r.json()["error"]
    assert server.request(f"/v1/models/{name}:predict").status == 405  # a GET
    r = server.request(f"/v1/models/{name}:classify", b"{}", "application/json")
    assert r.status == 415 and f"/v1/models/{name}:predict" in r.json()["error"]
    r = server.request(f"/v1/models/{name}:classify", b"", "image/png")
    assert r.status == 400 and "empty" in r.json()["error"]


def test_metadata_and_health(server, demo_bundle):
    meta = demo_bundle.meta
    got = server.request(f"/v1/models/{meta.name}").json()
    assert got["labels"] == list(meta.labels) and got["version"] == meta.version
    assert got["input"]["height"] == meta.input.height and got["backend"] == "onnx"
    assert server.request("/healthz").json() == {"status": "ok"}


def test_concurrent_clients_are_all_answered_right(server, demo_bundle, images, expected):
    name = demo_bundle.meta.name
    paths = sorted(images)

    def client(seed: int) -> int:
        rng = random.Random(seed)
        done = 0
        for _ in range(50):
            picked = rng.sample(paths, rng.choice([1, 1, 1, 4]))
            r = _predict(server, name, [{"b64": _b64(images[p])} for p in picked])
            assert r.status == 200, r.body
            for answer, p in zip(r.json()["predictions"], picked, strict=True):
                _same(answer, expected[p], 3)
            done += 1
        return done

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(client, range(8))) == 400


def test_sigterm_stops_it_cleanly(demo_bundle):
    s = ServeProcess(demo_bundle.model)
    assert s.request("/healthz").status == 200
    status, err = s.stop()
    assert status == 0 and "bucketscore serve: stopped" in err and "Traceback" not in err


def test_answers_leave_without_waiting_for_the_client_s_ack():
    """The listening socket says TCP, so asyncio sets TCP_NODELAY on each connection:
    without it a keep-alive client waited ~40 ms per answer (Nagle against delayed ACKs)."""
    import asyncio
    import socket

    from bucketscore.cli.serving import bind

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    seen = []

    async def main():
        async def handle(_reader, writer):
            s = writer.get_extra_info("socket")
            seen.append(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=sock)
        _r, w = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.05)
        w.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
    assert seen and seen[0] != 0


def test_a_request_in_flight_at_sigterm_is_answered(demo_bundle, images):
    """SIGTERM while a request's body is still arriving: the request is answered whole,
    then the server exits 0."""
    import socket
    import time

    s = ServeProcess(demo_bundle.model)
    body = json.dumps({"instances": [{"b64": _b64(images[sorted(images)[0]])}]}).encode()
    head = (
        f"POST /v1/models/{demo_bundle.meta.name}:predict HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    conn = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    try:
        conn.sendall(head + body[:10])
        time.sleep(0.5)  # the server has the request's headers: it is in flight
        s.proc.terminate()
        time.sleep(0.5)
        conn.sendall(body[10:])
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    finally:
        conn.close()
    status, err = s.stop()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    (prediction,) = json.loads(answer.split(b"\r\n\r\n", 1)[1])["predictions"]
    assert prediction["labels"] and status == 0 and "stopped" in err
