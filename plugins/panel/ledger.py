"""The panel's read-only view of the engine's job ledger: the active jobs, without a process.

Watching jobs by starting `genplate jobs --json --active` every two seconds cost a panel a fifth
of a core (issue #18): each answer pays for a Python start and the engine's imports to read a
few rows. The host's own Python can read those rows itself with the standard library's
``sqlite3`` (the walls allow it), so the panel's monitor asks here first and starts the command
only when this module cannot answer (``LedgerUnreadable``).

How it stays out of the engine's way:
- It never writes: the file is opened with ``mode=ro``, which also never creates it.
- It holds no lock between reads: a connection per read, closed at once. Under write-ahead
  logging (the engine's default) readers never block the engine's writers; under the rollback
  journal (a ledger on a network disk) a read holds a shared lock for the milliseconds it takes,
  and waits at most ``BUSY_SECONDS`` for a writer before giving up to the command.
- It answers only what it knows how to answer exactly as the engine would: a schema version it
  was written for, with the columns it reads (extra columns and tables are fine), and jobs
  with no take yet (describing a take is the engine's business). Anything else, and a file
  that is absent, locked, damaged or not SQLite, raises ``LedgerUnreadable`` with the reason.

Which file: the one the engine names in its own answer (``"ledger"`` in `genplate jobs
--json`), so this side never guesses the engine's data folder. tests/test_panel_ledger.py pins
the answers here to the command's for the same ledger, so the two cannot drift apart.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

# PRAGMA user_version of the ledgers this reader was written for: 0 is every genplate before
# the ledger recorded a version; 1 and 2 are the versions core/jobs/store.py records (issue
# #13; 2 adds the runners' leases in a table of their own and leaves the jobs table as it was).
KNOWN_SCHEMAS = (0, 1, 2)
TERMINAL_STATES = ("ready", "failed", "cancelled")
BUSY_SECONDS = 1.0

# The columns a job's summary is made of (the engine's Job.summary(), core/jobs/ledger.py).
COLUMNS = ("id", "state", "backend", "request", "publish", "project", "batch_id", "attempt",
           "estimate_usd", "spent_usd", "remote_id", "progress", "message", "error", "take_dir",
           "cancel_requested", "created_at", "updated_at")


class LedgerUnreadable(RuntimeError):
    """This side cannot answer from the file; the engine's command must (the reason says why)."""


def active_jobs(path: str, *, limit: int = 50) -> list[dict]:
    """The jobs `genplate jobs --json --active -n LIMIT` lists under "jobs", read from ``path``."""
    rows = _read(path, "SELECT {columns} FROM jobs WHERE state NOT IN ({terminal})"
                       " ORDER BY created_at DESC, rowid DESC LIMIT ?", (int(limit),))
    return [summary(row) for row in rows]


def summary(row: dict) -> dict:
    """A job's JSON as the engine prints it (core/jobs/ledger.py Job.summary, plus "take")."""
    if row["take_dir"]:
        raise LedgerUnreadable(f"job {row['id']} has a take, which the engine describes")
    request, publish = _json_object(row, "request"), _json_object(row, "publish")
    return {
        "id": row["id"],
        "state": row["state"],
        "backend": row["backend"],
        "prompt": request.get("prompt", ""),
        "resolution": request.get("resolution"),
        "shot": publish.get("shot"),
        "name": publish.get("name"),
        "kind": publish.get("kind"),
        "project": row["project"],
        "batch": row["batch_id"],
        "attempt": row["attempt"],
        "estimate_usd": row["estimate_usd"],
        "spent_usd": row["spent_usd"],
        "remote_id": row["remote_id"],
        "progress": row["progress"],
        "message": row["message"],
        "error": row["error"],
        "take_dir": row["take_dir"],
        "cancel_requested": bool(row["cancel_requested"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "take": None,
    }


def _json_object(row: dict, column: str) -> dict:
    text = row[column]
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise LedgerUnreadable(f"job {row['id']}: its {column} is not JSON") from None
    if not isinstance(value, dict):
        raise LedgerUnreadable(f"job {row['id']}: its {column} is not a JSON object")
    return value


def _read(path: str, sql: str, args: tuple) -> list[dict]:
    try:
        import sqlite3  # a host's Python may be built without it: then the command answers
    except ImportError:
        raise LedgerUnreadable("this Python has no sqlite3") from None
    if not path or not os.path.isfile(path):
        raise LedgerUnreadable(f"no ledger at {path!r}")
    # as_uri escapes what a URI must ('?', '#', '%', spaces) and writes Windows drives its way.
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=BUSY_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise LedgerUnreadable(f"cannot open {path}: {exc}") from None
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in KNOWN_SCHEMAS:
            raise LedgerUnreadable(f"{path} is ledger schema {version}; this panel reads "
                                   f"{', '.join(map(str, KNOWN_SCHEMAS))}")
        present = {r[1] for r in db.execute("PRAGMA table_info(jobs)").fetchall()}
        missing = [c for c in COLUMNS if c not in present]
        if missing:
            raise LedgerUnreadable(f"{path} has no jobs table with {', '.join(missing)}")
        statement = sql.format(columns=", ".join(COLUMNS),
                               terminal=", ".join(f"'{s}'" for s in TERMINAL_STATES))
        cursor = db.execute(statement, args)
        return [dict(zip(COLUMNS, values)) for values in cursor.fetchall()]
    except sqlite3.Error as exc:  # locked, busy, damaged, not a database, I/O
        raise LedgerUnreadable(f"cannot read {path}: {exc}") from None
    finally:
        db.close()


__all__ = ["LedgerUnreadable", "active_jobs", "summary", "KNOWN_SCHEMAS", "COLUMNS",
           "TERMINAL_STATES", "BUSY_SECONDS"]
