"""The ledger protects itself: WAL on a local disk, an integrity check on open, a refusal (naming
the file and how to restore it) to take an emptied, truncated, garbage or vanished ledger as a
new one, a backup before any schema change, and every database error as one clear error (one
``{"error": ...}`` object under ``--json``)."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from genplate.core.cli.main import main
from genplate.core.jobs import ledger as L
from genplate.core.jobs import store


def _filled(path, n: int = 300) -> L.Ledger:
    ledger = L.Ledger(path)
    for i in range(n):
        job = ledger.add_job(backend="luma", request={"prompt": f"shot {i} " + "x" * 200},
                             publish={"shot": "sh010", "name": f"t{i}"}, estimate_usd=1.2)
        ledger.claim_create(job.id)
        ledger.advance(job.id, L.SUBMITTED, remote_id=f"gen-{i}", spent_usd=1.2)
    ledger.close()
    return ledger


def _replace(path, data: bytes) -> None:
    """Put new bytes in place under a new inode (as a sync tool or a bad copy does)."""
    tmp = path.with_name(path.name + ".incoming")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if extra.exists():
            extra.unlink()


def genplate_json(capsys, *argv) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return code, json.loads(out[0])


def test_a_new_ledger_is_made_whole_in_wal_with_its_marker(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    db = ledger._db()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "events", "uploads", "creates", "leases"} <= tables
    assert json.loads((tmp_path / "l.db.marker").read_text())["ledger"] == "l.db"
    assert not list(tmp_path.glob(".l.db.new-*"))  # the temporary build is gone


def test_an_emptied_ledger_is_refused_not_taken_as_new(tmp_path, capsys):
    path = L.Ledger().path
    _filled(path, 3)
    _replace(path, b"")
    with pytest.raises(L.LedgerError) as err:
        L.Ledger()
    message = str(err.value)
    assert str(path) in message and "empty (0 bytes)" in message and "created there" in message
    assert "mv " in message and "marker" in message
    code, answer = genplate_json(capsys, "jobs")
    assert code == 2 and answer == {"error": message}
    assert path.stat().st_size == 0  # nothing was written over it


def test_a_garbage_ledger_is_refused(tmp_path, capsys):
    path = L.Ledger().path
    _filled(path, 3)
    _replace(path, b"<html>a captive portal's page</html>" * 100)
    code, answer = genplate_json(capsys, "jobs")
    assert code == 2 and "is not a SQLite database" in answer["error"] and str(path) in answer["error"]


def test_a_ledger_truncated_in_place_is_refused_by_a_new_process(tmp_path):
    path = tmp_path / "data" / "ledger.sqlite3"
    _filled(path)
    size = path.stat().st_size
    with open(path, "r+b") as fh:  # a full disk cut it short, in place
        fh.truncate(size // 2)
    env = {**os.environ, "GENPLATE_DATA_DIR": str(path.parent)}
    done = subprocess.run([sys.executable, "-m", "genplate.core.cli", "jobs", "--json"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    error = json.loads(lines[0])["error"]
    assert str(path) in error and ("integrity" in error or "damaged" in error)


def test_a_damaged_page_fails_the_integrity_check_on_open(tmp_path):
    path = tmp_path / "l.db"
    _filled(path)
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 3: page * 3 + 64] = os.urandom(64)  # a b-tree page's header and cell pointers
    _replace(path, bytes(data))
    with pytest.raises(L.LedgerError, match="integrity check|damaged") as err:
        L.Ledger(path)
    assert str(path) in str(err.value) and "Move it aside" in str(err.value)


def test_a_vanished_ledger_is_not_silently_replaced(tmp_path):
    path = tmp_path / "l.db"
    _filled(path, 2)
    path.unlink()
    with pytest.raises(L.LedgerError, match="is missing") as err:
        L.Ledger(path)
    assert "delete" in str(err.value) and str(path) + ".marker" in str(err.value)
    assert not path.exists()
    (tmp_path / "l.db.marker").unlink()  # removed on purpose: a new, empty ledger
    assert L.Ledger(path).jobs() == []


def test_an_empty_database_put_in_its_place_is_refused(tmp_path):
    path = tmp_path / "l.db"
    _filled(path, 2)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE unrelated (x)").connection.close()
    _replace(path, other.read_bytes())
    with pytest.raises(L.LedgerError, match="replaced by an empty database"):
        L.Ledger(path)


V1_SCHEMA = """
CREATE TABLE jobs (id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    state TEXT NOT NULL, backend TEXT NOT NULL, request TEXT NOT NULL,
    publish TEXT NOT NULL DEFAULT '{}', project TEXT NOT NULL DEFAULT '', batch_id TEXT,
    parent_id TEXT, attempt INTEGER NOT NULL DEFAULT 1, estimate_usd REAL NOT NULL DEFAULT 0,
    spent_usd REAL NOT NULL DEFAULT 0, create_intent_at REAL, remote_id TEXT,
    outputs TEXT NOT NULL DEFAULT '[]', files TEXT NOT NULL DEFAULT '[]', take_dir TEXT,
    error TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0, progress REAL, message TEXT,
    worker_pid INTEGER, heartbeat_at REAL);
