"""The ledger's file: opened only when it is what it should be, and never silently replaced.

The ledger is the only record of what was paid for, so it is treated like money:

* A ledger is created whole (schema and all, under a temporary name, then linked into place),
  so a ledger file is never legitimately empty. An empty file, a file that is not SQLite, a
  file that fails SQLite's integrity check, or a ledger that vanished while a marker beside it
  (``ledger.sqlite3.marker``) says one was made there, is refused with a message that names the
  file and how to restore it, never taken as a new ledger.
* Every schema change is preceded by a consistent copy of the file
  (``ledger.sqlite3.bak-v<old>-<time>``), made with SQLite's backup API.
* The journal mode is chosen when a ledger is made and then kept by every opener: write-ahead
  logging (WAL) on local disks; the classic rollback journal, whose file locks NFS and SMB do
  honour, on network file systems (SQLite's own documentation says WAL does not work there:
  its shared-memory index needs one host) and for the farm's ledger on a shared take root
  (core/farm asks for it, since a root on a local disk today may be exported tomorrow). A WAL
  ledger found on a network file system is switched to the rollback journal, never the other
  way. ``GENPLATE_LEDGER_JOURNAL=wal|delete`` overrides all of it.
* Every database error becomes a ``LedgerError`` that names the file and what to do: no
  traceback reaches the user, and ``--json`` prints one ``{"error": ...}``.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Optional

from .errors import LedgerError

SCHEMA_VERSION = 2
JOURNAL_ENV = "GENPLATE_LEDGER_JOURNAL"
MARKER_SUFFIX = ".marker"
BACKUP_INFIX = ".bak-v"
BUSY_SECONDS = 30.0
_MAGIC = b"SQLite format 3\x00"

# Version 1: the tables every genplate before leases wrote (PRAGMA user_version stayed 0).
_TABLES_V1 = (
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,
        state TEXT NOT NULL, backend TEXT NOT NULL, request TEXT NOT NULL,
        publish TEXT NOT NULL DEFAULT '{}', project TEXT NOT NULL DEFAULT '', batch_id TEXT,
        parent_id TEXT, attempt INTEGER NOT NULL DEFAULT 1,
        estimate_usd REAL NOT NULL DEFAULT 0, spent_usd REAL NOT NULL DEFAULT 0,
        create_intent_at REAL, remote_id TEXT, outputs TEXT NOT NULL DEFAULT '[]',
        files TEXT NOT NULL DEFAULT '[]', take_dir TEXT, error TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0, progress REAL, message TEXT,
        worker_pid INTEGER, heartbeat_at REAL)""",
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state)",
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL REFERENCES jobs(id),
        at REAL NOT NULL, state TEXT NOT NULL, detail TEXT)""",
    "CREATE INDEX IF NOT EXISTS events_job ON events(job_id)",
    """CREATE TABLE IF NOT EXISTS uploads (
        sha256 TEXT NOT NULL, backend TEXT NOT NULL, file_id TEXT NOT NULL, at REAL NOT NULL,
        PRIMARY KEY (sha256, backend))""",
    """CREATE TABLE IF NOT EXISTS creates (
        id INTEGER PRIMARY KEY AUTOINCREMENT, backend TEXT NOT NULL, job_id TEXT NOT NULL,
        at REAL NOT NULL)""",
)
# Version 2: one runner per job. A table of its own, so a genplate from before leases can still
# read the jobs (it would ignore the leases, which is why the upgrade is one-way).
_TABLES_V2 = (
    """CREATE TABLE IF NOT EXISTS leases (
        job_id TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
        taken_at REAL NOT NULL, renewed_at REAL NOT NULL, expires_at REAL NOT NULL)""",
)
_MIGRATIONS = {0: _TABLES_V1 + _TABLES_V2, 1: _TABLES_V2}

# File systems on which SQLite's WAL cannot work (its -shm index is memory shared by one host).
NETWORK_FILE_SYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "afs", "9p", "ceph", "glusterfs",
    "lustre", "gpfs", "beegfs", "davfs", "ncpfs", "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs",
    "fuse.rclone", "fuse.davfs2", "fuse.cephfs", "fuse.juicefs",
})

_prepared: set[Path] = set()
_prepare_lock = threading.Lock()


# -- what to tell the user -------------------------------------------------------------------

def marker_path(path: Path) -> Path:
    return path.with_name(path.name + MARKER_SUFFIX)


def backups(path: Path) -> list[Path]:
    """Copies made before schema changes, newest first."""
    found = path.parent.glob(path.name + BACKUP_INFIX + "*")
    return sorted((p for p in found if not p.name.endswith(("-wal", "-shm", "-journal"))),
                  reverse=True)


def _restore_advice(path: Path) -> str:
    found = backups(path)
    restore = (f"copy the newest backup into its place (`cp {found[0]} {path}`)" if found else
               f"put back a copy from your own backups, or recover what is readable with "
               f"`sqlite3 {path}.damaged .recover | sqlite3 {path}`")
    return (f"It is the record of your jobs and what they cost, so genplate will not start a "
            f"new ledger over it. Move it aside (`mv {path} {path}.damaged`), then {restore}. "
            f"To start afresh instead and forget its jobs, move it aside and delete "
            f"{marker_path(path)}.")


def damaged(path: Path, what: str) -> LedgerError:
    return LedgerError(f"the ledger {path} {what}. {_restore_advice(path)}")


def translate(path: Path, exc: sqlite3.Error) -> LedgerError:
    """A database error as a sentence that names the file and what to do."""
    text = str(exc) or type(exc).__name__
    low = text.lower()
    if "locked" in low or "busy" in low:
        return LedgerError(f"the ledger {path} stayed locked by another process for "
                           f"{BUSY_SECONDS:.0f} s ({text}); try again, and if it persists look "
                           f"for a genplate process that hangs (or a ledger on a network disk "
                           f"that does not release locks)")
    if "full" in low:
        return LedgerError(f"cannot write the ledger {path}: the disk is full ({text}). Free "
                           f"space on that disk and run the command again; nothing already "
                           f"recorded is lost")
    if "readonly" in low or "read-only" in low:
        return LedgerError(f"cannot write the ledger {path}: the file or its folder is "
                           f"read-only ({text}). Make both writable by you, or point "
                           f"GENPLATE_DATA_DIR at a folder you can write")
    if "unable to open" in low:
        return LedgerError(f"cannot open the ledger {path} ({text}): check that its folder "
                           f"exists and is writable by you and that the path is a file "
                           f"(GENPLATE_DATA_DIR chooses the folder)")
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return damaged(path, f"is damaged ({text})")
    if "i/o" in low:
        return LedgerError(f"reading or writing the ledger {path} failed ({text}): the disk or "
                           f"the network file system holding it has a problem; check it, then "
                           f"run the command again")
    return LedgerError(f"the ledger {path} failed: {text}")


# -- connections whose every error is a LedgerError ------------------------------------------

class _Cursor(sqlite3.Cursor):
    def execute(self, sql, parameters=()):
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            raise translate(self.connection.path, exc) from None

    def fetchone(self):
        try:
            return super().fetchone()
        except sqlite3.Error as exc:
            raise translate(self.connection.path, exc) from None

    def fetchall(self):
        try:
            return super().fetchall()
        except sqlite3.Error as exc:
            raise translate(self.connection.path, exc) from None

    def __next__(self):
        try:
            return super().__next__()
        except sqlite3.Error as exc:
            raise translate(self.connection.path, exc) from None


class Connection(sqlite3.Connection):
    path: Path

    def cursor(self, factory=_Cursor):  # type: ignore[override]
        return super().cursor(factory)

    def execute(self, sql, parameters=()):  # type: ignore[override]
        return self.cursor().execute(sql, parameters)


def journal_mode(path: Path) -> Optional[str]:
    """The journal mode to set when opening ``path``, or None to keep the file's own."""
    wanted = os.environ.get(JOURNAL_ENV, "").strip().lower()
    if wanted in ("wal", "delete"):
        return wanted
    return "delete" if file_system(path) in NETWORK_FILE_SYSTEMS else None


