"""What `genplate clean` may give back, and what it must keep.

Two kinds of leftovers grow without bound:

* Staging folders (``.v###.<job>.staging``) of versions that will never be published: the job
  ended (cancelled, failed for good, or published under another number), or the process that
  reserved it is gone (a killed `genplate ingest`). While they stand, their version numbers
  count as taken. A staging folder is reclaimed only when the ledger says its job is over, or
  its stamp (``versions.STAMP``) names a process on this machine that no longer exists, or it
  belongs to no job this ledger knows and nothing has been written in it for a day (another
  machine's or user's job: a pid cannot be checked across machines, so only time can tell).
* Downloaded deliveries of published takes (about 200 MB for a 1080p master): once the take is
  published the delivery is a second copy. It is kept for ``--keep-days`` after publishing (a
  re-ingest with other colour options needs it), and kept for good when the published take is
  gone, because then it is the only copy of something paid for.

Everything else is kept: the staging of a job that can still be resumed, the delivery of a job
not yet published or cancelled (paid for; the user may still want it).
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from ..owner import gone_here, host_id, pid_alive
from . import ledger as L
from .recovery import revivable

DEFAULT_KEEP_DAYS = 14.0
FOREIGN_IDLE_HOURS = 24.0
DAY = 86400.0


@dataclass
class Item:
    kind: str  # "staging" | "delivery"
    path: Path
    bytes: int
    reason: str
    job_id: Optional[str] = None
    error: Optional[str] = None
    reservation: object = None  # the staging folder's versions.Reservation

    def to_json(self) -> dict:
        data = {"kind": self.kind, "path": str(self.path), "bytes": self.bytes,
                "reason": self.reason, "job": self.job_id}
        if self.error:
            data["error"] = self.error
        return data


def tree_bytes(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def _last_write(path: Path) -> float:
    newest = 0.0
    for folder, _dirs, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, f) for f in files)]:
            try:
                newest = max(newest, os.lstat(name).st_mtime)
            except OSError:
                pass
    return newest


def known_roots(ledger: L.Ledger, extra: Iterable[str] = ()) -> list[Path]:
    """Every takes root this ledger's jobs publish to, and any the user named."""
    roots = {os.path.abspath(r) for r in extra}
    roots.update(os.path.abspath(j.publish["root"]) for j in ledger.jobs() if j.publish.get("root"))
    return sorted(Path(r) for r in roots if os.path.isdir(r))


def survey(ledger: L.Ledger, roots: Iterable[Path], *, keep_days: float = DEFAULT_KEEP_DAYS,
           now: Optional[float] = None) -> tuple[list[Item], list[Item]]:
    """(what may be reclaimed, what is kept and why); nothing is touched."""
    from ..takes import versions

    now = time.time() if now is None else now
    reclaim: list[Item] = []
    keep: list[Item] = []
    for root in roots:
        for reservation in versions.list_reservations(root):
            verdict, reason = _staging_verdict(ledger, reservation, now)
            item = Item("staging", reservation.dir, tree_bytes(reservation.dir), reason,
                        reservation.job_id, reservation=reservation)
            (reclaim if verdict else keep).append(item)
    for job in ledger.jobs(states=[L.READY]):
        folder = ledger.path.parent / "jobs" / job.id / "delivery"
        if not folder.is_dir():
            continue
        verdict, reason = _delivery_verdict(job, now, keep_days)
        (reclaim if verdict else keep).append(Item("delivery", folder, tree_bytes(folder), reason,
                                                   job.id))
    return reclaim, keep


def _staging_verdict(ledger: L.Ledger, reservation, now: float) -> tuple[bool, str]:
    job = ledger.find(reservation.job_id)
    if job is not None:
        if not job.terminal:
            return False, f"its job is {job.state} and can still be resumed"
        if job.state == L.FAILED and revivable(ledger, job) is not None:
            return False, "its job failed for a local cause and can be resumed"
        return True, f"its job {job.id} is {job.state}: this version will never be published"
    stamp = reservation.stamp() or {}
    host, pid = stamp.get("host"), stamp.get("pid")
    if isinstance(pid, int) and isinstance(host, str):
        if gone_here(host, pid):
            return True, f"the process that reserved it ({pid}) is gone"
        if host == host_id() and pid_alive(pid):
            return False, f"process {pid} on this machine is still writing it"
    idle = (now - _last_write(reservation.dir)) / 3600.0
    if idle >= FOREIGN_IDLE_HOURS:
        return True, (f"no job in this ledger holds it, and nothing was written in it for "
                      f"{idle:.0f} h")
    return False, (f"reserved by a job this ledger does not know (another machine or user), "
                   f"written {idle:.1f} h ago: kept until {FOREIGN_IDLE_HOURS:.0f} h of quiet")


def _delivery_verdict(job: L.Job, now: float, keep_days: float) -> tuple[bool, str]:
    take = Path(job.take_dir) if job.take_dir else None
    if take is None or not (take / "take.json").is_file():
        return False, (f"its take {job.take_dir or '(none recorded)'} is gone: this delivery is "
                       f"the only copy of a paid generation")
    age = (now - job.updated_at) / DAY
    if age < keep_days:
        return False, f"published {age:.1f} days ago; kept {keep_days:g} days"
    return True, f"published as {take} {age:.0f} days ago"


def reclaim(ledger: L.Ledger, items: list[Item], *, keep_days: float = DEFAULT_KEEP_DAYS) -> list[Item]:
    """Remove what ``survey`` found, each one checked again just before it goes."""
    from ..takes import versions

    done = []
    now = time.time()
    for item in items:
        try:
            if item.kind == "staging":
                reservation = item.reservation
                if not item.path.is_dir() or not _staging_verdict(ledger, reservation, now)[0]:
                    continue  # resumed, published or released meanwhile
                versions.release(reservation)
            else:
                job = ledger.find(item.job_id or "")
                if job is None or not _delivery_verdict(job, now, keep_days)[0]:
                    continue
                shutil.rmtree(item.path)
                ledger.note(job.id, f"clean: removed the delivery ({item.bytes / 1e6:.1f} MB); "
                                    f"the published take {job.take_dir} is kept")
        except OSError as exc:
            item.error = f"{exc.strerror or exc}"
        done.append(item)
    return done


__all__ = ["Item", "survey", "reclaim", "known_roots", "tree_bytes", "DEFAULT_KEEP_DAYS",
           "FOREIGN_IDLE_HOURS"]
