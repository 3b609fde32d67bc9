"""One runner per job, at the ledger: a lease that a second runner respects, that lapses
without a heartbeat, that a dead process on the same machine gives up at once, that a process
on another machine never gives up by its pid, and that fences every step its holder records."""
from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
import time

import pytest

from genplate.core.jobs import ledger as L
from genplate.core.jobs import lease as leases
from genplate.core.owner import Owner, host_id


def _job(ledger: L.Ledger) -> L.Job:
    return ledger.add_job(backend="offline", request={"prompt": "a test"},
                          publish={"shot": "sh010", "name": "t"})


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_live_lease_is_respected_and_its_holder_may_take_it_again(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    first, second = Owner.here(), Owner.here()
    assert ledger.take_lease(job.id, first, 60) == (True, None)
    taken, holder = ledger.take_lease(job.id, second, 60)
    assert not taken and holder.owner == str(first) and holder.host == host_id()
    assert ledger.lease_holder(job.id).owner == str(first)
    assert ledger.take_lease(job.id, first, 60)[0]  # re-entrant for its own holder
    assert ledger.get(job.id).worker_pid == first.pid  # the panels see who runs it
    ledger.release_lease(job.id, first)
    assert ledger.lease_holder(job.id) is None and ledger.get(job.id).worker_pid is None
    assert ledger.take_lease(job.id, second, 60) == (True, None)


def test_a_lease_without_heartbeat_lapses_and_the_takeover_is_recorded(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    gone, me = Owner.here(), Owner.here()
    ledger.take_lease(job.id, gone, 0.3)
    assert not ledger.take_lease(job.id, me, 60)[0]
    time.sleep(0.4)
    assert ledger.lease_holder(job.id) is None
    assert ledger.take_lease(job.id, me, 60) == (True, None)
    notes = [e.detail for e in ledger.events(job.id) if "took over" in (e.detail or "")]
    assert len(notes) == 1 and "lease lapsed" in notes[0]


def test_a_dead_process_on_this_machine_gives_its_lease_up_at_once(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    dead = Owner(host_id(), _dead_pid(), "t0")
    ledger.take_lease(job.id, dead, 3600)
    assert ledger.lease_holder(job.id) is None
    assert ledger.take_lease(job.id, Owner.here(), 60) == (True, None)
    assert any("its process is gone" in (e.detail or "") for e in ledger.events(job.id))


def test_a_pid_means_nothing_on_another_machine(tmp_path):
    """A holder on another host whose pid does not exist here is alive until its lease lapses."""
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    elsewhere = Owner("render07 (boot 00000000, pidns 1)", _dead_pid(), "t1")
    ledger.take_lease(job.id, elsewhere, 0.5)
    taken, holder = ledger.take_lease(job.id, Owner.here(), 60)
    assert not taken and holder.host.startswith("render07")
    time.sleep(0.6)
    assert ledger.take_lease(job.id, Owner.here(), 60)[0]


def test_the_host_override_makes_one_machine_play_two(tmp_path, monkeypatch):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    monkeypatch.setenv("GENPLATE_LEASE_HOST", "render01")
    there = Owner(host_id(), _dead_pid(), "t2")
    assert there.host == "render01"
    ledger.take_lease(job.id, there, 60)
    monkeypatch.setenv("GENPLATE_LEASE_HOST", "render02")
    assert not ledger.take_lease(job.id, Owner.here(), 60)[0]  # dead pid, but not ours to judge


def test_a_runner_whose_lease_was_taken_over_cannot_record_a_step(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    stalled, successor = Owner.here(), Owner.here()
    ledger.take_lease(job.id, stalled, 0.2)
    ledger.claim_create(job.id, lease=stalled)
    time.sleep(0.3)  # it stalled past its expiry (a suspended laptop, a frozen disk)
    ledger.take_lease(job.id, successor, 60)
    with pytest.raises(L.LeaseLost, match="held by"):
        ledger.advance(job.id, L.SUBMITTED, "created by the stalled runner", lease=stalled,
                       remote_id="gen-stale")
    with pytest.raises(L.LeaseLost):
        ledger.update(job.id, lease=stalled, error="from the stalled runner")
    with pytest.raises(L.LeaseLost):
        ledger.note(job.id, "from the stalled runner", lease=stalled)
    job = ledger.get(job.id)
    assert job.state == L.QUEUED and job.remote_id is None and job.error is None
    assert not ledger.renew_lease(job.id, stalled, 60)
    assert ledger.advance(job.id, L.SUBMITTED, lease=successor, remote_id="gen-1").remote_id == "gen-1"


def test_the_keeper_renews_and_notices_a_takeover(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    me = Owner.here()
    ledger.take_lease(job.id, me, 1.0)
    keeper = leases.Keeper(ledger, job.id, me, 1.0)
    keeper.start()
    try:
        time.sleep(1.6)  # past the first expiry: only the heartbeat keeps it
        assert ledger.lease_holder(job.id).owner == str(me) and not keeper.lost
        # Another runner concluded we were gone (our lease forced to lapse) and took over.
        db = ledger._db()
        db.execute("UPDATE leases SET expires_at = 0 WHERE job_id = ?", (job.id,))
        ledger.take_lease(job.id, Owner.here(), 60)
        deadline = time.monotonic() + 3
        while not keeper.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert keeper.lost
    finally:
        keeper.stop()


def test_a_runner_from_before_leases_is_respected(tmp_path):
    """A genplate from before #13 still running a job during an upgrade: its pid + heartbeat."""
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ledger.update(job.id, worker_pid=sleeper.pid, heartbeat_at=time.time())
        taken, holder = ledger.take_lease(job.id, Owner.here(), 60)
        assert not taken and holder.pid == sleeper.pid
        ledger.update(job.id, heartbeat_at=time.time() - 600)  # it stopped beating
        assert ledger.take_lease(job.id, Owner.here(), 60)[0]
    finally:
        sleeper.kill()


def _race(path: str, job_id: str, start: float, results) -> None:
    ledger = L.Ledger(path)
    while time.time() < start:
        time.sleep(0.001)
    results.put("taken" if ledger.take_lease(job_id, Owner.here(), 60)[0] else "refused")
    time.sleep(2.0)  # the winner stays alive until every rival has tried (a dead pid frees it)


def test_processes_racing_for_a_lease_let_exactly_one_through(tmp_path):
    path = str(tmp_path / "l.db")
    job = _job(L.Ledger(path))
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    start = time.time() + 1.5
    procs = [ctx.Process(target=_race, args=(path, job.id, start, results)) for _ in range(4)]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert outcomes == ["refused"] * 3 + ["taken"]