CREATE INDEX jobs_state ON jobs(state);
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL REFERENCES jobs(id),
    at REAL NOT NULL, state TEXT NOT NULL, detail TEXT);
CREATE INDEX events_job ON events(job_id);
CREATE TABLE uploads (sha256 TEXT NOT NULL, backend TEXT NOT NULL, file_id TEXT NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (sha256, backend));
CREATE TABLE creates (id INTEGER PRIMARY KEY AUTOINCREMENT, backend TEXT NOT NULL,
    job_id TEXT NOT NULL, at REAL NOT NULL);
INSERT INTO jobs (id, created_at, updated_at, state, backend, request, remote_id, spent_usd)
    VALUES ('jold', 1, 1, 'running', 'luma', '{"prompt": "paid for"}', 'gen-old', 1.2);
INSERT INTO events (job_id, at, state, detail) VALUES ('jold', 1, 'running', 'processing');
"""


def test_a_ledger_from_before_leases_is_copied_then_upgraded(tmp_path):
    """What every genplate before #13 left: the v1 tables, user_version 0, WAL, no marker."""
    path = tmp_path / "ledger.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(V1_SCHEMA)
    db.close()
    ledger = L.Ledger(path)
    job = ledger.get("jold")
    assert job.state == L.RUNNING and job.remote_id == "gen-old" and ledger.spent() == 1.2
    assert ledger._db().execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    (backup,) = store.backups(path)
    assert backup.name.startswith("ledger.sqlite3.bak-v1-")
    copy = sqlite3.connect(backup)
    assert copy.execute("SELECT remote_id FROM jobs").fetchall() == [("gen-old",)]
    assert copy.execute("PRAGMA user_version").fetchone()[0] == 0  # the copy is as it was
    copy.close()
    assert (tmp_path / "ledger.sqlite3.marker").exists()
    L.Ledger(path)  # opening again changes nothing and copies nothing
    assert len(store.backups(path)) == 1


def test_a_ledger_from_a_newer_genplate_is_left_alone(tmp_path):
    path = tmp_path / "l.db"
    L.Ledger(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    _replace(path, path.read_bytes())  # a new inode: checked again in this process
    with pytest.raises(L.LedgerError, match="newer genplate"):
        L.Ledger(path)


def test_a_locked_ledger_is_an_error_that_says_so(tmp_path, monkeypatch):
    path = tmp_path / "l.db"
    ledger = L.Ledger(path)
    monkeypatch.setattr(store, "BUSY_SECONDS", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(L.LedgerError, match="locked") as err:
            L.Ledger(path).add_job(backend="offline", request={}, publish={})
        assert str(path) in str(err.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ledger.jobs() == []


def test_a_ledger_path_that_is_a_folder_is_one_json_error(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    (data / "ledger.sqlite3").mkdir(parents=True)
    monkeypatch.setenv("GENPLATE_DATA_DIR", str(data))
    code, answer = genplate_json(capsys, "jobs")
    assert code == 2 and str(data / "ledger.sqlite3") in answer["error"]


NFS_MOUNTS = [
    "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
    "40 22 0:44 / /mnt/show rw,relatime shared:30 - nfs4 filer:/show rw,vers=4.2",
]


def test_a_ledger_on_a_network_disk_uses_the_rollback_journal(tmp_path, monkeypatch):
    """SQLite's WAL needs memory shared by one host; on NFS/SMB the classic journal is used."""
    assert store.file_system(tmp_path / "x" / "l.db", NFS_MOUNTS) == "ext4"
    assert store.file_system("/mnt/show/takes/.genplate/l.db", NFS_MOUNTS) == "nfs4"
    monkeypatch.setattr(store, "file_system", lambda path, mounts=None: "nfs4")
    ledger = L.Ledger(tmp_path / "l.db")
    assert ledger._db().execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    monkeypatch.setenv(store.JOURNAL_ENV, "wal")
    assert store.journal_mode(tmp_path / "l.db") == "wal"
