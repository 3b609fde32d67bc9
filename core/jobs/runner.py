"""The main job: a shot request followed from the ledger to a published take.

Every arrow of DESIGN.md's data flow is a step here, written to the ledger before and after it
happens. ``JobRunner.run`` picks a job up wherever it stands, so the same code runs a new job,
finishes one that a killed process left half-way (``genplate resume``), and continues one that
a host's panel started in a detached worker. The one step that is never repeated is the create:
``Ledger.claim_create`` lets exactly one caller send it.

One runner per job: ``run`` first takes the job's lease (``lease.py``), keeps it with a
heartbeat, and records every step under it. A second runner (a `genplate resume` beside a
panel's worker, a farm task run twice) finds the lease held and follows the job from the ledger
instead, until it ends or the lease frees up, and then carries on from wherever the job stands.

Money first: a job fails only on the service's own final answer (a generation it failed, a
create it refused, a delivery that is not what it claims). Every local cause (no key, a full
disk, a bad root, the poll deadline, a crash in ingest) leaves the job where it stands, with a
message that says what to fix, for `genplate resume`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from . import ledger as L
from . import lease as leases
from . import preflight
from .errors import JobError, LeaseLost
from .provenance import exr_provenance, take_record
from .recovery import FINAL_TAG, SERVICE_FAILED, release_staging
from ..backends import FREE_BACKENDS, open_backend
from ..backends.base import COMPLETED, FAILED, Backend, BackendError, Generation
from ..owner import Owner
from ..progress import Cancelled, CancelToken, ProgressFn, no_progress
from ..request import ShotRequest
from ..takes.record import PublishSpec

# Failure codes worth a new paid attempt (luma-agents-api.md); anything else is final.
RETRYABLE_FAILURES = ("generation_failed", "output_not_found")
PAUSE_ENV = "GENPLATE_DEBUG_PAUSE_AT"
WATCH_SECONDS = 0.5  # how often a runner that does not hold the job looks at the ledger
MAX_TAKEOVERS = 8  # a job that keeps changing hands under this runner is left, resumable


class _MovedOn(Exception):
    """Another runner made the step, or holds the job now: re-read it and carry on."""


class CreateNeedsDecision(JobError):
    """A create was sent but its answer was lost, and the backend cannot tell whether it exists.

    Sending again could start a second paid generation, so the job waits for a person:
    ``genplate resume --resend JOB`` sends it again knowingly.
    """


@dataclass
class RetryPolicy:
    """How many new paid attempts a retryable failure may cost (each one is said aloud)."""

    max_attempts: int = 2


def job_dir(ledger: L.Ledger, job_id: str) -> Path:
    """Where a job keeps what it downloaded (kept: it was paid for) and its worker's log."""
    return ledger.path.parent / "jobs" / job_id


def kind_for(request: ShotRequest) -> str:
    return {"draft": "draft", "master": "master"}.get(request.quality, "take")


def submit(ledger: L.Ledger, request: ShotRequest, publish: PublishSpec, backend: str, *,
           project: str = "", batch_id: Optional[str] = None, parent_id: Optional[str] = None,
           attempt: int = 1, job_id: Optional[str] = None) -> L.Job:
    """Validate and record a job (state queued). Nothing is sent yet.

    ``job_id`` names the job (a farm task's own id): when a job of that id is already recorded
    for the same shot, it is returned instead, so a task run again follows the job it made.
    """
    request.validate()
    estimate = 0.0 if backend in FREE_BACKENDS else request.estimate().usd
    with ledger.transaction():
        if job_id is not None:
            from ..takes.layout import TakeError, validate_job_id

            try:
                validate_job_id(job_id)
            except TakeError as exc:
                raise JobError(f"--job-id: {exc}") from None
            existing = ledger.find(job_id)
            if existing is not None:
                if (existing.backend, ShotRequest.from_json(existing.request).describe(),
                        existing.request.get("prompt")) != (backend, request.describe(), request.prompt):
                    raise JobError(f"job {job_id} is already in the ledger for another shot "
                                   f"({existing.request.get('prompt', '')[:60]!r} on "
                                   f"{existing.backend}): choose another --job-id")
                return existing
        return ledger.add_job(
            backend=backend, request=request.to_json(), publish=publish.to_json(),
            project=project, estimate_usd=estimate, batch_id=batch_id, parent_id=parent_id,
            attempt=attempt, job_id=job_id)


