"""Per-project caps: a request or batch that would pass one is refused before anything is sent."""
from __future__ import annotations

import json

import pytest

from genplate.core.jobs import budget as B
from genplate.core.jobs import ledger as L
from genplate.core.jobs.budget import BudgetExceeded


@pytest.fixture
def ledger():
    return L.Ledger()


def _job(ledger, project, estimate, *, spent=None, state=None):
    job = ledger.add_job(backend="offline", request={"prompt": "x"}, publish={}, project=project,
                         estimate_usd=estimate)
    if spent is not None:
        ledger.update(job.id, spent_usd=spent)
    if state is not None:
        ledger.update(job.id, state=state)
    return job


def test_no_cap_means_no_refusal(ledger):
    B.check(ledger, "show", [100.0] * 10)


def test_caps_are_stored_beside_the_ledger_and_removable(ledger):
    B.set_cap("show", 25)
    B.set_cap("other", 3.5)
    assert B.load_caps() == {"show": 25.0, "other": 3.5}
    data = json.loads(B.caps_path().read_text())
    assert data["caps"]["show"]["cap_usd"] == 25.0
    assert B.caps_path().parent == ledger.path.parent
    B.set_cap("other", None)
    assert B.load_caps() == {"show": 25.0}
    with pytest.raises(ValueError):
        B.set_cap("show", -1)


def test_a_batch_that_would_pass_the_cap_is_refused_with_what_to_do(ledger):
    B.set_cap("show", 1.0)
    _job(ledger, "show", 0.9, spent=0.9, state=L.READY)  # spent
    _job(ledger, "other", 50.0)                          # another project's money
    B.check(ledger, "show", [0.06])                      # 0.96 fits
    with pytest.raises(BudgetExceeded) as err:
        B.check(ledger, "show", [0.06] * 4)
    message = str(err.value)
    assert "$1.00" in message and "$0.90" in message and "batch of 4" in message
    assert "$0.24" in message and "Nothing was sent" in message
    assert "-n 1" in message and "genplate budget --project show --cap" in message
    assert err.value.cap == 1.0 and err.value.committed == pytest.approx(0.9)


def test_jobs_in_flight_count_as_committed(ledger):
    B.set_cap("show", 1.0)
    _job(ledger, "show", 0.9)  # queued: not spent yet, but will be
    with pytest.raises(BudgetExceeded, match="this request"):
        B.check(ledger, "show", [0.3])


def test_refunded_failures_do_not_count(ledger):
    B.set_cap("show", 1.0)
    _job(ledger, "show", 0.9, spent=0.0, state=L.FAILED)
    B.check(ledger, "show", [0.9])


def test_landing_exactly_on_the_cap_is_allowed(ledger):
    B.set_cap("show", 0.3)
    B.check(ledger, "show", [0.06] * 5)  # 0.06 * 5 is 0.30000000000000004 in floats


def test_a_broken_caps_file_refuses_rather_than_lifting_every_cap(ledger):
    B.caps_path().parent.mkdir(parents=True, exist_ok=True)
    B.caps_path().write_text("{not json")
    with pytest.raises(BudgetExceeded, match="cannot be read"):
        B.check(ledger, "show", [0.06])


def test_status_reports_cap_spent_committed_remaining(ledger):
    B.set_cap("show", 2.0)
    _job(ledger, "show", 0.5, spent=0.5, state=L.READY)
    _job(ledger, "show", 0.25)
    (row,) = [b for b in B.status(ledger) if b.project == "show"]
    assert row.to_json() == {"project": "show", "cap_usd": 2.0, "spent_usd": 0.5,
                             "committed_usd": 0.75, "remaining_usd": 1.25}


def test_requests_are_priced_as_the_ledger_records_them():
    from genplate.core.request import ShotRequest

    master = ShotRequest.master("x")
    assert B.price(master, "luma") == pytest.approx(3.60)
    assert B.price(master, "offline") == 0.0  # the offline renderer costs nothing


def test_two_submitters_at_once_cannot_both_pass_a_cap_only_one_fits(tmp_path, monkeypatch):
    """The cap is checked and the job recorded as one ledger transaction: the second
    submitter, in its own connection as another process would be, waits and is refused."""
    import threading
    import time as _time

    from genplate.core.jobs import budget as B
    from genplate.core.jobs import ledger as L
    from genplate.core.jobs.runner import submit
    from genplate.core.takes.record import PublishSpec
    from genplate.core.request import ShotRequest

    ledger = L.Ledger(tmp_path / "l.db")
    B.set_cap("ad", 1.0, data_dir=tmp_path)
    monkeypatch.setattr(B, "_data_dir", lambda _ledger: tmp_path)
    real = L.Ledger.committed

    def slow_committed(self, project=None):  # widen the window between reading and recording
        value = real(self, project)
        _time.sleep(0.3)
        return value

    monkeypatch.setattr(L.Ledger, "committed", slow_committed)
    request = ShotRequest(prompt="a van at dusk", resolution="720p", hdr=True)  # $0.60
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def submitter():
        start.wait()
        try:
            with B.admitted(ledger, "ad", [request.estimate().usd]):
                submit(ledger, request, PublishSpec(root=str(tmp_path), shot="s", name="n"),
                       "luma", project="ad")
            outcomes.append("admitted")
        except B.BudgetExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=submitter) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["admitted", "refused"]
    assert len(ledger.jobs()) == 1 and ledger.committed("ad") == pytest.approx(0.60)
