"""Run a command and measure it: wall time, CPU time, and peak memory of its whole process tree.

Memory is sampled from /proc in a thread (every 100 ms, no psutil needed): at each sample
the RSS of the process and all its descendants (Beam's worker processes included) is
summed, and the peak of that sum is reported (`peak_rss_mb`). The process tree is
re-discovered every 5th sample (walking /proc costs more than reading a few status files;
the sampler stays near 1-2 % of one core). RSS counts a page shared by
two processes twice; PSS (from /proc/PID/smaps_rollup, sampled every 5th time) shares it
out, so `peak_pss_mb` is the tree's real footprint. Both are reported; the targets use RSS.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Optional


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        rest = stat[stat.rfind(b")") + 2 :].split()
        kids.setdefault(int(rest[1]), []).append(int(name))
    return kids


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants alive now."""
    kids = _children_map()
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, ()))
    return out


def _status_kb(pid: int, key: bytes) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class Measured:
    cmd: list[str]
    rc: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    peak_pss_mb: float = 0.0
    peak_processes: int = 0
    samples: int = 0
    load_before: tuple = ()
    load_after: tuple = ()
    output_tail: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["cmd"] = " ".join(self.cmd)
        return d


class TreeSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.1, limit_mb: float = 0):
        super().__init__(daemon=True)
        self.limit_kb = limit_mb * 1024
        self.killed = False
        self.pid = pid
        self.interval = interval
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.peak_procs = 0
        self.samples = 0
        self._pids: list[int] = [pid]
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def sample(self) -> None:
        if self.samples % 5 == 0:
            self._pids = tree(self.pid)
        pids = self._pids
        rss = sum(_status_kb(p, b"VmRSS:") for p in pids)
        self.peak_rss_kb = max(self.peak_rss_kb, rss)
        if self.limit_kb and rss > self.limit_kb and not self.killed:
            # Protect the machine (and whoever shares it): stop the whole tree.
            self.killed = True
            for p in reversed(pids):
                try:
                    os.kill(p, 9)
                except OSError:
                    pass
        self.peak_procs = max(self.peak_procs, len(pids))
        if self.samples % 5 == 0:
            self.peak_pss_kb = max(self.peak_pss_kb, sum(_pss_kb(p) for p in pids))
        self.samples += 1

    def stop(self) -> None:
        self._halt.set()
        self.join()


def measure(
    cmd: list[str],
    env: Optional[dict] = None,
    cwd: Optional[str] = None,
    timeout: Optional[float] = None,
    log_path: Optional[str] = None,
    limit_mb: float = 0,
) -> Measured:
    """Run `cmd` to completion; output goes to `log_path` (else its tail is kept).

    With `limit_mb`, the process tree is killed when its summed RSS passes that many MB
    (`extra["killed_over_limit_mb"]` says so)."""
    import resource

    m = Measured(cmd=list(cmd), load_before=os.getloadavg())
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    if not log_path:
        log = subprocess.PIPE
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    sampler = TreeSampler(proc.pid, limit_mb=limit_mb)
    sampler.start()
    out = b""
    try:
        if log is subprocess.PIPE:
            out, _ = proc.communicate(timeout=timeout)
        else:
            proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for p in reversed(tree(proc.pid)):
            try:
                os.kill(p, 9)
            except OSError:
                pass
        proc.wait()
    finally:
        m.wall_s = time.perf_counter() - t0
        sampler.stop()
    if log_path:
        log.close()
        with open(log_path, "rb") as f:
            out = f.read()
    m.rc = proc.returncode
    # Reaped children's CPU, which includes the descendants they waited for (runs are
    # sequential, so the difference is this command's).
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    m.cpu_s = (ru.ru_utime - ru0.ru_utime) + (ru.ru_stime - ru0.ru_stime)
    m.peak_rss_mb = sampler.peak_rss_kb / 1024
    m.peak_pss_mb = sampler.peak_pss_kb / 1024
    m.peak_processes = sampler.peak_procs
    m.samples = sampler.samples
    m.load_after = os.getloadavg()
    if sampler.killed:
        m.extra["killed_over_limit_mb"] = limit_mb
    m.output_tail = out.decode("utf-8", "replace")[-4000:]
    return m