class JobRunner:
    """Runs jobs to a take, step by step, recording each step in the ledger."""

    def __init__(self, ledger: L.Ledger, *,
                 backend_factory: Optional[Callable[[str], Backend]] = None,
                 retry: RetryPolicy = RetryPolicy(),
                 poll_deadline: float = 3 * 3600.0,
                 lease_seconds: Optional[float] = None,
                 notify: Callable[[str], None] = lambda message: None) -> None:
        self.ledger = ledger
        self._backend_factory = backend_factory or (lambda name: open_backend(name, ledger))
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()
        self.retry = retry
        self.poll_deadline = poll_deadline
        self.lease_seconds = lease_seconds or leases.lease_seconds()
        self.notify = notify  # one-line notes for the person watching (stderr in the command)
        # The lease each (job, thread) works under: a step is recorded only while it holds.
        self._held: dict[tuple[str, int], Owner] = {}

    def backend(self, name: str) -> Backend:
        with self._lock:
            if name not in self._backends:
                self._backends[name] = self._backend_factory(name)
            return self._backends[name]

    # -- the job -------------------------------------------------------------------------

    def run(self, job_id: str, *, progress: ProgressFn = no_progress,
            cancel: Optional[CancelToken] = None, resend: bool = False,
            wait: bool = True) -> L.Job:
        """Take a job from wherever it stands to ready, failed or cancelled, or leave it where
        it stands with the reason when a local cause stops it.

        When another runner holds the job, follow it from the ledger until it ends, or until
        that runner stops (its lease lapses or, on this machine, its process is gone) and then
        take over; ``wait=False`` returns the job as it stands instead.

        KeyboardInterrupt (Ctrl-C) is not a cancel: the job keeps its state and stays
        resumable; only an explicit cancel (token or ledger request) ends it as cancelled.
        """
        ledger = self.ledger
        job = ledger.get(job_id)
        me = Owner.here()
        moves = 0
        told = False
        while True:
            job = ledger.get(job.id)
            if job.terminal:
                return self._retry_of(job, progress=progress, cancel=cancel, wait=wait)
            taken, holder = ledger.take_lease(job.id, me, self.lease_seconds)
            if not taken:
                if not wait:
                    return job
                if not told:
                    told = True
                    self.notify(f"genplate: job {job.id} is being run by {holder.describe()}; "
                                f"following it (this process takes over if that one stops)")
                self._watch(job.id, progress, cancel)
                continue
            try:
                return self._run_held(job.id, me, progress, cancel, resend)
            except (_MovedOn, LeaseLost, L.TransitionError) as exc:
                # A step another runner already made is not an error: look again.
                moves += 1
                if moves >= MAX_TAKEOVERS:
                    return _keep_resumable(ledger, job.id, "the job kept changing under this "
                                                           "runner", exc)

    def _watch(self, job_id: str, progress: ProgressFn, cancel: Optional[CancelToken]) -> None:
        """Follow a job another runner holds, until it ends or nobody holds it any more."""
        asked = False
        while True:
            job = self.ledger.get(job_id)
            if job.terminal or self.ledger.lease_holder(job_id) is None:
                return
            progress(job.progress or 0.0, 1.0 if job.progress is not None else 0.0,
                     f"{job.state}: {job.message or ''} (another runner)")
            if cancel is not None and cancel.cancelled and not asked:
                asked = True  # the holder sees the request and ends the job itself
                self.ledger.request_cancel(job_id)
            time.sleep(WATCH_SECONDS)

    def _retry_of(self, job: L.Job, **kw) -> L.Job:
        """A generation the service failed may have been retried as a new job: follow that."""
        if job.state == L.FAILED and (job.error or "").startswith(SERVICE_FAILED):
            retries = [j for j in self.ledger.children(job.id) if j.attempt == job.attempt + 1]
            if retries:
                return self.run(retries[0].id, **kw)
        return job

    def _run_held(self, job_id: str, me: Owner, progress: ProgressFn,
                  cancel: Optional[CancelToken], resend: bool) -> L.Job:
        """The job's steps, under this runner's lease (taken by ``run``, given back here)."""
        # Here, not at the top: the command's quick paths (`genplate jobs` every few seconds
        # from a panel) must not pay for loading the HTTP stack.
        from ..delivery.fetch import FetchError
        from ..delivery.unpack import ArchiveError

        ledger = self.ledger
        key = (job_id, threading.get_ident())
        self._held[key] = me
        keeper = leases.Keeper(ledger, job_id, me, self.lease_seconds)
        outer = cancel
        token = CancelToken(also=lambda: keeper.lost or (outer is not None and outer.cancelled)
                            or ledger.cancel_requested(job_id))
        reporter = _LedgerProgress(ledger, job_id, progress)
        keeper.start()
        job = ledger.get(job_id)
        try:
            if job.state == L.QUEUED:
                job = self._create(job, self.backend(job.backend), token, resend=resend)
            if job.state in (L.SUBMITTED, L.RUNNING):
                job = self._follow(job, self.backend(job.backend), reporter, token)
            if job.state == L.DELIVERED:
                job = self._fetch(job, self.backend(job.backend), reporter, token)
            if job.state in (L.FETCHED, L.INGESTING):
                try:
                    job = self._ingest_or_refetch(job, reporter, token)
                except (Cancelled, KeyboardInterrupt, LeaseLost, L.TransitionError):
                    raise
                except Exception as exc:
                    # The delivery is paid for and on disk: keep it, so `genplate resume`
                    # publishes it once the cause (an option, a config, a disk) is fixed.
                    job = _keep_resumable(ledger, job.id, "publishing failed", exc, lease=me)
        except Cancelled:
            if keeper.lost:
                raise _MovedOn("another runner took the job over") from None
            job = self._advance(job_id, L.CANCELLED, "cancelled by the user",
                                message="cancelled", error=None)
            release_staging(job)
        except KeyboardInterrupt:
            ledger.note(job_id, "interrupted (Ctrl-C); `genplate resume` finishes it")
            raise
        except CreateNeedsDecision as exc:
            ledger.update(job_id, lease=me, error=str(exc), message="waiting for a decision")
        except FetchError as exc:
            # The generation is paid for and the service still holds it: stay delivered, so
            # `genplate resume` fetches again with fresh URLs, rather than failing for good.
            job = _keep_resumable(ledger, job_id, "download failed", exc, lease=me)
        except ArchiveError as exc:
            # What the service delivered is not what it claims (an unsafe or broken archive):
            # its answer, and fetching it again brings the same bytes.
            job = self._fail(ledger.get(job_id), exc, "the delivery is unusable")
        except BackendError as exc:
            job = ledger.get(job_id)
            if _refused(exc, job):  # the service said no to the create: nothing was made
                job = self._fail(job, exc, "refused")
            else:  # an outage, the key, a setting: the job waits where it stands
                job = _keep_resumable(ledger, job_id, _stopped(job), exc, lease=me)
        except (_MovedOn, LeaseLost, L.TransitionError):
            raise
        except Exception as exc:  # a local cause: the job waits, with what to fix
            job = _keep_resumable(ledger, job_id, _stopped(ledger.get(job_id)), exc, lease=me)
        finally:
            keeper.stop()
            self._held.pop(key, None)
            ledger.release_lease(job_id, me)
        return ledger.get(job_id)

    def _lease(self, job_id: str) -> Optional[Owner]:
        return self._held.get((job_id, threading.get_ident()))

    def _advance(self, job_id: str, state: str, detail: Optional[str] = None, **fields) -> L.Job:
        """A step, recorded only while this thread's runner still holds the job."""
        return self.ledger.advance(job_id, state, detail, lease=self._lease(job_id), **fields)

    def _fail(self, job: L.Job, exc: BaseException, what: str) -> L.Job:
        if job.terminal:
            return job
        reason = _reason(exc)
        return self._advance(job.id, L.FAILED, f"{FINAL_TAG}{what}: {reason}",
                             error=f"{what}: {reason}", message="failed")

    def _create(self, job: L.Job, backend: Backend, token: CancelToken, *, resend: bool) -> L.Job:
        request = ShotRequest.from_json(job.request)
        if job.create_outcome_unknown:
            # Settled even when the job is being cancelled: a generation that exists is
            # money spent, and the ledger must know its id.
            job = self._reconcile(job, backend, resend=resend)
            if job.state != L.QUEUED:
                return job
        token.check()  # a cancelled job never sends a create
        # Checked again right before sending: the root, the disk or the config may have
        # changed since the job was recorded. Nothing is sent if not.
        preflight.check_job(job, self.ledger.path.parent)
        job = self.ledger.claim_create(job.id, lease=self._lease(job.id))
        _pause_point("create")
        try:
            remote_id = backend.create(request, job_id=job.id)
        except BackendError as exc:
            if getattr(exc, "outcome_unknown", False):
                raise _needs_decision(job, backend, exc) from exc
            # The backend proved nothing was created (a refusal before acceptance): final.
            raise
        _pause_point("created")
        return self._advance(job.id, L.SUBMITTED, f"created {remote_id} on {backend.name}",
                                   remote_id=remote_id, spent_usd=job.estimate_usd,
                                   message="submitted")

    def _reconcile(self, job: L.Job, backend: Backend, *, resend: bool) -> L.Job:
        """Settle a create whose answer was lost, before anything is sent again.

        A backend that can look the job up implements ``reconcile(job_id)``: it returns the
        remote id when the generation exists, None when it can prove none was made, and
        raises when it cannot tell. Only a proof of absence, or the user's explicit
        ``--resend``, lets a second create go out.
        """
        reconcile = getattr(backend, "reconcile", None)
        try:
            if reconcile is None:
                raise BackendError(f"{backend.name} cannot look up a lost create")
            remote_id = reconcile(job.id)
        except BackendError as exc:
            if not resend:
                raise _needs_decision(job, backend, exc) from exc
            self.ledger.note(job.id, "create re-sent at the user's request (--resend)")
            remote_id = None
        if remote_id:
            return self._advance(job.id, L.SUBMITTED,
                                 f"reconciled: the lost create exists as {remote_id}",
                                 remote_id=remote_id, spent_usd=job.estimate_usd)
        self.ledger.update(job.id, lease=self._lease(job.id), create_intent_at=None)
        if not resend:
            self.ledger.note(job.id, f"reconciled: {backend.name} never received the create")
        return self.ledger.get(job.id)

    def _follow(self, job: L.Job, backend: Backend, reporter: "_LedgerProgress",
                token: CancelToken) -> L.Job:
        _pause_point("submitted" if job.state == L.SUBMITTED else "running")
        deadline = time.monotonic() + self.poll_deadline
        interval = backend.poll_interval
        while True:
            token.check()
            generation = backend.get(job.remote_id, progress=reporter.stage("generating"),
                                     cancel=token)
            if generation.state == COMPLETED:
                outputs = [{"type": o.type, "layer": o.layer} for o in generation.outputs]
                return self._advance(job.id, L.DELIVERED, f"{len(outputs)} output(s) ready",
                                     outputs=outputs, message="delivered")
            if generation.state == FAILED:
                return self._failed_generation(job, generation)
            if job.state == L.SUBMITTED:
                job = self._advance(job.id, L.RUNNING, generation.state, message="generating")
                _pause_point("running")
            if generation.progress is not None:
                reporter("generating")(generation.progress, 1.0, generation.state)
            if time.monotonic() > deadline:
                # Still running at the service, and paid for: this runner stops watching, the
                # job does not end (resume follows the same generation, never a new one).
                raise JobError(f"{job.remote_id} is still {generation.state} on {backend.name} "
                               f"after {self.poll_deadline / 60:.0f} min of following it; it "
                               f"is paid for and keeps running there")
            if token.wait(interval):
                token.check()
            interval = min(interval * 1.5, backend.max_poll_interval)

    def _failed_generation(self, job: L.Job, generation: Generation) -> L.Job:
        code = generation.failure_code or "unknown"
        reason = generation.failure_reason or "no reason given"
        # Failed and moderated generations are refunded (luma-agents-api.md).
        failed = self._advance(job.id, L.FAILED, f"{FINAL_TAG}{code}: {reason}",
                               error=f"{SERVICE_FAILED} ({code}): {reason}",
                               spent_usd=0.0, message="failed")
        if code in RETRYABLE_FAILURES and job.attempt < self.retry.max_attempts:
            retry = self.ledger.add_job(
                backend=job.backend, request=job.request, publish=job.publish,
                project=job.project, estimate_usd=job.estimate_usd, batch_id=job.batch_id,
                parent_id=job.id, attempt=job.attempt + 1)
            self.ledger.note(job.id, f"retrying as job {retry.id} (attempt {retry.attempt} of "
                                     f"{self.retry.max_attempts}): a new paid generation")
            return self.run(retry.id)
        return failed

    def _fetch(self, job: L.Job, backend: Backend, reporter: "_LedgerProgress",
               token: CancelToken) -> L.Job:
        _pause_point("delivered")
        record = self._download(job, backend, reporter, token)
        return self._advance(job.id, L.FETCHED, f"{len(record)} file(s) downloaded",
                             files=record, message="downloaded", error=None)

    def _download(self, job: L.Job, backend: Backend, reporter: "_LedgerProgress",
                  token: CancelToken) -> list[dict]:
        from ..delivery.fetch import fetch_outputs
        from ..delivery.limits import budget_for

        # URLs are never stored (they are secrets, and expire): ask for fresh ones.
        generation = backend.get(job.remote_id)
        if generation.state != COMPLETED:
            raise JobError(f"{job.remote_id} was delivered but is now {generation.state}")
        files = fetch_outputs(
            job_dir(self.ledger, job.id) / "delivery", generation.outputs,
            refresh=lambda: backend.get(job.remote_id).outputs,
            progress=reporter.stage("downloading"), cancel=token,
            budget=budget_for(ShotRequest.from_json(job.request)),
            plain_http=backend.plain_http_outputs, local_root=backend.local_outputs)
        return [{"path": str(f.path), "kind": f.kind, "bytes": f.bytes, "sha256": f.sha256}
                for f in files]

    def _ingest_or_refetch(self, job: L.Job, reporter: "_LedgerProgress",
                           token: CancelToken) -> L.Job:
        """Ingest; when a delivered file does not decode, fetch it again once and ingest again
        (a second failure stops the job, resumable, with the reason)."""
        from ..delivery.fetch import discard_outputs
        from ..ingest.options import DeliveryDamaged

        try:
            return self._ingest(job, reporter, token)
        except DeliveryDamaged as exc:
            self.ledger.note(job.id, f"{_reason(exc)}; fetching the damaged output(s) again, once")
            discard_outputs(job_dir(self.ledger, job.id) / "delivery", exc.paths)
            # The backend is opened only now: a job that ingests cleanly never needs the key.
            files = self._download(job, self.backend(job.backend), reporter, token)
            self.ledger.update(job.id, lease=self._lease(job.id), files=files)
            return self._ingest(self.ledger.get(job.id), reporter, token)

    def _ingest(self, job: L.Job, reporter: "_LedgerProgress", token: CancelToken) -> L.Job:
        from ..delivery.limits import budget_for
        from ..review import judge
        from ..takes import versions
        from ..takes.take import find_for_job
        from ..ingest.convert import ingest

        _pause_point("fetched")
        spec = PublishSpec.from_json(job.publish)
        published = find_for_job(spec.root, spec.shot, spec.name, job.id)
        if published is not None:
            # The take was published before a crash kept the ledger from hearing about it.
            return self._advance(job.id, L.READY, f"found published take {published.dir}",
                                 take_dir=str(published.dir), message="ready", error=None)
        job = self._advance(job.id, L.INGESTING, message="ingesting")
        _pause_point("ingesting")
        staging = versions.reserve(spec.root, spec.shot, spec.name, job.id)
        request = ShotRequest.from_json(job.request)
        options = spec.ingest_options()
        header = exr_provenance(job, spec, staging.version, request)
        result = ingest([Path(f["path"]) for f in job.files], staging, options, header=header,
                        progress=reporter.stage("ingesting"), cancel=token,
                        budget=budget_for(request))
        record = take_record(job, spec, staging, request, result, self.ledger)
        # Judged before publishing, so the scores travel with the take; a judge that fails
        # leaves the take unjudged, never unpublished (it was paid for).
        record["scores"] = judge.scores_for_publish(
            staging.dir, record, cancel=token, log=lambda m: self.ledger.note(job.id, m))
        _pause_point("ingested")
        take = versions.commit(staging, record)
        _pause_point("published")
        return self._advance(job.id, L.READY, f"published {take.dir}",
                             take_dir=str(take.dir), message="ready", progress=1.0, error=None)