def creation_mode(path: Path, asked: Optional[str] = None) -> str:
    """The journal mode a new ledger at ``path`` is made with."""
    forced = journal_mode(path)
    if forced is not None:
        return forced
    return (asked or "wal").lower()


def file_system(path: Path, mounts: Optional[list[str]] = None) -> Optional[str]:
    """The type of the file system holding ``path`` (Linux's mount table, or ``mounts`` in its
    format; UNC paths on Windows are SMB)."""
    text = os.fspath(path)
    if os.name == "nt":
        return "smb" if text.startswith(("\\\\", "//")) else None
    if mounts is None:
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
                mounts = fh.read().splitlines()
        except OSError:
            return None
    where = os.path.realpath(os.path.dirname(os.path.abspath(text)))
    best, kind = "", None
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        point = fields[4].replace("\\040", " ")
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, right.split()[0]
    return kind


def connect(path: Path) -> Connection:
    """A connection for one thread: the file must exist (``mode=rw`` never creates one)."""
    try:
        db = sqlite3.connect(path.absolute().as_uri() + "?mode=rw", uri=True,
                             timeout=BUSY_SECONDS, isolation_level=None, factory=Connection)
    except sqlite3.Error as exc:
        raise translate(path, exc) from None
    db.path = path
    db.row_factory = sqlite3.Row
    mode = journal_mode(path)
    if mode is not None:
        db.execute(f"PRAGMA journal_mode={mode}")
    # FULL: a transition that returned is on disk even if the machine loses power next.
    db.execute("PRAGMA synchronous=FULL")
    db.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
    return db


