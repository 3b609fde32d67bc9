"""The job ledger: every job, its state and every step, in SQLite.

Each arrow of the main job is written here before and after it happens, so a crash, a closed
host or a lost network resumes where it stopped and never pays for a generation twice. The
database lives in the user's data directory (``platformdirs``), or wherever
``$GENPLATE_DATA_DIR`` points; several processes (the panel's workers, the command, a farm
job) share it safely through SQLite's locks. How the file is opened, checked, migrated and kept
from being silently replaced is ``store``'s business; which runner may work on a job is
``lease``'s: every step recorded by a runner names its lease, and a step by a runner that no
longer holds the job is refused.

Nothing secret is stored: requests hold file paths and hashes, never keys; outputs are kept as
their types only, because their presigned URLs are secrets that expire anyway.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from ..owner import Owner
from . import lease as _lease
from . import store
from .errors import LedgerError, LeaseLost, TransitionError  # noqa: F401 (the ledger's errors)

QUEUED = "queued"
SUBMITTED = "submitted"
RUNNING = "running"
DELIVERED = "delivered"
FETCHED = "fetched"
INGESTING = "ingesting"
READY = "ready"
FAILED = "failed"
CANCELLED = "cancelled"

STATES = (QUEUED, SUBMITTED, RUNNING, DELIVERED, FETCHED, INGESTING, READY, FAILED, CANCELLED)
TERMINAL = (READY, FAILED, CANCELLED)

# Which step may follow which. A state may repeat itself where a step is redone after an
# interruption (polling again, fetching again, ingesting again); nothing goes backwards past
# "submitted", because that would mean creating the generation a second time.
_NEXT: dict[str, tuple[str, ...]] = {
    QUEUED: (SUBMITTED, FAILED, CANCELLED),
    SUBMITTED: (RUNNING, DELIVERED, FAILED, CANCELLED),
    RUNNING: (RUNNING, DELIVERED, FAILED, CANCELLED),
    DELIVERED: (FETCHED, FAILED, CANCELLED),
    FETCHED: (INGESTING, FAILED, CANCELLED),
    INGESTING: (INGESTING, READY, FAILED, CANCELLED),
    READY: (),
    FAILED: (),
    CANCELLED: (),
}

DATA_DIR_ENV = "GENPLATE_DATA_DIR"

# Columns a caller may set alongside a transition or on its own.
_SETTABLE = {
    "publish", "estimate_usd", "spent_usd", "create_intent_at", "remote_id", "outputs", "files",
    "take_dir", "error", "cancel_requested", "progress", "message", "worker_pid", "heartbeat_at",
}
_JSON_COLUMNS = {"request", "publish", "outputs", "files"}


@dataclass
class Job:
    id: str
    state: str
    backend: str
    request: dict
    publish: dict = field(default_factory=dict)
    project: str = ""
    batch_id: Optional[str] = None
    parent_id: Optional[str] = None
    attempt: int = 1
    estimate_usd: float = 0.0
    spent_usd: float = 0.0
    create_intent_at: Optional[float] = None
    remote_id: Optional[str] = None
    outputs: list = field(default_factory=list)
    files: list = field(default_factory=list)
    take_dir: Optional[str] = None
    error: Optional[str] = None
    cancel_requested: bool = False
    progress: Optional[float] = None
    message: Optional[str] = None
    worker_pid: Optional[int] = None
    heartbeat_at: Optional[float] = None
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def create_outcome_unknown(self) -> bool:
        """A create was sent (or about to be) but its answer never reached the ledger."""
        return self.state == QUEUED and self.create_intent_at is not None and not self.remote_id

    def summary(self) -> dict[str, Any]:
        """The JSON the command and the panels show for a job (no secrets in any field)."""
        return {
            "id": self.id,
            "state": self.state,
            "backend": self.backend,
            "prompt": self.request.get("prompt", ""),
            "resolution": self.request.get("resolution"),
            "shot": self.publish.get("shot"),
            "name": self.publish.get("name"),
            "kind": self.publish.get("kind"),
            "project": self.project,
            "batch": self.batch_id,
            "attempt": self.attempt,
            "estimate_usd": self.estimate_usd,
            "spent_usd": self.spent_usd,
            "remote_id": self.remote_id,
            "progress": self.progress,
            "message": self.message,
            "error": self.error,
            "take_dir": self.take_dir,
            "cancel_requested": self.cancel_requested,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Event:
    job_id: str
    at: float
    state: str
    detail: Optional[str]


def default_data_dir() -> Path:
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("genplate", appauthor=False))


def new_job_id() -> str:
    return "j" + uuid.uuid4().hex[:15]


class Ledger:
    """One SQLite database; safe to share between threads and processes."""

    def __init__(self, path: Optional[Path] = None, *, journal_mode: Optional[str] = None) -> None:
        """``journal_mode`` is for a ledger made here ("wal" or "delete"); an existing ledger
        keeps its own (see store.journal_mode)."""
        if path is None:
            path = default_data_dir() / "ledger.sqlite3"
        self.path = Path(os.path.abspath(path))
        self._local = threading.local()
        # Refuses an emptied, garbage or damaged file; migrates; makes a new one whole.
        store.prepare(self.path, journal_mode=journal_mode)

    # -- connection handling -------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = store.connect(self.path)
            self._local.db = db
        return db

    class _Tx:
        """A write transaction; nested ones join the outermost, which commits or rolls back."""

        def __init__(self, ledger: "Ledger") -> None:
            self.local = ledger._local
            self.db = ledger._db()

        def __enter__(self) -> sqlite3.Connection:
            depth = getattr(self.local, "depth", 0)
            if depth == 0:
                # IMMEDIATE takes the write lock up front, so read-check-write is atomic across
                # processes (two workers can never both move a job out of "queued").
                self.db.execute("BEGIN IMMEDIATE")
            self.local.depth = depth + 1
            return self.db

        def __exit__(self, exc_type, exc, tb) -> None:
            self.local.depth -= 1
            if self.local.depth == 0:
                self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")

    def _tx(self) -> "Ledger._Tx":
        return Ledger._Tx(self)

    def transaction(self) -> "Ledger._Tx":
        """Hold the ledger's write lock across several steps (a budget check and the jobs it
        admits): other processes wait, and everything inside commits or rolls back together."""
        return self._tx()

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- jobs ----------------------------------------------------------------------------

    def add_job(self, *, backend: str, request: dict, publish: dict, project: str = "",
                estimate_usd: float = 0.0, batch_id: Optional[str] = None,
                parent_id: Optional[str] = None, attempt: int = 1,
                job_id: Optional[str] = None) -> Job:
        job_id = job_id or new_job_id()
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (id, created_at, updated_at, state, backend, request, publish,"
                " project, batch_id, parent_id, attempt, estimate_usd)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (job_id, now, now, QUEUED, backend, json.dumps(request), json.dumps(publish),
                 project, batch_id, parent_id, attempt, estimate_usd),
            )
            db.execute("INSERT INTO events (job_id, at, state, detail) VALUES (?,?,?,?)",
                       (job_id, now, QUEUED, None))
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            # Accept a unique prefix, as people type them from `genplate jobs`.
            rows = self._db().execute("SELECT * FROM jobs WHERE id LIKE ?",
                                      (job_id + "%",)).fetchall()
            if len(rows) != 1:
                raise LedgerError(f"no job {job_id!r} in the ledger ({self.path})"
                                  if not rows else f"job id {job_id!r} is ambiguous")
            row = rows[0]
        return _job_from_row(row)

    def jobs(self, *, states: Optional[Iterable[str]] = None, batch_id: Optional[str] = None,
             project: Optional[str] = None, limit: Optional[int] = None) -> list[Job]:
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if states is not None:
            states = list(states)
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += states
        if batch_id is not None:
            sql += " AND batch_id = ?"
            args.append(batch_id)
        if project is not None:
            sql += " AND project = ?"
            args.append(project)
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_job_from_row(r) for r in self._db().execute(sql, args)]

    def find(self, job_id: str) -> Optional[Job]:
        """The job with exactly this id, or None (no prefix matching: for ids read from disk)."""
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job_from_row(row) if row is not None else None

    def children(self, job_id: str) -> list[Job]:
        """Jobs that name this one as their parent (retries, promotions), oldest first."""
        rows = self._db().execute("SELECT * FROM jobs WHERE parent_id = ? ORDER BY created_at,"
                                  " rowid", (job_id,)).fetchall()
        return [_job_from_row(r) for r in rows]

    def advance(self, job_id: str, state: str, detail: Optional[str] = None, *,
                lease: Optional[Owner] = None, **fields: Any) -> Job:
        """Move a job to ``state`` (checked against the allowed steps) and record the event.

        A runner passes its ``lease``: the step is refused (LeaseLost) if another runner has
        taken the job over since.
        """
        if state not in STATES:
            raise LedgerError(f"unknown state {state!r}")
        now = time.time()
        with self._tx() as db:
            if lease is not None:
                _lease.check(db, job_id, lease)
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise LedgerError(f"no job {job_id!r}")
            current = row["state"]
            if state not in _NEXT[current]:
                raise TransitionError(f"job {job_id}: {current} -> {state} is not a step of the job")
            self._update(db, job_id, now, state=state, **fields)
            db.execute("INSERT INTO events (job_id, at, state, detail) VALUES (?,?,?,?)",
                       (job_id, now, state, detail))
        return self.get(job_id)

    def update(self, job_id: str, *, lease: Optional[Owner] = None, **fields: Any) -> None:
        """Set fields without a step (progress, heartbeat, intent markers)."""
        with self._tx() as db:
            if lease is not None:
                _lease.check(db, job_id, lease)
            self._update(db, job_id, time.time(), **fields)

    def note(self, job_id: str, detail: str, *, lease: Optional[Owner] = None) -> None:
        """Record an event that is not a change of state (a retry, a refreshed URL)."""
        with self._tx() as db:
            if lease is not None:
                _lease.check(db, job_id, lease)
            state = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()["state"]
            db.execute("INSERT INTO events (job_id, at, state, detail) VALUES (?,?,?,?)",
                       (job_id, time.time(), state, detail))

    def _update(self, db: sqlite3.Connection, job_id: str, now: float, **fields: Any) -> None:
        unknown = set(fields) - _SETTABLE - {"state"}
        if unknown:
            raise LedgerError(f"not a settable job field: {sorted(unknown)}")
        cols, args = ["updated_at = ?"], [now]
        for name, value in fields.items():
            if name in _JSON_COLUMNS:
                value = json.dumps(value)
            elif name == "cancel_requested":
                value = int(bool(value))
            cols.append(f"{name} = ?")
            args.append(value)
        db.execute(f"UPDATE jobs SET {', '.join(cols)} WHERE id = ?", (*args, job_id))

    def claim_create(self, job_id: str, *, lease: Optional[Owner] = None) -> Job:
        """Record the intent to create, atomically: only one caller ever gets past this.

        Raises ``TransitionError`` when the job is not queued or an intent is already on
        record (a previous create whose outcome is unknown must be reconciled, not repeated),
        and ``LeaseLost`` when ``lease`` no longer holds the job.
        """
        with self._tx() as db:
            if lease is not None:
                _lease.check(db, job_id, lease)
            row = db.execute("SELECT state, create_intent_at, remote_id FROM jobs WHERE id = ?",
                             (job_id,)).fetchone()
            if row is None:
                raise LedgerError(f"no job {job_id!r}")
            if row["state"] != QUEUED or row["remote_id"]:
                raise TransitionError(f"job {job_id} was already created ({row['state']})")
            if row["create_intent_at"] is not None:
                raise TransitionError(
                    f"job {job_id}: a create was already sent and its answer was lost; "
                    "it must be reconciled before anything is sent again")
            now = time.time()
            self._update(db, job_id, now, create_intent_at=now)
            db.execute("INSERT INTO events (job_id, at, state, detail) VALUES (?,?,?,?)",
                       (job_id, now, QUEUED, "create: intent recorded"))
        return self.get(job_id)

    def revive(self, job_id: str, state: str, detail: str) -> Job:
        """Bring back a job that an earlier genplate failed for a local cause (see
        ``recovery.revivable``): the one step that leaves "failed", and only to where it stood."""
        if state in TERMINAL:
            raise TransitionError(f"job {job_id}: cannot revive to {state}")
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row["state"] != FAILED:
                raise TransitionError(f"job {job_id} is not failed: nothing to revive")
            self._update(db, job_id, now, state=state, error=None, message="revived",
                         cancel_requested=False)
            db.execute("INSERT INTO events (job_id, at, state, detail) VALUES (?,?,?,?)",
                       (job_id, now, state, detail))
        return self.get(job_id)

    # -- leases: one runner per job (see lease.py) -----------------------------------------

    def take_lease(self, job_id: str, me: Owner, ttl: float) -> tuple[bool, Optional[_lease.Lease]]:
        """Take the job for this runner: (True, None), or (False, the live holder)."""
        now = time.time()
        with self._tx() as db:
            taken, holder, why = _lease.take(db, job_id, me, ttl, now)
            if taken:
                # The pid and heartbeat also tell the panels (and older genplates) who runs it.
                self._update(db, job_id, now, worker_pid=me.pid, heartbeat_at=now)
                if why:
                    state = db.execute("SELECT state FROM jobs WHERE id = ?",
                                       (job_id,)).fetchone()["state"]
                    db.execute("INSERT INTO events (job_id, at, state, detail) VALUES (?,?,?,?)",
                               (job_id, now, state, f"{me.describe()} {why}"))
        return taken, holder

    def renew_lease(self, job_id: str, me: Owner, ttl: float) -> bool:
        now = time.time()
        with self._tx() as db:
            held = _lease.renew(db, job_id, me, ttl, now)
            if held:
                self._update(db, job_id, now, heartbeat_at=now)
        return held

    def release_lease(self, job_id: str, me: Owner) -> None:
        with self._tx() as db:
            if _lease.release(db, job_id, me):
                self._update(db, job_id, time.time(), worker_pid=None)

    def lease_holder(self, job_id: str) -> Optional[_lease.Lease]:
        """The runner working on a job right now (its lease is live), or None."""
        return _lease.holder(self._db(), job_id)

    def events(self, job_id: str) -> list[Event]:
        rows = self._db().execute(
            "SELECT job_id, at, state, detail FROM events WHERE job_id = ? ORDER BY id", (job_id,))
        return [Event(r["job_id"], r["at"], r["state"], r["detail"]) for r in rows]

    def request_cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if not job.terminal:
            self.update(job.id, cancel_requested=True)
            self.note(job.id, "cancel requested")
        return self.get(job.id)

    def cancel_requested(self, job_id: str) -> bool:
        row = self._db().execute("SELECT cancel_requested FROM jobs WHERE id = ?",
                                 (job_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    # -- spending ------------------------------------------------------------------------

    def spent(self, project: Optional[str] = None) -> float:
        sql, args = "SELECT COALESCE(SUM(spent_usd), 0) FROM jobs", []
        if project is not None:
            sql += " WHERE project = ?"
            args.append(project)
        return float(self._db().execute(sql, args).fetchone()[0])

    def committed(self, project: Optional[str] = None) -> float:
        """Money spent plus money that jobs in flight will spend: what a budget must count."""
        sql = ("SELECT COALESCE(SUM(CASE WHEN state IN ('failed','cancelled') THEN spent_usd"
               " WHEN spent_usd > 0 THEN spent_usd ELSE estimate_usd END), 0) FROM jobs")
        args: list = []
        if project is not None:
            sql += " WHERE project = ?"
            args.append(project)
        return float(self._db().execute(sql, args).fetchone()[0])

    # -- uploads (the same input file is uploaded once per backend) ----------------------

    def upload_for(self, sha256: str, backend: str) -> Optional[str]:
        row = self._db().execute("SELECT file_id FROM uploads WHERE sha256 = ? AND backend = ?",
                                 (sha256, backend)).fetchone()
        return row["file_id"] if row else None

    def remember_upload(self, sha256: str, backend: str, file_id: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO uploads (sha256, backend, file_id, at) VALUES (?,?,?,?)",
                       (sha256, backend, file_id, time.time()))

    def forget_upload(self, sha256: str, backend: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM uploads WHERE sha256 = ? AND backend = ?", (sha256, backend))

    # -- limits shared across processes --------------------------------------------------

    def reserve_create_slot(self, backend: str, job_id: str, *, per_minute: int,
                            in_flight: int) -> float:
        """Reserve the right to send one create now; return 0, or seconds to wait first.

        Both limits are counted across every process using this ledger: creates in the last
        60 s, and jobs of this backend submitted but not yet delivered.
        """
        now = time.time()
        with self._tx() as db:
            recent = db.execute(
                "SELECT at FROM creates WHERE backend = ? AND at > ? ORDER BY at",
                (backend, now - 60.0)).fetchall()
            # A queued job is in flight once it holds a slot (its create may be on the wire);
            # one still waiting for a slot is not, or waiting jobs would block each other.
            flying = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE backend = ? AND id != ? AND"
                " (state IN ('submitted','running') OR"
                "  (state = 'queued' AND create_intent_at IS NOT NULL AND"
                "   id IN (SELECT job_id FROM creates WHERE backend = ?)))",
                (backend, job_id, backend)).fetchone()[0]
            if flying >= in_flight:
                return 1.0
            if len(recent) >= per_minute:
                return max(0.05, recent[0]["at"] + 60.0 - now)
            db.execute("INSERT INTO creates (backend, job_id, at) VALUES (?,?,?)",
                       (backend, job_id, now))
            return 0.0

    def creates_seen(self, backend: str) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM creates WHERE backend = ?",
                                      (backend,)).fetchone()[0])


def _job_from_row(row: sqlite3.Row) -> Job:
    data = dict(row)
    for name in _JSON_COLUMNS:
        data[name] = json.loads(data[name]) if data[name] else ({} if name in ("request", "publish") else [])
    data["cancel_requested"] = bool(data["cancel_requested"])
    return Job(**data)


def iter_unfinished(ledger: Ledger) -> Iterator[Job]:
    """Jobs that an interrupted process left half-way (not terminal, no runner holds them)."""
    for job in ledger.jobs(states=[s for s in STATES if s not in TERMINAL]):
        if ledger.lease_holder(job.id) is None:
            yield job