def _refused(exc: BackendError, job: L.Job) -> bool:
    """The service's own refusal of the create: final, and nothing was made or paid for."""
    return (job.state == L.QUEUED and not job.remote_id and not exc.retryable and not exc.local
            and not getattr(exc, "outcome_unknown", False))


def _stopped(job: L.Job) -> str:
    """What stopped, in the words of the step the job stands at."""
    return {L.QUEUED: "not sent", L.SUBMITTED: "following the generation stopped",
            L.RUNNING: "following the generation stopped", L.DELIVERED: "download failed",
            }.get(job.state, "publishing failed")


def _keep_resumable(ledger: L.Ledger, job_id: str, what: str, exc: BaseException, *,
                    lease: Optional[Owner] = None) -> L.Job:
    """Leave a job where it stands, with the reason and what to do, for `genplate resume`."""
    reason = _reason(exc) + _advice(exc)
    if "free space" not in reason:
        job = ledger.get(job_id)
        full = preflight.nearly_full([job.publish.get("root") or ".", ledger.path.parent])
        if full:
            reason += f"; {full}"
    ledger.note(job_id, f"{what}: {reason}", lease=lease)
    ledger.update(job_id, lease=lease, message=what,
                  error=f"{what} ({reason}); `genplate resume {job_id}` picks it up again")
    return ledger.get(job_id)


