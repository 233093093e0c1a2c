"""Real local object-storage servers for the test suite (no mocks).

* :func:`start_seaweedfs` runs SeaweedFS's all-in-one server (``weed mini``) and
  returns an :class:`S3Server` exposing an S3 endpoint with signed (SigV4) access.
* :func:`start_gcs_emulator` runs ``gcp-storage-emulator`` and returns a
  :class:`GCSServer` speaking the GCS JSON API.

Both bind to 127.0.0.1 only, on free ports picked at run time, keep their data and
their log file under the ``workdir`` they are given (nothing goes to the test's
stdout), run in their own process group, and are stopped by :meth:`stop`, by an
``atexit`` hook, and -- when started from the main thread -- by the kernel if the
test process dies without running ``atexit`` (``setpriv --pdeathsig``).

``stop_process()`` / ``start_process()`` (or ``restart()``) restart a server on the
SAME ports with the SAME data directory, so objects survive (for reliability tests
that take the store away in the middle of a run). SeaweedFS keeps its data on disk
even across ``stop_process(kill=True)``; the GCS emulator runs ``--in-memory`` by
default (its on-disk mode maps object names to files, so ``a`` and ``a/b`` cannot
both exist) and then loses its objects on restart -- pass ``in_memory=False`` if a
test needs GCS data to survive.

Gotchas that shaped this file:

* Use ``http://127.0.0.1:PORT``, not ``localhost``: botocore then falls back to
  path-style addressing (``/bucket/key``) for every client, Beam's included (Beam's
  S3 client takes no addressing-style option).
* ``weed mini`` also starts an admin server (even with ``-admin.ui=false``) and gRPC
  listeners on fixed default ports (23646/33646, ...); every port is set explicitly
  here so two test sessions never collide. Its maintenance worker dials
  ``admin.port + 10000`` whatever ``-admin.port.grpc`` says, so that pair is kept.
  Glog files would go to /tmp unless ``-logtostderr`` is given, and the gRPC unix
  sockets always go to /tmp/seaweedfs-*-<port>.sock (removed on stop).
* Beam's GCS client first calls ``google.auth.default()`` wrapped in a retry with
  exponential backoff (4 retries from 2 s): without credentials a Beam process
  waits ~25 s before "connecting anonymously". :meth:`GCSServer.env` therefore
  points ``GOOGLE_APPLICATION_CREDENTIALS`` at a fake ``authorized_user`` file that
  carries an access token valid until 2999, so the lookup succeeds at once and no
  token refresh (network) ever happens; the emulator ignores the bearer token.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

__all__ = [
    "S3Server",
    "GCSServer",
    "StorageServerError",
    "start_seaweedfs",
    "start_gcs_emulator",
    "free_ports",
    "unique_bucket_name",
]

_BIN_DIR = Path(sys.executable).parent
_LIVE: set["_ManagedServer"] = set()
_LIVE_LOCK = threading.Lock()


class StorageServerError(RuntimeError):
    """A storage server did not start (or restart) in time."""


def free_ports(count: int) -> list[int]:
    """Returns ``count`` distinct TCP ports free on 127.0.0.1 right now."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _free_port_pair(offset: int = 10000) -> tuple[int, int]:
    """Two free ports ``(p, p + offset)`` (SeaweedFS's default gRPC-port rule)."""
    import random

    for _ in range(200):
        port = random.randint(20000, 65535 - offset)
        socks = []
        try:
            for candidate in (port, port + offset):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", candidate))
            return port, port + offset
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise StorageServerError(f"no free port pair (p, p+{offset}) found")


def find_binary(name: str) -> str:
    candidate = _BIN_DIR / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise StorageServerError(f"{name!r} not found next to {sys.executable} nor on PATH")
    return found


@atexit.register
def _stop_all_servers() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


