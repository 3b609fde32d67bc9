"""Jobs that stopped short: which failed ones an earlier genplate ended for a local cause (and
may be resumed), what `genplate cancel` does to a job at each step, and giving back the
staging folder of a job that will never publish.

Recognising a local failure from the ledger
-------------------------------------------
Before #13 the runner failed a job for any error; since, only the service's own final answer
ends a job (a generation it failed, a create it refused) and such failure events are written
with the ``final:`` tag. An older failure is recognised from what it left in the ledger:

* it was not the service failing the generation: the error does not begin with "the service
  failed the generation", the only words the runner ever wrote for that;
* nothing replaced it: no retry job names it as its parent;
* and either a generation was made for it (a remote id is recorded: it was paid for, and every
  step after the create is local: following, downloading, publishing), or its error is one of
  the local causes an earlier version failed unsent jobs for (no key, a refused key, a missing
  input file, a setting, a second runner's step). The second kind is only revived when its id
  is named (`genplate resume JOB`): reviving it sends a new create.

A revived job goes back to the step it stood at when it failed, and carries on from there.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from . import ledger as L
from .lease import lease_seconds

FINAL_TAG = "final: "
SERVICE_FAILED = "the service failed the generation"
# What earlier versions wrote when they failed an unsent job for a cause on this machine.
_LOCAL_CAUSES = ("no Luma API key", "did not accept the API key", "input file not found",
                 "GENPLATE_LUMA_", "LUMA_BASE_URL", "is not a step of the job",
                 "was already created")


def revivable(ledger: L.Ledger, job: L.Job) -> Optional[tuple[str, bool]]:
    """(the state to go back to, whether it was paid for), or None when it failed for good."""
    if job.state != L.FAILED or ledger.children(job.id):
        return None
    error = job.error or ""
    if error.startswith(SERVICE_FAILED):
        return None
    events = ledger.events(job.id)
    failed_at = max((i for i, e in enumerate(events) if e.state == L.FAILED), default=None)
    if failed_at is None or (events[failed_at].detail or "").startswith(FINAL_TAG):
        return None
    before = next((e.state for e in reversed(events[:failed_at]) if e.state not in L.TERMINAL),
                  L.QUEUED)
    if job.remote_id:
        return before, True
    if any(cause in error for cause in _LOCAL_CAUSES):
        return before, False
    return None


def revive(ledger: L.Ledger, job: L.Job, *, paid_only: bool) -> Optional[L.Job]:
    """Bring a locally failed job back to where it stood; None when it may not be."""
    found = revivable(ledger, job)
    if found is None or (paid_only and not found[1]):
        return None
    state, paid = found
    why = ("paid for; it failed for a local cause" if paid else
           "it failed before anything was sent, for a local cause")
    return ledger.revive(job.id, state, f"revived: {why} ({(job.error or '')[:200]})")


def revivable_jobs(ledger: L.Ledger) -> list[L.Job]:
    """Failed jobs that were paid for and ended by an earlier genplate for a local cause."""
    out = []
    for job in ledger.jobs(states=[L.FAILED]):
        found = revivable(ledger, job)
        if found is not None and found[1]:
            out.append(job)
    return out


def release_staging(job: L.Job) -> list[Path]:
    """Give back this job's reserved version (a cancelled job never publishes)."""
    from ..takes import versions

    root = job.publish.get("root")
    if not root:
        return []
    released = []
    for reservation in versions.list_reservations(root):
        if reservation.job_id == job.id:
            versions.release(reservation)
            released.append(reservation.dir)
    return released


def cancel(ledger: L.Ledger, job_id: str, *, wait: float = 10.0) -> tuple[L.Job, str]:
    """End a job that is not done: (the job, what was done, in words for the user).

    A job some runner holds is asked to stop, and that runner ends it at its next check; a job
    nobody runs is ended here. Luma cannot stop a generation (the API has no cancel), so for
    one that is running there, cancelling means: stop following it, do not publish it.
    """
    job = ledger.get(job_id)
    if job.terminal:
        return job, f"job {job.id} is already {job.state}; nothing to cancel"
    ledger.request_cancel(job.id)
    holder = ledger.lease_holder(job.id)
    if holder is not None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not ledger.get(job.id).terminal \
                and ledger.lease_holder(job.id) is not None:
            time.sleep(0.2)
        job = ledger.get(job.id)
        if not job.terminal:
            holder = ledger.lease_holder(job.id)
            if holder is not None:
                return job, (f"job {job.id}: cancel requested; {holder.describe()} runs it and "
                             f"stops at its next check. {_remote_words(job)}").rstrip()
            return _end(ledger, job)
        return job, f"job {job.id} cancelled by its runner. {_remote_words(job)}".rstrip()
    return _end(ledger, job)


def _end(ledger: L.Ledger, job: L.Job) -> tuple[L.Job, str]:
    from ..owner import Owner

    me = Owner.here()
    taken, holder = ledger.take_lease(job.id, me, lease_seconds())
    if not taken:  # a runner arrived meanwhile: it sees the request and ends the job itself
        return job, f"job {job.id}: cancel requested; {holder.describe()} stops it"
    try:
        job = ledger.get(job.id)
        if job.terminal:
            return job, f"job {job.id} is already {job.state}"
        words = _remote_words(job)
        ended = ledger.advance(job.id, L.CANCELLED, f"cancelled by the user at {job.state}",
                               lease=me, message="cancelled", error=None)
        released = release_staging(ended)
        if released:
            words += f" Its reserved version ({released[0].name}) was given back."
        return ended, f"job {job.id} cancelled (it stood at {job.state}). {words}".rstrip()
    finally:
        ledger.release_lease(job.id, me)


def _remote_words(job: L.Job) -> str:
    """What cancelling means for the money, at the step the job stands at."""
    if job.state == L.QUEUED and job.create_outcome_unknown:
        return ("A create was sent for it and its answer was lost: if the generation exists it "
                "is billed; check your account.")
    if job.state == L.QUEUED:
        return "Nothing had been sent; nothing is billed."
    if job.state in (L.SUBMITTED, L.RUNNING):
        return (f"Generation {job.remote_id} keeps running on {job.backend} and is billed (the "
                f"service cannot stop a generation); genplate stopped following it and will not "
                f"publish it.")
    where = f" The downloaded files stay in {Path(job.files[0]['path']).parent}." if job.files else ""
    return f"Its generation {job.remote_id} was paid for and will not be published.{where}"


__all__ = ["revivable", "revive", "revivable_jobs", "release_staging", "cancel", "FINAL_TAG",
           "SERVICE_FAILED"]