def _advice(exc: BaseException) -> str:
    """What to fix, for the local causes whose own words do not say it."""
    import errno

    while exc is not None and not isinstance(exc, OSError):
        exc = exc.__cause__ or exc.__context__
    if not isinstance(exc, OSError):
        return ""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f": free space on that disk{where} (`genplate clean` reclaims old deliveries)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f": make the folder writable by you{where}"
    return ""


def _needs_decision(job: L.Job, backend: Backend, why: BaseException) -> CreateNeedsDecision:
    return CreateNeedsDecision(
        f"job {job.id}: a create was sent but its answer was lost, and {backend.name} cannot "
        f"say whether the generation exists ({_reason(why)}). Sending it again may start a "
        f"second paid generation: check your account, then run "
        f"`genplate resume --resend {job.id}`, or `genplate cancel {job.id}`.")


def _reason(exc: BaseException) -> str:
    from ..secrets import redact

    text = str(exc) or type(exc).__name__
    return redact(text)


def _pause_point(name: str) -> None:
    """A place where a test may freeze the worker, to kill it there with SIGKILL.

    ``GENPLATE_DEBUG_PAUSE_AT=<name>`` stops the process at that step (after the ledger has
    recorded everything before it) until it is killed. It exists so the resume tests kill a
    real process at each step instead of mocking a crash.
    """
    if os.environ.get(PAUSE_ENV) == name:
        marker = os.environ.get(PAUSE_ENV + "_MARKER")
        if marker:
            Path(marker).write_text(name)
        while True:
            time.sleep(0.05)


