"""The ledger: every step of a job is recorded, only real steps are allowed, and the create is
claimed exactly once even when processes race for it."""
from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from genplate.core.jobs import ledger as L

# Every path a job may take through the main job, as the runner walks it.
HAPPY_PATH = [L.SUBMITTED, L.RUNNING, L.RUNNING, L.DELIVERED, L.FETCHED, L.INGESTING,
              L.INGESTING, L.READY]


def _job(ledger: L.Ledger, backend: str = "offline", **kw) -> L.Job:
    return ledger.add_job(backend=backend, request={"prompt": "a test"},
                          publish={"shot": "sh010", "name": "t"}, **kw)


def test_a_new_job_is_queued_with_its_first_event(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, estimate_usd=0.06)
    assert job.state == L.QUEUED
    assert job.request == {"prompt": "a test"}
    assert [e.state for e in ledger.events(job.id)] == [L.QUEUED]
    assert ledger.get(job.id[:8]).id == job.id  # a unique prefix finds it


def test_every_step_of_the_main_job_is_recorded_in_order(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    ledger.claim_create(job.id)
    for state in HAPPY_PATH:
        extra = {"remote_id": "gen-1"} if state == L.SUBMITTED else {}
        job = ledger.advance(job.id, state, f"to {state}", **extra)
    assert job.state == L.READY and job.remote_id == "gen-1"
    events = ledger.events(job.id)
    assert [e.state for e in events] == [L.QUEUED, L.QUEUED] + HAPPY_PATH
    assert events[1].detail == "create: intent recorded"
    assert all(a.at <= b.at for a, b in zip(events, events[1:]))


@pytest.mark.parametrize("state", [s for s in L.STATES if s not in L.TERMINAL])
@pytest.mark.parametrize("end", [L.FAILED, L.CANCELLED])
def test_any_unfinished_state_can_fail_or_be_cancelled(tmp_path, state, end):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    path = HAPPY_PATH[:HAPPY_PATH.index(state) + 1] if state != L.QUEUED else []
    for step in path:
        ledger.advance(job.id, step)
    ended = ledger.advance(job.id, end, "why", error="the reason")
    assert ended.state == end and ended.error == "the reason" and ended.terminal


@pytest.mark.parametrize("current,forbidden", [
    (L.QUEUED, L.RUNNING), (L.QUEUED, L.READY), (L.SUBMITTED, L.FETCHED),
    (L.DELIVERED, L.INGESTING), (L.FETCHED, L.READY), (L.RUNNING, L.SUBMITTED),
    (L.READY, L.FAILED), (L.FAILED, L.QUEUED), (L.CANCELLED, L.SUBMITTED), (L.READY, L.SUBMITTED),
])
def test_steps_that_skip_or_go_back_are_refused(tmp_path, current, forbidden):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    route = {L.QUEUED: [], L.SUBMITTED: [L.SUBMITTED], L.RUNNING: [L.SUBMITTED, L.RUNNING],
             L.DELIVERED: [L.SUBMITTED, L.DELIVERED], L.FETCHED: [L.SUBMITTED, L.DELIVERED, L.FETCHED],
             L.READY: HAPPY_PATH, L.FAILED: [L.FAILED], L.CANCELLED: [L.CANCELLED]}[current]
    for step in route:
        ledger.advance(job.id, step)
    with pytest.raises(L.TransitionError):
        ledger.advance(job.id, forbidden)
    assert ledger.get(job.id).state == current


def test_a_create_is_claimed_once_and_a_lost_answer_blocks_a_second(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    ledger.claim_create(job.id)
    # The answer never arrived (no remote id recorded): the job now needs reconciling.
    assert ledger.get(job.id).create_outcome_unknown
    with pytest.raises(L.TransitionError, match="reconciled"):
        ledger.claim_create(job.id)
    ledger.advance(job.id, L.SUBMITTED, remote_id="gen-9")
    with pytest.raises(L.TransitionError, match="already created"):
        ledger.claim_create(job.id)


def _race_claim(path: str, job_id: str, start: float, results) -> None:
    ledger = L.Ledger(path)
    while time.time() < start:
        time.sleep(0.001)
    try:
        ledger.claim_create(job_id)
        results.put("claimed")
    except L.TransitionError:
        results.put("refused")


def test_processes_racing_for_one_create_let_exactly_one_through(tmp_path):
    path = str(tmp_path / "l.db")
    job = _job(L.Ledger(path))
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    start = time.time() + 1.5
    procs = [ctx.Process(target=_race_claim, args=(path, job.id, start, results)) for _ in range(6)]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert outcomes == ["claimed"] + ["refused"] * 5


def test_settable_fields_only_and_json_round_trip(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger)
    ledger.update(job.id, files=[{"path": "/x.mp4", "kind": "mp4"}], progress=0.5, message="half")
    again = ledger.get(job.id)
    assert again.files == [{"path": "/x.mp4", "kind": "mp4"}]
    assert again.progress == 0.5 and again.message == "half"
    with pytest.raises(L.LedgerError, match="not a settable"):
        ledger.update(job.id, state=L.READY, request={})


def test_cancel_request_is_seen_by_other_connections(tmp_path):
    path = tmp_path / "l.db"
    job = _job(L.Ledger(path))
    other = L.Ledger(path)
    assert not other.cancel_requested(job.id)
    L.Ledger(path).request_cancel(job.id)
    assert other.cancel_requested(job.id)
    assert "cancel requested" in [e.detail for e in other.events(job.id)]


def test_spending_counts_in_flight_estimates_and_refunds(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    done = _job(ledger, estimate_usd=1.2, project="p")
    ledger.claim_create(done.id)
    ledger.advance(done.id, L.SUBMITTED, remote_id="g1", spent_usd=1.2)
    _job(ledger, estimate_usd=0.3, project="p")  # queued: not spent, but committed
    refunded = _job(ledger, estimate_usd=0.9, project="p")
    ledger.advance(refunded.id, L.FAILED, spent_usd=0.0)
    _job(ledger, estimate_usd=5.0, project="other")
    assert ledger.spent("p") == pytest.approx(1.2)
    assert ledger.committed("p") == pytest.approx(1.5)
    assert ledger.committed() == pytest.approx(6.5)


def test_unfinished_jobs_exclude_terminal_ones_and_live_workers(tmp_path):
    import subprocess
    import sys

    ledger = L.Ledger(tmp_path / "l.db")
    orphan = _job(ledger)
    ledger.advance(orphan.id, L.SUBMITTED, remote_id="g")
    ledger.update(orphan.id, worker_pid=999999, heartbeat_at=time.time())  # no such process
    done = _job(ledger)
    ledger.advance(done.id, L.CANCELLED)
    live = _job(ledger)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ledger.update(live.id, worker_pid=sleeper.pid, heartbeat_at=time.time())
        stale = _job(ledger)
        ledger.update(stale.id, worker_pid=sleeper.pid, heartbeat_at=time.time() - 600)
        ids = {j.id for j in L.iter_unfinished(ledger)}
        assert ids == {orphan.id, stale.id}
    finally:
        sleeper.kill()


def test_create_slots_limit_rate_and_jobs_in_flight(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    jobs = [_job(ledger, backend="luma", job_id=f"j{i}") for i in range(4)]
    assert ledger.reserve_create_slot("luma", "j0", per_minute=2, in_flight=10) == 0.0
    assert ledger.reserve_create_slot("luma", "j1", per_minute=2, in_flight=10) == 0.0
    wait = ledger.reserve_create_slot("luma", "j2", per_minute=2, in_flight=10)
    assert 55 < wait <= 60
    ledger.advance(jobs[0].id, L.SUBMITTED, remote_id="g0")
    assert ledger.reserve_create_slot("luma", "j3", per_minute=100, in_flight=1) > 0
    assert ledger.creates_seen("luma") == 2


def test_data_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(L.DATA_DIR_ENV, str(tmp_path / "elsewhere"))
    assert L.Ledger().path == tmp_path / "elsewhere" / "ledger.sqlite3"


def test_jobs_waiting_for_a_create_slot_do_not_block_each_other(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    jobs = [_job(ledger, backend="luma") for _ in range(4)]
    for job in jobs:  # all four claimed their create before any got a slot
        ledger.claim_create(job.id)
    granted = [ledger.reserve_create_slot("luma", j.id, per_minute=60, in_flight=2) for j in jobs]
    assert granted[:2] == [0.0, 0.0]  # two slots, taken by the first two
    assert granted[2] > 0 and granted[3] > 0  # the others wait, for the slot holders only
    ledger.advance(jobs[0].id, L.SUBMITTED, remote_id="g0")
    ledger.advance(jobs[0].id, L.DELIVERED)
    assert ledger.reserve_create_slot("luma", jobs[2].id, per_minute=60, in_flight=2) == 0.0