# -- opening a ledger ------------------------------------------------------------------------

def prepare(path: Path, *, journal_mode: Optional[str] = None) -> None:
    """Make ``path`` a usable ledger: create it whole, or check it and bring its schema up to
    date (after a backup). Raises LedgerError rather than lose what it holds.

    The cheap checks (there, not empty, SQLite) run on every open; the integrity check and the
    schema once per process for each file (by its inode, so a file put in its place is checked).
    """
    path = Path(os.path.abspath(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(f"cannot create the ledger's folder {path.parent}: "
                          f"{exc.strerror or exc} (GENPLATE_DATA_DIR chooses it)") from None
    marker = marker_path(path)
    if not path.exists():
        if marker.exists():
            found = backups(path)
            raise LedgerError(
                f"the ledger {path} is missing, but {marker} records that one was created "
                f"there{_created_when(marker)}: its jobs and what they cost would be "
                f"forgotten. Put it back ({f'the newest backup is {found[0]}' if found else 'from your backups'}); "
                f"if you removed it on purpose and want a new, empty ledger, delete {marker} too.")
        _create(path, creation_mode(path, journal_mode))
    else:
        _check_file(path, marker)
    try:
        st = path.stat()
    except OSError as exc:
        raise LedgerError(f"cannot read the ledger {path}: {exc.strerror or exc}") from None
    key = (path, st.st_dev, st.st_ino)
    with _prepare_lock:
        if key in _prepared:
            return
        db = connect(path)
        try:
            _check_integrity(db, path)
            version = _version(db)
            if version > SCHEMA_VERSION:
                raise LedgerError(f"the ledger {path} was written by a newer genplate (schema "
                                  f"{version}, this one knows {SCHEMA_VERSION}): upgrade genplate "
                                  f"rather than risk its jobs")
            if version == 0 and marker.exists():
                raise damaged(path, "holds no jobs table, yet a ledger was created there"
                                    f"{_created_when(marker)}: it was replaced by an empty "
                                    "database")
            if version < SCHEMA_VERSION:
                _migrate(db, path, version)
        finally:
            db.close()
        if not marker.exists():
            _write_marker(marker, path)
        _prepared.add(key)


def _created_when(marker: Path) -> str:
    try:
        return " on " + json.loads(marker.read_text(encoding="utf-8"))["created_at"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _write_marker(marker: Path, path: Path) -> None:
    from ..atomic import write_json_atomically

    try:
        write_json_atomically(marker, {
            "schema": "genplate.ledger-marker/1", "ledger": path.name,
            "created_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "why": "genplate keeps this beside its ledger so that a ledger that vanishes or is "
                   "emptied is reported, never silently replaced by a new one"})
    except OSError:  # a read-only folder: the ledger still works, with one guard fewer
        pass


def _check_file(path: Path, marker: Path) -> None:
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(len(_MAGIC))
    except OSError as exc:
        raise LedgerError(f"cannot read the ledger {path}: {exc.strerror or exc}") from None
    if size == 0:
        had = (f"a ledger was created there{_created_when(marker)}" if marker.exists()
               else "genplate never leaves a ledger empty")
        raise damaged(path, f"is empty (0 bytes), but {had}: it was truncated (a full disk, a "
                            "sync tool, a copy gone wrong)")
    if head != _MAGIC:
        raise damaged(path, f"is not a SQLite database (it begins {head[:8]!r}): it was "
                            "overwritten or mangled")


def _check_integrity(db: Connection, path: Path) -> None:
    rows = [r[0] for r in db.execute("PRAGMA quick_check(5)").fetchall()]
    if rows != ["ok"]:
        raise damaged(path, "fails SQLite's integrity check (" + "; ".join(rows)[:400] + ")")


def _version(db: Connection) -> int:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version:
        return version
    has_jobs = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
                          ).fetchone()
    return 1 if has_jobs else 0


def _create(path: Path, mode: str) -> None:
    """A new ledger, schema and all, appears at ``path`` in one step (never half-made)."""
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute(f"PRAGMA journal_mode={mode}")  # kept in the file by every later opener
            db.execute("BEGIN")
            for statement in _MIGRATIONS[0]:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        finally:
            db.close()
        try:
            os.link(tmp, path)  # fails if another process made it meanwhile: keep theirs
        except FileExistsError:
            pass
        except OSError:  # no hard links here (some network shares): a plain rename
            if not path.exists():
                os.replace(tmp, path)
    except sqlite3.Error as exc:
        raise translate(path, exc) from None
    except OSError as exc:
        raise LedgerError(f"cannot create the ledger {path}: {exc.strerror or exc} (check that "
                          f"the folder is writable by you; GENPLATE_DATA_DIR chooses it)") from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    from ..atomic import fsync_dir

    fsync_dir(path.parent)


def _migrate(db: Connection, path: Path, version: int) -> None:
    """Bring an older ledger up to date, after a consistent copy of it is safely on disk."""
    if version >= 1:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = path.with_name(f"{path.name}{BACKUP_INFIX}{version}-{stamp}")
        try:
            copy = sqlite3.connect(backup)
            try:
                db.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                copy.close()
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(f"the ledger {path} needs a schema upgrade, and genplate copies it "
                              f"first; the copy {backup} failed ({exc}). Free space beside it or "
                              f"make the folder writable, then run the command again") from None
    db.execute("BEGIN IMMEDIATE")
    try:
        now = _version(db)  # another process may have upgraded it while we copied
        for step in range(now, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step]:
                db.execute(statement)
            if step == 0:
                break  # version 0 gets the whole schema at once
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


__all__ = ["prepare", "connect", "translate", "damaged", "backups", "marker_path",
           "journal_mode", "file_system", "SCHEMA_VERSION", "Connection"]
