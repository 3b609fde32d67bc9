"""The main job: a shot request followed from the ledger to a published take.

Every arrow of DESIGN.md's data flow is a step here, written to the ledger before and after it
happens. ``JobRunner.run`` picks a job up wherever it stands, so the same code runs a new job,
finishes one that a killed process left half-way (``genplate resume``), and continues one that
a host's panel started in a detached worker. The one step that is never repeated is the create:
``Ledger.claim_create`` lets exactly one caller send it.
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

from .. import __version__
from . import ledger as L
from ..backends import FREE_BACKENDS, open_backend
from ..backends.base import COMPLETED, FAILED, Backend, BackendError, Generation
from ..progress import Cancelled, CancelToken, ProgressFn, no_progress
from ..request import ShotRequest
from ..takes.record import PublishSpec, iso_time, publish_record

# Failure codes worth a new paid attempt (luma-agents-api.md); anything else is final.
RETRYABLE_FAILURES = ("generation_failed", "output_not_found")
HEARTBEAT_SECONDS = 10.0
PAUSE_ENV = "GENPLATE_DEBUG_PAUSE_AT"


class JobError(RuntimeError):
    """A job cannot go on; the message says why and what to do."""


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
           attempt: int = 1) -> L.Job:
    """Validate and record a job (state queued). Nothing is sent yet."""
    request.validate()
    estimate = 0.0 if backend in FREE_BACKENDS else request.estimate().usd
    return ledger.add_job(
        backend=backend, request=request.to_json(), publish=publish.to_json(), project=project,
        estimate_usd=estimate, batch_id=batch_id, parent_id=parent_id,
        attempt=attempt)


class JobRunner:
    """Runs jobs to a take, step by step, recording each step in the ledger."""

    def __init__(self, ledger: L.Ledger, *,
                 backend_factory: Optional[Callable[[str], Backend]] = None,
                 retry: RetryPolicy = RetryPolicy(),
                 poll_deadline: float = 3 * 3600.0) -> None:
        self.ledger = ledger
        self._backend_factory = backend_factory or (lambda name: open_backend(name, ledger))
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()
        self.retry = retry
        self.poll_deadline = poll_deadline

    def backend(self, name: str) -> Backend:
        with self._lock:
            if name not in self._backends:
                self._backends[name] = self._backend_factory(name)
            return self._backends[name]

    # -- the job -------------------------------------------------------------------------

    def run(self, job_id: str, *, progress: ProgressFn = no_progress,
            cancel: Optional[CancelToken] = None, resend: bool = False) -> L.Job:
        """Take a job from wherever it stands to ready, failed or cancelled.

        KeyboardInterrupt (Ctrl-C) is not a cancel: the job keeps its state and stays
        resumable; only an explicit cancel (token or ledger request) ends it as cancelled.
        """
        # Here, not at the top: the command's quick paths (`genplate jobs` every few seconds
        # from a panel) must not pay for loading the HTTP stack.
        from ..delivery.fetch import FetchError

        ledger = self.ledger
        job = ledger.get(job_id)
        if job.terminal:
            return job
        token = CancelToken(also=lambda: ledger.cancel_requested(job.id))
        if cancel is not None:
            outer = cancel
            token = CancelToken(also=lambda: outer.cancelled or ledger.cancel_requested(job.id))
        reporter = _LedgerProgress(ledger, job.id, progress)
        heartbeat = _Heartbeat(ledger, job.id)
        heartbeat.start()
        try:
            backend = self.backend(job.backend)
            if job.state == L.QUEUED:
                job = self._create(job, backend, token, resend=resend)
            if job.state in (L.SUBMITTED, L.RUNNING):
                job = self._follow(job, backend, reporter, token)
            if job.state == L.DELIVERED:
                job = self._fetch(job, backend, reporter, token)
            if job.state in (L.FETCHED, L.INGESTING):
                try:
                    job = self._ingest_or_refetch(job, backend, reporter, token)
                except (Cancelled, KeyboardInterrupt):
                    raise
                except Exception as exc:
                    # The delivery is paid for and on disk: keep it, so `genplate resume`
                    # publishes it once the cause (an option, a config, a disk) is fixed.
                    job = _keep_resumable(ledger, job.id, "publishing failed", exc)
        except Cancelled:
            job = ledger.advance(job.id, L.CANCELLED, "cancelled by the user",
                                 message="cancelled", error=None)
        except KeyboardInterrupt:
            ledger.note(job.id, "interrupted (Ctrl-C); `genplate resume` finishes it")
            raise
        except CreateNeedsDecision as exc:
            ledger.update(job.id, error=str(exc), message="waiting for a decision")
            job = ledger.get(job.id)
        except FetchError as exc:
            # The generation is paid for and the service still holds it: stay delivered, so
            # `genplate resume` fetches again with fresh URLs, rather than failing for good.
            job = _keep_resumable(ledger, job.id, "download failed", exc)
        except BackendError as exc:
            job = ledger.get(job.id)
            if not (exc.retryable and job.remote_id and job.state in _FOLLOWED):
                job = _fail(ledger, job, exc)
            else:  # an outage while following a paid generation: resume picks it up again
                job = _keep_resumable(ledger, job.id, "lost touch with the service", exc)
        except Exception as exc:  # every other failure ends the job, with its reason
            job = _fail(ledger, ledger.get(job.id), exc)
        finally:
            heartbeat.stop()
            ledger.update(job.id, worker_pid=None)
        return ledger.get(job.id)

    def _create(self, job: L.Job, backend: Backend, token: CancelToken, *, resend: bool) -> L.Job:
        request = ShotRequest.from_json(job.request)
        if job.create_outcome_unknown:
            # Settled even when the job is being cancelled: a generation that exists is
            # money spent, and the ledger must know its id.
            job = self._reconcile(job, backend, resend=resend)
            if job.state != L.QUEUED:
                return job
        token.check()  # a cancelled job never sends a create
        job = self.ledger.claim_create(job.id)
        _pause_point("create")
        try:
            remote_id = backend.create(request, job_id=job.id)
        except BackendError as exc:
            if getattr(exc, "outcome_unknown", False):
                raise _needs_decision(job, backend, exc) from exc
            # The backend proved nothing was created (a refusal before acceptance): final.
            raise
        _pause_point("created")
        return self.ledger.advance(job.id, L.SUBMITTED, f"created {remote_id} on {backend.name}",
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
            return self.ledger.advance(job.id, L.SUBMITTED,
                                       f"reconciled: the lost create exists as {remote_id}",
                                       remote_id=remote_id, spent_usd=job.estimate_usd)
        self.ledger.update(job.id, create_intent_at=None)
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
                return self.ledger.advance(job.id, L.DELIVERED,
                                           f"{len(outputs)} output(s) ready", outputs=outputs,
                                           message="delivered")
            if generation.state == FAILED:
                return self._failed_generation(job, generation)
            if job.state == L.SUBMITTED:
                job = self.ledger.advance(job.id, L.RUNNING, generation.state, message="generating")
                _pause_point("running")
            if generation.progress is not None:
                reporter("generating")(generation.progress, 1.0, generation.state)
            if time.monotonic() > deadline:
                raise JobError(f"{job.remote_id} still {generation.state} after "
                               f"{self.poll_deadline / 60:.0f} min; `genplate resume` keeps following it")
            if token.wait(interval):
                token.check()
            interval = min(interval * 1.5, backend.max_poll_interval)

    def _failed_generation(self, job: L.Job, generation: Generation) -> L.Job:
        code = generation.failure_code or "unknown"
        reason = generation.failure_reason or "no reason given"
        # Failed and moderated generations are refunded (luma-agents-api.md).
        failed = self.ledger.advance(job.id, L.FAILED, f"{code}: {reason}",
                                     error=f"the service failed the generation ({code}): {reason}",
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
        return self.ledger.advance(job.id, L.FETCHED, f"{len(record)} file(s) downloaded",
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

    def _ingest_or_refetch(self, job: L.Job, backend: Backend, reporter: "_LedgerProgress",
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
            self.ledger.update(job.id, files=self._download(job, backend, reporter, token))
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
            return self.ledger.advance(job.id, L.READY, f"found published take {published.dir}",
                                       take_dir=str(published.dir), message="ready")
        job = self.ledger.advance(job.id, L.INGESTING, message="ingesting")
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
        return self.ledger.advance(job.id, L.READY, f"published {take.dir}",
                                   take_dir=str(take.dir), message="ready", progress=1.0)


# Steps at which a generation exists remotely and is being followed or fetched.
_FOLLOWED = (L.SUBMITTED, L.RUNNING, L.DELIVERED)


def _fail(ledger: L.Ledger, job: L.Job, exc: BaseException) -> L.Job:
    if job.terminal:
        return job
    return ledger.advance(job.id, L.FAILED, _reason(exc), error=_reason(exc), message="failed")


def _keep_resumable(ledger: L.Ledger, job_id: str, what: str, exc: BaseException) -> L.Job:
    """Leave a paid job where it stands, with the reason, for `genplate resume`."""
    reason = _reason(exc)
    ledger.note(job_id, f"{what}: {reason}")
    ledger.update(job_id, error=f"{what} ({reason}); `genplate resume {job_id}` picks it up again",
                  message=what)
    return ledger.get(job_id)


def _needs_decision(job: L.Job, backend: Backend, why: BaseException) -> CreateNeedsDecision:
    return CreateNeedsDecision(
        f"job {job.id}: a create was sent but its answer was lost, and {backend.name} cannot "
        f"say whether the generation exists ({_reason(why)}). Sending it again may start a "
        f"second paid generation: check your account, then run "
        f"`genplate resume --resend {job.id}`, or `genplate cancel {job.id}`.")


def exr_provenance(job: L.Job, spec: PublishSpec, version: int, request: ShotRequest) -> dict:
    """The essentials of take.json that travel inside every frame's header."""
    header = {
        "genplate:shot": spec.shot,
        "genplate:take": spec.name,
        "genplate:version": f"v{version:03d}",
        "genplate:kind": spec.kind,
        "genplate:job_id": job.id,
        "genplate:backend": job.backend,
        "genplate:remote_id": job.remote_id or "",
        "genplate:model": request.model,
        "genplate:prompt": request.prompt,
        "genplate:engine": f"genplate {__version__}",
    }
    if request.seed is not None:
        header["genplate:seed"] = str(request.seed)
    return header


def take_record(job: L.Job, spec: PublishSpec, staging, request: ShotRequest, result,
                ledger: L.Ledger) -> dict:
    """take.json of a generated take: the provenance record published beside the frames."""
    times: dict[str, str] = {}
    for event in ledger.events(job.id):  # the first time each step was reached
        if event.state in (L.QUEUED, L.SUBMITTED, L.DELIVERED):
            times.setdefault(event.state, iso_time(event.at))
    return publish_record(spec, staging, result, job_id=job.id, backend=job.backend,
                          remote_id=job.remote_id, request=request.to_json(),
                          inputs=request.input_hashes(), estimate_usd=job.estimate_usd,
                          times=times)


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


class _Heartbeat:
    """Tells other processes this job has a live worker (so `resume` leaves it alone)."""

    def __init__(self, ledger: L.Ledger, job_id: str) -> None:
        self.ledger, self.job_id = ledger, job_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{job_id}")

    def start(self) -> None:
        self.ledger.update(self.job_id, worker_pid=os.getpid(), heartbeat_at=time.time())
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.ledger.update(self.job_id, heartbeat_at=time.time())
            except Exception:  # a busy database must never kill the job; the next beat retries
                pass

    def stop(self) -> None:
        self._stop.set()


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
