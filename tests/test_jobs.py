"""The runner's decisions when a generation does not go to plan: failures, retries that cost a
new paid job, refusals, lost create answers, cancellation. The backend here is a scripted
double of the Backend interface, so each answer the service can give is played exactly."""
from __future__ import annotations

import pytest

from genplate.core.jobs import ledger as L
from genplate.core.backends.base import Backend, BackendError, Generation
from genplate.core.jobs.runner import JobRunner, RetryPolicy, submit
from genplate.core.takes.record import PublishSpec
from genplate.core.progress import CancelToken
from genplate.core.request import ShotRequest


class ScriptedBackend(Backend):
    """Answers ``get`` from a script of Generation states; counts creates per job."""

    name = "scripted"
    poll_interval = 0.0

    def __init__(self, script, *, create_error=None, known=None):
        self.script = list(script)
        self.create_error = create_error
        self.known = known or {}
        self.creates: list[str] = []

    def create(self, request, *, job_id):
        self.creates.append(job_id)
        if self.create_error is not None:
            raise self.create_error
        return f"gen-{len(self.creates)}"

    def get(self, remote_id, *, progress=None, cancel=None):
        state = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(state, Generation):
            return state
        return Generation(id=remote_id, state=state)

    def reconcile(self, job_id):
        if job_id not in self.known:
            raise BackendError("cannot tell")
        return self.known[job_id]


def _job(ledger, tmp_path, **kw):
    request = ShotRequest.draft("a quiet street at night, rain on the cobbles", seed=1)
    publish = PublishSpec(root=str(tmp_path / "takes"), shot="sh010", name="street", kind="draft")
    return submit(ledger, request, publish, "scripted", project="p", **kw)


def _runner(ledger, backend, **kw):
    return JobRunner(ledger, backend_factory=lambda name: backend, **kw)


def _failed(code, reason="it went wrong"):
    return Generation(id="x", state="failed", failure_code=code, failure_reason=reason)


def test_a_moderated_generation_fails_with_the_services_reason_and_is_never_retried(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, tmp_path)
    backend = ScriptedBackend(["queued", "processing", _failed("content_moderated", "Prompt flagged: brand logo")])
    done = _runner(ledger, backend).run(job.id)
    assert done.state == L.FAILED
    assert "content_moderated" in done.error and "Prompt flagged: brand logo" in done.error
    assert backend.creates == [job.id]
    assert done.spent_usd == 0.0  # refunded by the service
    assert [j.id for j in ledger.jobs()] == [job.id]
    states = [e.state for e in ledger.events(job.id)]
    assert states[:4] == [L.QUEUED, L.QUEUED, L.SUBMITTED, L.RUNNING] and states[-1] == L.FAILED


@pytest.mark.parametrize("code", ["generation_failed", "output_not_found"])
def test_a_retryable_failure_becomes_a_new_recorded_paid_job_within_the_budget(tmp_path, code):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, tmp_path)
    backend = ScriptedBackend([_failed(code)])
    _runner(ledger, backend, retry=RetryPolicy(max_attempts=3)).run(job.id)
    jobs = sorted(ledger.jobs(), key=lambda j: j.attempt)
    assert [j.attempt for j in jobs] == [1, 2, 3]  # the budget: three paid attempts, no more
    assert [j.parent_id for j in jobs] == [None, jobs[0].id, jobs[1].id]
    assert all(j.state == L.FAILED for j in jobs)
    assert backend.creates == [j.id for j in jobs]  # one create per job, each its own job
    notes = [e.detail for e in ledger.events(jobs[0].id) if e.detail and "retrying" in e.detail]
    assert notes and "new paid generation" in notes[0]


def test_a_refusal_before_acceptance_fails_the_job_without_a_remote_id(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, tmp_path)
    backend = ScriptedBackend(["queued"], create_error=BackendError("402: insufficient balance"))
    done = _runner(ledger, backend).run(job.id)
    assert done.state == L.FAILED and "insufficient balance" in done.error
    assert done.remote_id is None


def test_a_lost_create_answer_parks_the_job_until_reconciled_or_resent(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, tmp_path)
    lost = BackendError("connection reset after the request was sent")
    lost.outcome_unknown = True
    backend = ScriptedBackend(["completed"], create_error=lost)
    runner = _runner(ledger, backend)
    parked = runner.run(job.id)
    assert parked.state == L.QUEUED and parked.create_outcome_unknown
    assert "resume --resend" in parked.error
    # Resuming without a decision sends nothing: the backend cannot tell, so neither can we.
    again = runner.run(job.id)
    assert again.state == L.QUEUED and backend.creates == [job.id]
    # Once the backend can find it, the job continues with the generation that exists.
    backend.create_error = None
    backend.known[job.id] = "gen-found"
    backend.script = ["processing"]
    token = CancelToken()
    token.cancel()  # even a job being cancelled learns that its generation exists
    found = runner.run(job.id, cancel=token)
    assert found.state == L.CANCELLED
    assert found.remote_id == "gen-found" and backend.creates == [job.id]
    assert found.spent_usd == found.estimate_usd  # it exists, so it is paid for
    assert any("reconciled" in (e.detail or "") for e in ledger.events(job.id))


def test_resend_is_the_only_way_to_send_a_lost_create_again(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, tmp_path)
    lost = BackendError("timeout")
    lost.outcome_unknown = True
    backend = ScriptedBackend(["queued"], create_error=lost)
    runner = _runner(ledger, backend)
    runner.run(job.id)
    backend.create_error = None
    backend.script = [_failed("content_moderated")]  # ends the run right after the create
    runner.run(job.id, resend=True)
    assert backend.creates == [job.id, job.id]
    assert any("--resend" in (e.detail or "") for e in ledger.events(job.id))


