"""One driver per run: a lease file in the run folder, kept fresh by a heartbeat while the driver works.

Two drivers on one ``--out``/``--run-id`` would both do every unit and count the work twice. A
second driver is refused while the lease is fresh; a lease whose heartbeat stopped (a killed
driver on another machine) expires after ``STALE_S``, and one left by a dead process on this
machine is taken over at once, so a resume right after a crash is never held up.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from raymouth.data import storage
from raymouth.errors import UserError

NAME = "lease.json"
HEARTBEAT_S = 5.0
STALE_S = 30.0  # six missed heartbeats


class RunInUse(UserError, RuntimeError):
    """Another driver holds the run; the message is one line."""


@dataclass
class Lease:
    loc: storage.Location
    token: str
    started: float
    stop: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Stop the heartbeat and remove the lease (only ours: a taken-over lease is left alone)."""
        self.stop.set()
        try:
            if _read(self.loc).get("token") == self.token:
                self.loc.fs.delete_file(self.loc.path)
        except Exception:  # noqa: BLE001 - the run's own outcome is what to report
            pass


def take(run_loc: storage.Location) -> Lease:
    """The run's lease, or ``RunInUse`` when a live driver holds it."""
    loc = run_loc.join(NAME)
    theirs = _read(loc)  # {} when there is none
    if theirs and _alive(theirs, time.time()):
        since = time.strftime("%H:%M:%S", time.localtime(theirs.get("started", 0)))
        raise RunInUse(
            f"run {run_loc.uri} is being run by another driver (host {theirs.get('host')}, pid {theirs.get('pid')}, "
            f"since {since}); wait for it, or stop it and re-run to resume"
        )
    lease = Lease(loc, uuid.uuid4().hex, time.time())
    _beat(lease)
    threading.Thread(target=_heartbeat, args=(lease,), daemon=True).start()
    return lease


def _alive(record: dict, now: float) -> bool:
    """Whether the lease's driver may still be working (this process's own lease is not another driver)."""
    if now - float(record.get("heartbeat", 0)) > STALE_S:
        return False
    if record.get("host") == socket.gethostname():
        pid = int(record.get("pid", 0))
        return pid != os.getpid() and _pid_alive(pid)
    return True


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(loc: storage.Location) -> dict:
    try:
        return json.loads(storage.read_bytes(loc))
    except (OSError, ValueError):
        return {}


def _beat(lease: Lease) -> None:
    record = {"token": lease.token, "host": socket.gethostname(), "pid": os.getpid(), "started": lease.started, "heartbeat": time.time()}
    storage.write_bytes(lease.loc, json.dumps(record).encode())


def _heartbeat(lease: Lease) -> None:
    while not lease.stop.wait(HEARTBEAT_S):
        try:
            if _read(lease.loc).get("token") != lease.token:
                return  # taken over (or released): never write over another driver's lease
            _beat(lease)
        except Exception:  # noqa: BLE001 - a missed beat only lets the lease age; the run goes on
            pass
