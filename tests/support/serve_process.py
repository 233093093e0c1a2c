"""`bucketscore serve` as the tests and the benchmark run it: a real process on 127.0.0.1
(a free port), called over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Optional

READY = re.compile(r"on http://127\.0\.0\.1:(\d+):")


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class ServeProcess:
    """`bucketscore serve --model MODEL --port 0 ARGS...`, started and waited for."""

    def __init__(self, model: str, *args: str, timeout: float = 90.0):
        self.argv = [sys.executable, "-m", "bucketscore.cli.main", "serve", "--model", model]
        self.argv += ["--port", "0", *args]
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.ready_line = self._wait_ready(timeout)
        self.port = int(READY.search(self.ready_line).group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if READY.search(line or ""):
                return line.strip()
            if not line and self.proc.poll() is not None:
                break
        self.proc.kill()
        out, err = self.proc.communicate()
        raise RuntimeError(f"bucketscore serve did not start: {err[-2000:]}")

    def request(
        self,
        path: str,
        body: Optional[bytes] = None,
        content_type: Optional[str] = "application/json",
        method: Optional[str] = None,
        timeout: float = 60,
    ) -> Response:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if body is not None and content_type:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers), e.read())

    def stop(self, timeout: float = 30) -> tuple[int, str]:
        """SIGTERM, then (exit status, the rest of stderr)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, err = self.proc.communicate()
        return self.proc.returncode, err