def test_a_cancel_requested_from_another_process_stops_following(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, tmp_path)

    class CancelWhilePolling(ScriptedBackend):
        def get(self, remote_id, **kw):
            L.Ledger(ledger.path).request_cancel(job.id)  # as the panel would, elsewhere
            return super().get(remote_id, **kw)

    backend = CancelWhilePolling(["processing"])
    done = _runner(ledger, backend).run(job.id)
    assert done.state == L.CANCELLED and done.remote_id == "gen-1"
    assert backend.creates == [job.id]


def test_a_finished_job_is_left_alone(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, tmp_path)
    ledger.advance(job.id, L.CANCELLED)
    backend = ScriptedBackend(["completed"])
    assert _runner(ledger, backend).run(job.id).state == L.CANCELLED
    assert backend.creates == []


def test_submit_refuses_a_bad_request_before_anything_is_recorded(tmp_path):
    from genplate.core.request import RequestError

    ledger = L.Ledger(tmp_path / "l.db")
    bad = ShotRequest(prompt="x", resolution="360p", hdr=True)
    with pytest.raises(RequestError) as err:
        submit(ledger, bad, PublishSpec(root=str(tmp_path), shot="s", name="n"), "scripted")
    assert err.value.field in ("hdr", "resolution")
    assert ledger.jobs() == []



def test_only_a_billing_backend_records_an_estimate(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    request = ShotRequest.master("a harbour at dawn")
    publish = PublishSpec(root=str(tmp_path), shot="s", name="n")
    free = submit(ledger, request, publish, "offline", project="p")
    paid = submit(ledger, request, publish, "luma", project="p")
    assert free.estimate_usd == 0.0
    assert paid.estimate_usd == pytest.approx(request.estimate().usd) == pytest.approx(3.60)
    assert ledger.committed("p") == pytest.approx(3.60)  # the budget sees only the paid job


def test_a_cancelled_job_never_sends_its_create(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, tmp_path)
    backend = ScriptedBackend(["completed"])
    token = CancelToken()
    token.cancel()
    done = _runner(ledger, backend).run(job.id, cancel=token)
    assert done.state == L.CANCELLED and backend.creates == [] and done.create_intent_at is None


def test_a_failed_download_stays_delivered_for_resume_and_is_never_re_created(tmp_path):
    from genplate.core.backends.base import Output

    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, tmp_path)
    gone = (tmp_path / "nowhere.mp4").as_uri()
    backend = ScriptedBackend([Generation(id="gen-1", state="completed",
                                          outputs=(Output(type="video", url=gone),))])
    runner = _runner(ledger, backend)
    first = runner.run(job.id)
    assert first.state == L.DELIVERED and f"genplate resume {job.id}" in first.error
    assert [j.id for j in L.iter_unfinished(ledger)] == [job.id]
    again = runner.run(job.id)  # resume: fetches again, never creates again
    assert again.state == L.DELIVERED and backend.creates == [job.id]
    assert sum("download failed" in (e.detail or "") for e in ledger.events(job.id)) == 2


def test_an_outage_while_following_keeps_the_paid_job_resumable(tmp_path):
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, tmp_path)

    class Outage(ScriptedBackend):
        down = True

        def get(self, remote_id, **kw):
            if self.down:
                raise BackendError("502 from the service", retryable=True)
            return super().get(remote_id, **kw)

    backend = Outage([_failed("content_moderated")])
    runner = _runner(ledger, backend)
    parked = runner.run(job.id)
    assert parked.state == L.SUBMITTED and "resume" in parked.error and parked.remote_id == "gen-1"
    backend.down = False
    done = runner.run(job.id)  # resume: follows the same generation, never creates again
    assert done.state == L.FAILED and "content_moderated" in done.error
    assert backend.creates == [job.id]


def test_a_refused_key_while_following_leaves_the_paid_job_resumable(tmp_path):
    """The generation exists and is paid for: a key that stops working is this machine's
    problem, not the service's answer about the generation, so the job waits for a resume."""
    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, tmp_path)

    class Refusing(ScriptedBackend):
        refuse = True

        def get(self, remote_id, **kw):
            if self.refuse:
                raise BackendError("401: the key was refused")
            return super().get(remote_id, **kw)

    backend = Refusing([_failed("content_moderated")])
    parked = _runner(ledger, backend).run(job.id)
    assert parked.state == L.SUBMITTED and "401" in parked.error
    assert f"genplate resume {job.id}" in parked.error
    assert [j.id for j in L.iter_unfinished(ledger)] == [job.id]
    backend.refuse = False
    done = _runner(ledger, backend).run(job.id)
    assert done.state == L.FAILED and "content_moderated" in done.error
    assert backend.creates == [job.id]


def test_a_delivery_that_fails_to_publish_stays_resumable(tmp_path, monkeypatch):
    """Paid for and downloaded: a failure while publishing keeps the files and the job."""
    from genplate.core.jobs import runner as J

    ledger = L.Ledger(tmp_path / "l.db")
    job = _job(ledger, tmp_path)
    backend = ScriptedBackend(["completed"])
    ledger.claim_create(job.id)
    ledger.advance(job.id, L.SUBMITTED, remote_id="gen-1")
    ledger.advance(job.id, L.DELIVERED)
    ledger.advance(job.id, L.FETCHED, files=[{"path": str(tmp_path / "output-0.mp4"), "kind": "mp4"}])

    def broken(self, job, reporter, token):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(J.JobRunner, "_ingest", broken)
    parked = _runner(ledger, backend).run(job.id)
    assert parked.state == L.FETCHED and "No space left" in parked.error
    assert f"genplate resume {job.id}" in parked.error
    assert [j.id for j in L.iter_unfinished(ledger)] == [job.id] and backend.creates == []