class _ManagedServer:
    """One server process: its own process group, output appended to a log file."""

    name = "server"
    start_timeout = 30.0
    stop_timeout = 10.0

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self._proc: subprocess.Popen | None = None
        self._log_file = None

    # -- to be provided by subclasses -------------------------------------------------
    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _process_env(self) -> dict[str, str]:
        return dict(os.environ)

    def _probe(self) -> None:
        """Raises unless the server answers real requests."""
        raise NotImplementedError

    # -- process control ---------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start_process(self) -> None:
        """(Re)starts the process on the same ports and data, and waits until it answers."""
        if self.is_running():
            return
        argv = self._argv()
        # Kill the server if this process dies without running atexit (SIGKILL, crash).
        # PDEATHSIG fires when the *thread* that forked exits, so only use it from the
        # main thread: a restart from a helper thread must outlive that thread.
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            argv = [setpriv, "--pdeathsig", "KILL", "--"] + argv
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(
            f"\n=== {time.strftime('%H:%M:%S')} starting: {' '.join(argv)}\n".encode()
        )
        self._log_file.flush()
        self._proc = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env=self._process_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killpg reaches everything it forks
        )
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop_process()
                raise StorageServerError(
                    f"{self.name} exited with code {code} while starting "
                    f"(log {self.log_path}):\n{self.log_tail()}"
                )
            try:
                self._probe()
                return
            except Exception as e:  # noqa: BLE001 - anything means "not ready yet"
                last_error = e
                time.sleep(0.1)
        self.stop_process()
        raise StorageServerError(
            f"{self.name} did not answer within {self.start_timeout:.0f}s "
            f"(last error: {last_error!r}; log {self.log_path}):\n{self.log_tail()}"
        )

    def stop_process(self, timeout: float | None = None, kill: bool = False) -> None:
        """Stops the process (SIGTERM, then SIGKILL after ``timeout``); data stays.

        ``kill=True`` sends SIGKILL straight away, like a crash.
        """
        proc, self._proc = self._proc, None
        if proc is not None:
            timeout = self.stop_timeout if timeout is None else timeout
            # Signals go to the server's own process group (pgid == its pid). The group
            # leader is only reaped at the very end, so that pgid cannot have been
            # reused by an unrelated process when we signal it.
            if proc.returncode is None and not self._exited_unreaped(proc, 0):
                self._signal_group(proc, signal.SIGKILL if kill else signal.SIGTERM)
                if not self._exited_unreaped(proc, timeout):
                    self._signal_group(proc, signal.SIGKILL)
                    self._exited_unreaped(proc, 10)
            if proc.returncode is None:
                self._signal_group(proc, signal.SIGKILL)  # anything it forked
                proc.wait(timeout=10)
        if self._log_file is not None:
            with contextlib.suppress(Exception):
                self._log_file.close()
            self._log_file = None
        with _LIVE_LOCK:
            _LIVE.discard(self)

    @staticmethod
    def _exited_unreaped(proc: subprocess.Popen, timeout: float) -> bool:
        """Waits up to ``timeout`` s for ``proc`` to exit, leaving it a zombie (unreaped)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                    return True
            except ChildProcessError:  # already reaped elsewhere
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)  # start_new_session: pgid == pid

    def restart(self, kill: bool = False) -> None:
        self.stop_process(kill=kill)
        self.start_process()

    def stop(self) -> None:
        """Final stop (fixture teardown)."""
        self.stop_process()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# --------------------------------------------------------------------------------------
# S3: SeaweedFS `weed mini`
# --------------------------------------------------------------------------------------
LIMITED_BUCKET = "bucketscore-limited"


class S3Server(_ManagedServer):
    """SeaweedFS all-in-one server with its S3 gateway on ``endpoint_url``."""

    name = "seaweedfs"

    def __init__(
        self,
        workdir: Path,
        access_key: str = "bucketscore-test-key",
        secret_key: str = "bucketscore-test-secret",
        region: str = "us-east-1",
    ):
        super().__init__(workdir)
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self._config_dir = self.workdir / "config"  # empty: ignore ~/.seaweedfs, /etc/seaweedfs
        self._config_dir.mkdir(exist_ok=True)
        self.s3_config_path = self.workdir / "s3.json"
        # A second identity may list LIMITED_BUCKET but read only images/ok/ and models/ there:
        # reading anything else there is "access denied", for tests of unreadable objects.
        self.limited_access_key, self.limited_secret_key = "limited-test-key", "limited-secret"
        self.s3_config_path.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "bucketscore-test",
                            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        },
                        {
                            "name": "limited",
                            "credentials": [
                                {
                                    "accessKey": self.limited_access_key,
                                    "secretKey": self.limited_secret_key,
                                }
                            ],
                            "actions": [
                                f"List:{LIMITED_BUCKET}",
                                f"Read:{LIMITED_BUCKET}/images/ok/*",
                                f"Read:{LIMITED_BUCKET}/models/*",
                                f"Read:{LIMITED_BUCKET}/results/*",
                                f"Write:{LIMITED_BUCKET}/results/*",
                            ],
                        },
                    ]
                },
                indent=2,
            )
        )
        names = [
            "master",
            "master_grpc",
            "volume",
            "volume_grpc",
            "filer",
            "filer_grpc",
            "s3",
            "s3_grpc",
        ]
        self.ports = dict(zip(names, free_ports(len(names))))
        # The embedded maintenance worker dials admin.port + 10000 whatever
        # -admin.port.grpc says, so keep that rule.
        self.ports["admin"], self.ports["admin_grpc"] = _free_port_pair(10000)
        self.port = self.ports["s3"]
        self.endpoint_url = f"http://127.0.0.1:{self.port}"

    def _argv(self) -> list[str]:
        p = self.ports
        argv = [
            find_binary("weed"),
            "-logtostderr=true",
            f"-config_dir={self._config_dir}",
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            "-master.telemetry=false",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.preStopSeconds=0",
            # Every bucket is a collection with volumes of its own, and the default cap
            # (free disk / volume size) stopped writes after ~70 buckets ("InternalError");
            # volumes are not preallocated, so a high cap costs no disk.
            "-volume.max=2000",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.s3_config_path}",
            f"-admin.port={p['admin']}",
            f"-admin.port.grpc={p['admin_grpc']}",
            "-admin.ui=false",
            "-webdav=false",
        ]
        # Unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them in workdir
        # when the path fits in sun_path (108 bytes).
        for flag, sock in (("-filer.localSocket", "filer.sock"), ("-s3.localSocket", "s3.sock")):
            path = str(self.workdir / sock)
            if len(path) < 100:
                argv.append(f"{flag}={path}")
        return argv

    def stop_process(self, timeout: float | None = None, kill: bool = False) -> None:
        super().stop_process(timeout=timeout, kill=kill)
        # gRPC unix sockets always go to /tmp/seaweedfs-<component>-grpc-<port>.sock and
        # stay behind after SIGKILL; remove ours.
        for port in self.ports.values():
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    sock.unlink()

    def _process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "S3_BUCKET",
            "S3_TABLE_BUCKET",
            "S3_EXTERNAL_URL",
        ):
            env.pop(var, None)
        return env

    def _probe(self) -> None:
        client = self.boto3_client(connect_timeout=1, read_timeout=3, max_attempts=1)
        client.list_buckets()

    def boto3_client(
        self, connect_timeout: float = 5, read_timeout: float = 60, max_attempts: int = 3
    ):
        """A signed boto3 S3 client for this server (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"max_attempts": max_attempts, "mode": "standard"},
            ),
        )

    def beam_options(self) -> list[str]:
        """Beam flags for its S3 filesystem (apache_beam.options.pipeline_options.S3Options).

        ``--s3_disable_ssl``/``--s3_verify`` are not needed: an ``http://`` endpoint URL
        already means plain HTTP to boto3 (and ``--s3_verify`` is parsed as a string,
        i.e. a CA-bundle path, so ``--s3_verify=false`` would not mean False).
        """
        return [
            f"--s3_endpoint_url={self.endpoint_url}",
            f"--s3_access_key_id={self.access_key}",
            f"--s3_secret_access_key={self.secret_key}",
            f"--s3_region_name={self.region}",
        ]

    def create_bucket(self, name: str) -> str:
        """Creates ``name`` (3-63 chars, lowercase, digits, '-') if missing; returns it."""
        client = self.boto3_client()
        try:
            client.create_bucket(Bucket=name)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        except client.exceptions.BucketAlreadyExists:
            pass
        return name

    def __repr__(self) -> str:
        return f"S3Server({self.endpoint_url}, data={self.data_dir})"


