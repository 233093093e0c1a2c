"""One writer per run folder: a lease object `<run folder>/_LEASE`, taken before anything
is cleared or written, renewed while the run runs, removed at the end.

`take(run_uri, owner)` -> Lease, or `LeaseHeld` (its message names the owner, host, process
and since when) when another run holds a live one. A lease is live while it is renewed
(every RENEW_SECONDS, by a daemon thread: `Lease.start_renewing`); one not renewed for
STALE_SECONDS (a killed run) is taken over, and so, at once, is one written on this host by
a process that is gone (a scheduler re-running a killed job must not wait). `takeover` on
the Lease says whose lease was taken and why. `Lease.release()` stops the renewals and
deletes the object if it is still ours; `Lease.lost` is set when a renewal found that
another run took the lease over (the run then must not call itself complete).

The object is JSON: owner, host, pid, started, renewed (ISO 8601 UTC), renewed_at (epoch
seconds: what staleness is judged on, so clocks of different hosts must agree to well
within STALE_SECONDS) and a random token (how a run recognises its own lease). Writes are
conditional (storage/conditional.py): two launches racing for a free folder get one lease.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from bucketscore.run_folder.layout import LEASE, file_uri, now_iso
from bucketscore.storage import conditional

log = logging.getLogger(__name__)

RENEW_SECONDS = 30.0  # how often a running run rewrites its lease
STALE_SECONDS = 3 * RENEW_SECONDS  # a lease not renewed for this long is a killed run's
ATTEMPTS = 5  # compare-and-swap rounds before giving up (each lost round: someone else won)
# Between writing a lease and reading it back: on a store that ignores the write's condition
# (gcp-storage-emulator; S3-compatible stores without If-None-Match), a launch racing with
# this one usually writes within milliseconds of it, and the read-back after this pause then
# sees the last writer, so only one keeps the lease. It narrows the race there, no more: a
# write answered later than the pause still gives two holders.
SETTLE_SECONDS = 0.2


class LeaseHeld(Exception):
    """Another run holds a live lease on the run folder; the message says who and since
    when."""


@dataclass
class Lease:
    """A lease this process holds on `uri` (the `_LEASE` object)."""

    uri: str
    record: dict
    version: object
    takeover: Optional[str] = None  # "took over the lease of ...": say it to the person
    lost: Optional[str] = None  # set by a renewal that found someone else's lease
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: Optional[threading.Thread] = field(default=None, repr=False)

    def start_renewing(self, every: Optional[float] = None) -> None:
        """Rewrite the lease's time every `every` seconds (default RENEW_SECONDS) in a
        daemon thread, until release()."""
        period = RENEW_SECONDS if every is None else every
        self._thread = threading.Thread(
            target=self._renew_loop, args=(period,), name="bucketscore-lease", daemon=True
        )
        self._thread.start()

    @property
    def renewing(self) -> bool:
        """Whether the renewal thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def _renew_loop(self, period: float) -> None:
        while not self._stop.wait(period):
            try:
                self.renew()
            except conditional.Conflict:
                self.lost = _lost_text(self.uri)
                log.error("%s", self.lost)
                return
            except Exception as e:  # noqa: BLE001 - storage hiccup: try again next period
                log.warning("could not renew the lease %s: %s", self.uri, e)

    def renew(self) -> None:
        """Rewrite the lease with the time now; Conflict when it is no longer ours."""
        # Read first: on a store that ignores the write's condition (the GCS emulator) this
        # is what notices a takeover; elsewhere the condition also closes the gap after it.
        found = conditional.read(self.uri)
        if found is None or _decode(found[0]).get("token") != self.record["token"]:
            raise conditional.Conflict(self.uri)
        record = dict(self.record, renewed=now_iso(), renewed_at=time.time())
        self.version = conditional.replace(self.uri, _encode(record), self.version)
        self.record = record

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours. Never raises: the run's
        own outcome is what the caller reports."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            found = conditional.read(self.uri)
            if found is not None and _decode(found[0]).get("token") == self.record["token"]:
                conditional.delete(self.uri)
        except Exception as e:  # noqa: BLE001
            log.warning("could not remove the lease %s: %s", self.uri, e)


def take(run_uri: str, owner: str = "bucketscore score") -> Lease:
    """Take the lease of the run folder `run_uri`. Raises LeaseHeld when a live one is
    another run's."""
    uri = file_uri(run_uri, LEASE)
    for _ in range(ATTEMPTS):
        record = _new_record(owner)
        found = conditional.read(uri)
        takeover = None
        try:
            if found is None:
                conditional.create(uri, _encode(record))
            else:
                held = _decode(found[0])
                why = stale_because(held)
                if why is None:
                    raise LeaseHeld(held_text(run_uri, held))
                takeover = f"took over the lease of {_whose(held)}: {why}"
                conditional.replace(uri, _encode(record), found[1])
        except conditional.Conflict:
            continue  # another launch wrote first: look again
        # Read back: on a store that ignores the conditions, the last writer wins here.
        time.sleep(SETTLE_SECONDS)
        now = conditional.read(uri)
        if now is None or _decode(now[0]).get("token") != record["token"]:
            continue
        return Lease(uri, record, now[1], takeover=takeover)
    found = conditional.read(uri)
    held = _decode(found[0]) if found else {}
    raise LeaseHeld(held_text(run_uri, held))


def stale_because(held: dict, now: Optional[float] = None) -> Optional[str]:
    """Why the lease `held` may be taken over, or None while it is live."""
    now = time.time() if now is None else now
    renewed = held.get("renewed_at")
    if not isinstance(renewed, (int, float)):
        return "it is unreadable"
    if now - renewed > STALE_SECONDS:
        return f"not renewed for {now - renewed:.0f} s (stale after {STALE_SECONDS:.0f} s)"
    if held.get("host") == socket.gethostname() and isinstance(held.get("pid"), int):
        if not _process_alive(held["pid"]):
            return f"process {held['pid']} is gone"
    return None


def held_text(run_uri: str, held: dict) -> str:
    """One line: who holds the run folder, since when, what to do."""
    return (
        f"{run_uri} is being written by another run: {_whose(held)}, since "
        f"{held.get('started', '?')} (lease renewed {held.get('renewed', '?')}); wait for it "
        f"to end, or choose another --run_id"
    )


def _whose(held: dict) -> str:
    return f"{held.get('owner', '?')} on host {held.get('host', '?')}, pid {held.get('pid', '?')}"


def _lost_text(uri: str) -> str:
    return f"another run took over the lease {uri} while this run was writing"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _new_record(owner: str) -> dict:
    started = now_iso()
    return {
        "owner": owner,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": started,
        "renewed": started,
        "renewed_at": time.time(),
        "token": secrets.token_hex(8),
    }


def _encode(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True).encode("utf-8")


def _decode(data: bytes) -> dict:
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}
