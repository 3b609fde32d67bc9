"""The panel reads the active jobs from the ledger itself, and gives way to the engine's command.

genplate.panel.ledger is a second reader of core/jobs/ledger.py's file, written with the host's
standard library only. These tests pin it to the engine: the same ledger, made by the engine's
own Ledger, must give the same JSON through the reader as through `genplate jobs --json
--active`; every case it cannot answer exactly (absent, locked, another schema, damaged, a job
with a take) must say so, so the command answers instead; and it must neither write nor hold
up the engine's writers. Then the monitor: once the engine has named the file, its polls start
no process, and they go back to the command whenever the file cannot answer.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from genplate.core.jobs import ledger as L
from genplate.core.jobs import store
from genplate.panel import ledger as R

ENGINE = [sys.executable, "-m", "genplate.core.cli"]


def engine_jobs(*args: str) -> dict:
    done = subprocess.run(ENGINE + ["jobs", "--json", *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def as_printed(value):
    """What crosses the pipe: the engine prints JSON, the panel parses it."""
    return json.loads(json.dumps(value))


def _draft(prompt: str, shot: str = "sh010", **publish) -> dict:
    return {"request": {"prompt": prompt, "resolution": "360p", "duration": "5s"},
            "publish": {"shot": shot, "name": prompt.split()[0], "kind": "draft", **publish}}


@pytest.fixture
def ledger() -> L.Ledger:
    """A ledger the engine made, holding jobs in every state the panel may see."""
    led = L.Ledger()
    queued = led.add_job(backend="offline", project="harbour", estimate_usd=0.06,
                         **_draft("harbour at dawn, slow dolly"))
    running = led.add_job(backend="luma", estimate_usd=0.5, batch_id="b123",
                          **_draft("café au bord de l'eau – 東京", shot="sh020"))
    led.advance(running.id, L.SUBMITTED, "created", remote_id="gen-1", spent_usd=0.5)
    led.advance(running.id, L.RUNNING, progress=0.4, message="generating 40%")
    retried = led.add_job(backend="offline", parent_id=queued.id, attempt=2,
                          request={"resolution": "720p"}, publish={})
    led.update(retried.id, error="the network dropped; retrying")
    led.request_cancel(retried.id)
    ready = led.add_job(backend="offline", **_draft("lighthouse"))
    for state in (L.SUBMITTED, L.RUNNING, L.DELIVERED, L.FETCHED, L.INGESTING):
        led.advance(ready.id, state)
    led.advance(ready.id, L.READY, take_dir="/takes/sh010/lighthouse/v001")
    failed = led.add_job(backend="offline", **_draft("storm"))
    led.advance(failed.id, L.FAILED, error="refused")
    led.close()
    return led


# -- the reader answers as the engine does ---------------------------------------------------

def test_the_reader_gives_the_commands_answer_for_the_same_ledger(ledger):
    answer = engine_jobs("--active", "-n", "50")
    assert answer["ledger"] == str(ledger.path.absolute())  # the engine names its file
    # The schema the engine writes today is one the reader knows (else it never answers).
    assert store.SCHEMA_VERSION in R.KNOWN_SCHEMAS
    ours = R.active_jobs(answer["ledger"], limit=50)
    assert as_printed(ours) == answer["jobs"]
    assert [j["state"] for j in ours] == ["queued", "running", "queued"]  # newest first
    assert ours[1]["prompt"] == "café au bord de l'eau – 東京" and ours[0]["cancel_requested"]


def test_the_reader_keeps_the_commands_limit_and_order(ledger):
    led = L.Ledger()
    for i in range(3):
        led.add_job(backend="offline", **_draft(f"take {i}"))
    answer = engine_jobs("--active", "-n", "2")
    assert as_printed(R.active_jobs(answer["ledger"], limit=2)) == answer["jobs"]
    assert [j["prompt"] for j in answer["jobs"]] == ["take 2", "take 1"]


def test_extra_columns_and_tables_are_read_past(ledger):
    """What a later ledger may add beside what the reader reads: columns, tables."""
    expected = engine_jobs("--active")["jobs"]
    db = sqlite3.connect(ledger.path, isolation_level=None)
    for column in ("owner TEXT", "heartbeat REAL", "expires_at REAL"):
        db.execute(f"ALTER TABLE jobs ADD COLUMN {column}")
    db.execute("CREATE TABLE notes (job_id TEXT PRIMARY KEY, text TEXT)")
    db.close()
    assert as_printed(R.active_jobs(str(ledger.path))) == expected


@pytest.mark.parametrize("version", [0, 1])
def test_a_ledger_from_before_the_schema_was_versioned_is_read(ledger, version):
    """0: every genplate before leases; 1: the same tables with the version recorded."""
    expected = engine_jobs("--active")["jobs"]
    db = sqlite3.connect(ledger.path, isolation_level=None)
    db.execute("DROP TABLE IF EXISTS leases")
    db.execute(f"PRAGMA user_version = {version}")
    db.close()
    assert as_printed(R.active_jobs(str(ledger.path))) == expected


# -- it never gets in the engine's way -------------------------------------------------------

def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def test_reading_never_writes_the_ledger_nor_creates_one(ledger, tmp_path):
    wal = ledger.path.with_name(ledger.path.name + "-wal")
    before = (_digest(ledger.path), _digest(wal))
    for _ in range(20):
        R.active_jobs(str(ledger.path))
    # A WAL reader may make the empty -wal and -shm files the protocol needs, as any reader
    # does when the engine has closed its connections; not one page is written.
    assert _digest(ledger.path) == before[0]
    assert _digest(wal) == before[1] or wal.stat().st_size == 0
    absent = tmp_path / "elsewhere" / "ledger.sqlite3"
    with pytest.raises(R.LedgerUnreadable, match="no ledger"):
        R.active_jobs(str(absent))
    assert not absent.exists() and not absent.parent.exists()


def test_the_engine_writes_while_the_panel_reads(ledger):
    """Write-ahead logging: a reader never blocks a writer. The writer here waits for nobody
    (timeout 0), so any lock the reader held would fail one of its commits."""
    job_id = L.Ledger().jobs(states=[L.RUNNING])[0].id
    stop, reads, errors = threading.Event(), [], []

    def panel() -> None:
        while not stop.is_set():
            try:
                reads.append(R.active_jobs(str(ledger.path)))
            except R.LedgerUnreadable as exc:
                errors.append(str(exc))

    reader = threading.Thread(target=panel)
    reader.start()
    writer = sqlite3.connect(ledger.path, timeout=0, isolation_level=None)
    try:
        for i in range(200):
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ?",
                           (0.4 + i / 1000, time.time(), job_id))
            writer.execute("COMMIT")
    finally:
        stop.set()
        reader.join()
        writer.close()
    assert errors == [] and len(reads) > 1
    progress = [next(j["progress"] for j in r if j["id"] == job_id) for r in reads]
    assert progress == sorted(progress)  # each read a committed state, in order


# -- what it will not answer: the command does -----------------------------------------------

def test_a_locked_ledger_is_left_to_the_command(ledger, monkeypatch):
    """Under the rollback journal (a ledger on a network disk) a writer's exclusive lock keeps
    readers out; the reader waits BUSY_SECONDS, then gives way rather than wait longer."""
    monkeypatch.setattr(R, "BUSY_SECONDS", 0.05)
    db = sqlite3.connect(ledger.path, isolation_level=None)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(R.LedgerUnreadable, match="locked"):
            R.active_jobs(str(ledger.path))
    finally:
        db.execute("ROLLBACK")
        db.close()
    assert len(R.active_jobs(str(ledger.path))) == 3  # and reads again once it is released


@pytest.mark.parametrize("damage, reason", [
    ("PRAGMA user_version = 99", "schema 99"),
    ("ALTER TABLE jobs RENAME COLUMN progress TO fraction", "progress"),
    ("UPDATE jobs SET request = '{not json' WHERE state = 'queued'", "not JSON"),
    ("UPDATE jobs SET publish = '[1, 2]' WHERE state = 'running'", "not a JSON object"),
    ("UPDATE jobs SET take_dir = '/takes/x/v001' WHERE state = 'running'", "has a take"),
])
def test_what_the_reader_cannot_answer_exactly_it_refuses(ledger, damage, reason):
    db = sqlite3.connect(ledger.path, isolation_level=None)
    db.execute(damage)
    db.close()
    with pytest.raises(R.LedgerUnreadable, match=reason):
        R.active_jobs(str(ledger.path))


def test_a_file_that_is_not_a_ledger_is_refused(tmp_path):
    garbage = tmp_path / "ledger.sqlite3"
    garbage.write_bytes(b"this is not SQLite at all" * 100)
    with pytest.raises(R.LedgerUnreadable, match="cannot read"):
        R.active_jobs(str(garbage))
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()  # a database with no jobs table
    with pytest.raises(R.LedgerUnreadable, match="no jobs table"):
        R.active_jobs(str(empty))


# -- the panel's monitor ----------------------------------------------------------------------




@pytest.fixture
def processes(monkeypatch):
    """Every process the panel starts (argv), counted where it starts them."""
    from genplate.panel import engine

    started: list[list[str]] = []
    real = engine.subprocess.Popen

    class Recording(real):
        def __init__(self, args, *a, **k):
            started.append(list(args))
            super().__init__(args, *a, **k)

    monkeypatch.setattr(engine.subprocess, "Popen", Recording)
    return started


def _polls(started: list[list[str]]) -> int:
    return sum(1 for argv in started if "jobs" in argv and "--active" in argv)


def test_the_monitor_polls_without_a_process_once_the_engine_named_the_ledger(
        qtbot, ledger, processes):
    from genplate.panel.engine import EngineClient, JobMonitor

    client = EngineClient(command=ENGINE)
    monitor = JobMonitor(client, fast_ms=20, idle_ms=20)
    seen, finished = [], []
    monitor.activeJobs.connect(lambda text: seen.append(json.loads(text)))
    monitor.jobFinished.connect(lambda text: finished.append(json.loads(text)))
    monitor.start()
    try:
        qtbot.waitUntil(lambda: monitor.answers["here"] >= 10, timeout=60000)
        assert _polls(processes) == 1 and monitor.answers["engine"] == 1
        assert monitor.ledger_path == str(ledger.path.absolute())
        assert all(jobs == seen[0] for jobs in seen)  # the file says what the command said
        assert len(seen[0]) == 3

        led = L.Ledger()
        running = led.jobs(states=[L.RUNNING])[0]
        led.update(running.id, progress=0.75, message="generating 75%")
        qtbot.waitUntil(lambda: any(j["progress"] == 0.75 for j in seen[-1]), timeout=30000)
        queued = led.jobs(states=[L.QUEUED])[0]
        led.advance(queued.id, L.CANCELLED, message="cancelled")
        qtbot.waitUntil(lambda: bool(finished), timeout=60000)
        assert finished[0]["id"] == queued.id and finished[0]["state"] == "cancelled"
        assert _polls(processes) == 1  # the final record came from `jobs ID`, once
        assert [argv[-2:] for argv in processes if queued.id in argv] == [[queued.id, "--json"]]

        # A ledger this panel cannot answer from exactly (here: an active job with a take to
        # describe) goes to the command on every poll, and back to the file once it can.
        db = sqlite3.connect(ledger.path, isolation_level=None)
        db.execute("UPDATE jobs SET take_dir = '/takes/sh020/v001' WHERE id = ?", (running.id,))
        polls, engine = _polls(processes), monitor.answers["engine"]
        qtbot.waitUntil(lambda: monitor.answers["engine"] >= engine + 3, timeout=60000)
        assert _polls(processes) >= polls + 3 and "has a take" in monitor.last_miss
        db.execute("UPDATE jobs SET take_dir = NULL WHERE id = ?", (running.id,))
        db.close()
        here = monitor.answers["here"]
        qtbot.waitUntil(lambda: monitor.answers["here"] >= here + 5, timeout=60000)
        polls = _polls(processes)
        here = monitor.answers["here"]
        qtbot.waitUntil(lambda: monitor.answers["here"] >= here + 5, timeout=60000)
        assert _polls(processes) <= polls + 1  # at most the one already on its way
    finally:
        monitor.stop()
        client.shutdown()


def test_a_ledger_neither_side_can_read_fails_the_poll_with_both_reasons(qtbot, ledger,
                                                                        processes):
    """A schema from a newer genplate: the reader gives way, and the engine (core/jobs/store.py)
    refuses it too; the panel says the engine's words, and keeps why the file was not read."""
    from genplate.panel.engine import EngineClient, JobMonitor

    client = EngineClient(command=ENGINE)
    monitor = JobMonitor(client, fast_ms=20, idle_ms=20)
    failures = []
    monitor.pollFailed.connect(failures.append)
    monitor.start()
    try:
        qtbot.waitUntil(lambda: monitor.answers["here"] >= 1, timeout=60000)
        db = sqlite3.connect(ledger.path, isolation_level=None)
        db.execute("PRAGMA user_version = 99")
        db.close()
        qtbot.waitUntil(lambda: bool(failures), timeout=60000)
        assert "newer genplate" in failures[0] and "schema 99" in monitor.last_miss
    finally:
        monitor.stop()
        client.shutdown()


def test_without_a_named_ledger_every_poll_is_the_command(qtbot, ledger, processes):
    """An engine whose answer names no ledger (one from before this reader), or a monitor told
    not to read it, keeps to the command: the reader is only ever a shortcut."""
    from genplate.panel.engine import EngineClient, JobMonitor

    client = EngineClient(command=ENGINE)
    monitor = JobMonitor(client, fast_ms=20, idle_ms=20)
    monitor.reads_ledger = False
    monitor.start()
    try:
        qtbot.waitUntil(lambda: monitor.answers["engine"] >= 3, timeout=60000)
        assert monitor.answers["here"] == 0 and _polls(processes) >= 3
    finally:
        monitor.stop()
        client.shutdown()
    assert os.path.exists(ledger.path)
