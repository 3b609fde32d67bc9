"""One runner per job: a lease in the ledger that every runner takes before it works on a job.

A lease names its owner (machine, process, token: ``genplate.core.owner``), when it was taken,
and until when it holds. The holder renews it with a heartbeat; a lease whose expiry passed is
free, whoever held it. Nothing here trusts a process id across machines: a second runner on
another host waits for the lease to lapse. Only on the holder's own machine is a dead pid taken
as proof, at once, that the lease is free (the shortcut that lets `genplate resume` take over
from a killed process without waiting out the expiry).

Expiry is judged by each reader's own clock against the holder's recorded expiry, so machines
that share a ledger must keep their clocks within a fraction of ``lease_seconds()`` (NTP does).

Every step a runner records carries its owner, and the ledger refuses the step (``LeaseLost``)
when the lease has passed to another runner: a runner that stalled past its expiry and woke up
cannot overwrite the work of the one that took over.

These functions run inside the ledger's write transaction (``Ledger`` calls them).
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Optional

from ..owner import Owner, gone_here, pid_alive
from .errors import LeaseLost

LEASE_ENV = "GENPLATE_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 60.0
# A runner from before leases recorded only its pid and a heartbeat every 10 s (one host only).
LEGACY_STALE_SECONDS = 30.0


def lease_seconds() -> float:
    """How long a lease holds without a heartbeat (a farm on a slow shared disk may raise it)."""
    raw = os.environ.get(LEASE_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_LEASE_SECONDS
    except ValueError:
        value = DEFAULT_LEASE_SECONDS
    return max(1.0, value)


def heartbeat_seconds(ttl: float) -> float:
    """Renew often enough that two missed beats still leave the lease standing."""
    return min(10.0, ttl / 4.0)


@dataclass(frozen=True)
class Lease:
    job_id: str
    owner: str
    host: str
    pid: int
    taken_at: float
    renewed_at: float
    expires_at: float

    def live(self, now: Optional[float] = None) -> bool:
        now = time.time() if now is None else now
        return self.expires_at > now and not gone_here(self.host, self.pid)

    def describe(self, now: Optional[float] = None) -> str:
        now = time.time() if now is None else now
        host = self.host.split(" (", 1)[0]
        return (f"process {self.pid} on {host} (last heartbeat {max(0.0, now - self.renewed_at):.0f} s "
                f"ago)")

    def to_json(self) -> dict:
        return {"host": self.host, "pid": self.pid, "taken_at": self.taken_at,
                "renewed_at": self.renewed_at, "expires_at": self.expires_at}


def _row(db: sqlite3.Connection, job_id: str) -> Optional[Lease]:
    row = db.execute("SELECT job_id, owner, host, pid, taken_at, renewed_at, expires_at"
                     " FROM leases WHERE job_id = ?", (job_id,)).fetchone()
    return Lease(*tuple(row)) if row is not None else None


def _legacy_holder(db: sqlite3.Connection, job_id: str, now: float) -> Optional[Lease]:
    """A runner of a genplate from before leases, still working on this job (same host)."""
    row = db.execute("SELECT worker_pid, heartbeat_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None or not row[0] or not row[1]:
        return None
    pid, beat = int(row[0]), float(row[1])
    if pid == os.getpid() or now - beat >= LEGACY_STALE_SECONDS or not pid_alive(pid):
        return None
    from ..owner import host_id

    return Lease(job_id, f"legacy/{pid}", host_id(), pid, beat, beat, beat + LEGACY_STALE_SECONDS)


def holder(db: sqlite3.Connection, job_id: str, now: Optional[float] = None) -> Optional[Lease]:
    """The live lease on a job, if any runner holds one."""
    now = time.time() if now is None else now
    lease = _row(db, job_id)
    if lease is not None:
        return lease if lease.live(now) else None
    return _legacy_holder(db, job_id, now)


def take(db: sqlite3.Connection, job_id: str, me: Owner, ttl: float,
         now: float) -> tuple[bool, Optional[Lease], Optional[str]]:
    """(taken, the live holder when not, why the previous holder was set aside when taken)."""
    current = _row(db, job_id)
    why: Optional[str] = None
    if current is not None and current.owner != str(me):
        if current.expires_at > now and not gone_here(current.host, current.pid):
            return False, current, None
        why = (f"took over from {current.describe(now)}: "
               + ("its process is gone" if current.expires_at > now else "its lease lapsed"))
    elif current is None:
        legacy = _legacy_holder(db, job_id, now)
        if legacy is not None:
            return False, legacy, None
    db.execute("INSERT OR REPLACE INTO leases (job_id, owner, host, pid, taken_at, renewed_at,"
               " expires_at) VALUES (?,?,?,?,?,?,?)",
               (job_id, str(me), me.host, me.pid,
                current.taken_at if current is not None and current.owner == str(me) else now,
                now, now + ttl))
    return True, None, why


def renew(db: sqlite3.Connection, job_id: str, me: Owner, ttl: float, now: float) -> bool:
    """Extend our lease; False when it is no longer ours (another runner took it over)."""
    cur = db.execute("UPDATE leases SET renewed_at = ?, expires_at = ? WHERE job_id = ? AND"
                     " owner = ?", (now, now + ttl, job_id, str(me)))
    return cur.rowcount == 1


def release(db: sqlite3.Connection, job_id: str, me: Owner) -> bool:
    cur = db.execute("DELETE FROM leases WHERE job_id = ? AND owner = ?", (job_id, str(me)))
    return cur.rowcount == 1


def check(db: sqlite3.Connection, job_id: str, me: Owner) -> None:
    """Refuse a step by a runner that no longer holds the job."""
    current = _row(db, job_id)
    if current is None or current.owner != str(me):
        who = current.describe() if current is not None else "nobody"
        raise LeaseLost(f"job {job_id}: this runner's lease lapsed and the job is now held by "
                        f"{who}; leaving the job to it")


class Keeper:
    """Keeps a runner's lease alive with a heartbeat thread; ``lost`` turns True when another
    runner took the job over (ours had lapsed), and the runner stops at its next check."""

    def __init__(self, ledger, job_id: str, me: Owner, ttl: float) -> None:
        self.ledger, self.job_id, self.me, self.ttl = ledger, job_id, me, ttl
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"lease-{job_id}")

    def start(self) -> None:
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(heartbeat_seconds(self.ttl)):
            try:
                if not self.ledger.renew_lease(self.job_id, self.me, self.ttl):
                    self.lost = True
                    return
            except Exception:  # a busy database must never kill the job; the next beat retries
                pass

    def stop(self) -> None:
        self._stop.set()


__all__ = ["Lease", "Keeper", "lease_seconds", "heartbeat_seconds", "holder", "take", "renew", "release",
           "check", "LEASE_ENV"]