class _LedgerProgress:
    """Reports a step's progress to the terminal and, a few times a second, to the ledger."""

    def __init__(self, ledger: L.Ledger, job_id: str, outer: ProgressFn) -> None:
        self.ledger, self.job_id, self.outer = ledger, job_id, outer
        self._last = 0.0

    def stage(self, stage: str) -> ProgressFn:
        def report(done: float, total: float, message: str) -> None:
            self.outer(done, total, f"{stage}: {message}" if message else stage)
            now = time.monotonic()
            finished = total and done >= total
            if now - self._last >= 0.3 or finished:
                self._last = now
                fraction = (done / total) if total else None
                self.ledger.update(self.job_id, progress=fraction,
                                   message=f"{stage} {message}".strip())
        return report

    def __call__(self, stage: str) -> ProgressFn:
        return self.stage(stage)


def spawn_worker(job_ids: list[str], ledger: L.Ledger) -> int:
    """Run jobs in a detached engine process that outlives the caller (a host's panel).

    The worker's output goes to the first job's folder; it is a new session, so closing Nuke
    or Resolve (or the terminal) does not take it down.
    """
    log_dir = job_dir(ledger, job_ids[0])
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / "worker.log", "ab")
    env = dict(os.environ)
    env["GENPLATE_DATA_DIR"] = str(ledger.path.parent)
    proc = subprocess.Popen(
        [sys.executable, "-m", "genplate.core.cli", "worker", *job_ids],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
        start_new_session=True, close_fds=True)
    log.close()
    return proc.pid


def run_concurrently(runner: JobRunner, job_ids: list[str], *, limit: int,
                     progress_for: Callable[[str], ProgressFn],
                     cancel: Optional[CancelToken] = None) -> list[L.Job]:
    """Run several jobs at once, at most ``limit`` in flight in this process."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, limit), thread_name_prefix="job") as pool:
        futures = [pool.submit(runner.run, job_id, progress=progress_for(job_id), cancel=cancel)
                   for job_id in job_ids]
        return [f.result() for f in futures]


def unfinished(ledger: L.Ledger) -> list[L.Job]:
    return list(L.iter_unfinished(ledger))


__all__ = [
    "JobRunner", "RetryPolicy", "JobError", "CreateNeedsDecision", "submit",
    "spawn_worker", "run_concurrently", "unfinished", "job_dir", "kind_for",
]