def start_seaweedfs(workdir, **kwargs) -> S3Server:
    """Starts ``weed mini`` under ``workdir``; returns once signed S3 requests succeed."""
    server = S3Server(Path(workdir), **kwargs)
    server.start_process()
    return server


# --------------------------------------------------------------------------------------
# GCS: gcp-storage-emulator
# --------------------------------------------------------------------------------------
_FAKE_ADC = {
    # An "authorized_user" ADC file with a ready access token that never expires:
    # google.auth.default() loads it without any network call and the token is never
    # refreshed. The emulator does not check it.
    "type": "authorized_user",
    "client_id": "bucketscore-emulator",
    "client_secret": "bucketscore-emulator",
    "refresh_token": "bucketscore-emulator",
    "token": "bucketscore-emulator-token",
    "expiry": "2999-01-01T00:00:00Z",
}


class GCSServer(_ManagedServer):
    """gcp-storage-emulator on ``host`` ("127.0.0.1:PORT")."""

    name = "gcs-emulator"
    project = "bucketscore-test"

    def __init__(self, workdir: Path, in_memory: bool = True):
        super().__init__(workdir)
        self.in_memory = in_memory
        self.port = free_ports(1)[0]
        self.host = f"127.0.0.1:{self.port}"
        self.endpoint_url = f"http://{self.host}"
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.credentials_path = self.workdir / "fake-adc.json"
        self.credentials_path.write_text(json.dumps(_FAKE_ADC, indent=2))
        self._gcloud_config_dir = self.workdir / "gcloud"
        self._gcloud_config_dir.mkdir(exist_ok=True)

    def _argv(self) -> list[str]:
        argv = [
            find_binary("gcp-storage-emulator"),
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.in_memory:
            argv.append("--in-memory")
        return argv

    def _process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["STORAGE_BASE"] = str(self.data_dir)  # on-disk data: <data>/.cloudstorage
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _probe(self) -> None:
        url = f"{self.endpoint_url}/storage/v1/b?project={self.project}"
        with urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status != 200:
                raise StorageServerError(f"GET {url} -> {resp.status}")
            json.loads(resp.read())

    def env(self) -> dict[str, str]:
        """Environment for google-cloud-storage and Beam's GCS filesystem to use the emulator.

        * ``STORAGE_EMULATOR_HOST``: google-cloud-storage (which Beam's gcsio uses)
          sends every request there.
        * ``GOOGLE_APPLICATION_CREDENTIALS``: fake ADC (see module docstring) so that
          Beam's credential lookup succeeds immediately instead of retrying ~25 s.
        * ``GOOGLE_CLOUD_PROJECT``/``CLOUDSDK_CORE_PROJECT``: a project, so nothing looks
          one up.
        * ``NO_GCE_CHECK=true``: google-auth never probes the GCE metadata server;
          ``CLOUDSDK_CONFIG``: an empty gcloud config dir, ignoring the user's.
        """
        return {
            "STORAGE_EMULATOR_HOST": self.endpoint_url,
            "GOOGLE_APPLICATION_CREDENTIALS": str(self.credentials_path),
            "GOOGLE_CLOUD_PROJECT": self.project,
            "CLOUDSDK_CORE_PROJECT": self.project,
            "CLOUDSDK_CONFIG": str(self._gcloud_config_dir),
            "NO_GCE_CHECK": "true",
        }

    def client(self):
        """A google.cloud.storage Client talking to the emulator (anonymous credentials)."""
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=self.project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=self.endpoint_url),
        )

    def create_bucket(self, name: str) -> str:
        from google.api_core.exceptions import Conflict

        with contextlib.suppress(Conflict):
            self.client().create_bucket(name)
        return name

    def __repr__(self) -> str:
        return f"GCSServer({self.endpoint_url}, data={self.data_dir})"


def start_gcs_emulator(workdir, **kwargs) -> GCSServer:
    """Starts gcp-storage-emulator under ``workdir``; returns once its JSON API answers."""
    server = GCSServer(Path(workdir), **kwargs)
    server.start_process()
    return server


_bucket_counter = 0
_bucket_lock = threading.Lock()


def unique_bucket_name(prefix: str = "test") -> str:
    """A fresh bucket name valid on both S3 and GCS (3-63 chars of [a-z0-9-])."""
    global _bucket_counter
    with _bucket_lock:
        _bucket_counter += 1
        n = _bucket_counter
    prefix = "".join(c if c.isalnum() else "-" for c in prefix.lower()).strip("-") or "b"
    name = f"{prefix[:40]}-{os.getpid()}-{n}"
    return name if len(name) >= 3 else name + "-bkt"
