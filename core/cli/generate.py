"""The main job's commands: `generate` (and `submit`, its detached form for the panels), `jobs`,
`resume`, the hidden `worker` a panel's job runs in, `cancel` and `clean`."""
from __future__ import annotations

import argparse
from typing import Optional

from ..backends import FREE_BACKENDS, default_backend_name
from ..jobs import ledger as L
from ..jobs import preflight, recovery
from ..jobs.budget import admitted, price
from ..jobs.runner import JobRunner, spawn_worker, submit, unfinished
from ..progress import ProgressFn
from .options import (BACKEND_HELP, add_publish_options, add_request_options, publish_from,
                      request_from)
from .output import Bars, emit, say


def open_ledger() -> L.Ledger:
    return L.Ledger()


def backend_name(args: argparse.Namespace) -> str:
    name = args.backend or default_backend_name()
    if name == "offline" and not args.backend:
        say("genplate: no Luma API key (LUMA_AGENTS_API_KEY or `genplate login`): using the "
            "offline renderer - deterministic HDR test footage, nothing sent, nothing paid.")
    return name


def take_summary(take_dir: Optional[str]) -> Optional[dict]:
    if not take_dir:
        return None
    from ..takes.take import load_take

    try:
        return load_take(take_dir).summary()
    except Exception:  # a take deleted by hand since: the job still lists
        return None


def job_json(job: L.Job) -> dict:
    data = job.summary()
    data["take"] = take_summary(job.take_dir)
    return data


def final_job(ledger: L.Ledger, job: L.Job) -> L.Job:
    """Follow a failed job to the retry that replaced it, if any."""
    seen = {job.id}
    while job.state == L.FAILED:
        children = [j for j in ledger.jobs() if j.parent_id == job.id and j.id not in seen]
        if not children:
            break
        job = children[0]
        seen.add(job.id)
    return job


def describe_result(job: L.Job) -> str:
    if job.state == L.READY:
        take = take_summary(job.take_dir) or {}
        return (f"published {take.get('shot')}/{take.get('name')}/v{take.get('version', 0):03d}: "
                f"{take.get('pattern')} ({take.get('first')}-{take.get('last')}, "
                f"{take.get('colorspace')}, {take.get('fps')} fps)")
    if job.state == L.FAILED:
        return f"job {job.id} failed: {job.error}"
    if job.state == L.CANCELLED:
        return f"job {job.id} cancelled"
    return f"job {job.id} is {job.state}: {job.error or job.message or ''}".rstrip(": ")


# -- commands --------------------------------------------------------------------------------

def cmd_generate(args: argparse.Namespace) -> int:
    ledger = open_ledger()
    request = request_from(args)
    request.validate()
    backend = backend_name(args)
    publish = publish_from(args, request)
    named = getattr(args, "job_id", None)
    known = ledger.find(named) if named else None
    if known is not None:  # run again (a retried farm task): follow the job it made
        job = submit(ledger, request, publish, backend, job_id=named)
        say(f"genplate: job {job.id} is already in the ledger ({job.state}); following it")
    else:
        # Everything publishing will need, before the job is recorded or anything is sent.
        preflight.check(request, publish, data_dir=ledger.path.parent, backend=backend)
        with admitted(ledger, args.project, [price(request, backend)]):
            job = submit(ledger, request, publish, backend, project=args.project,
                         job_id=named)
    where = f"on Luma; free on the {backend} renderer" if backend in FREE_BACKENDS else f"on {backend}"
    say(f"genplate: job {job.id}: {request.describe()} {where}")
    if args.detach:
        spawn_worker([job.id], ledger)
        emit(args, {"job": job_json(ledger.get(job.id))},
             lambda: f"job {job.id} queued; follow it with `genplate jobs`")
        return 0
    return run_and_report(args, ledger, [job.id])


def run_and_report(args: argparse.Namespace, ledger: L.Ledger, job_ids: list[str], *,
                   limit: int = 1, resend: bool = False) -> int:
    from ..jobs.runner import run_concurrently

    runner = JobRunner(ledger, notify=say)
    bars: dict[str, Bars] = {}

    def progress_for(job_id: str) -> ProgressFn:
        bars[job_id] = Bars(f"{job_id[:7]} " if len(job_ids) > 1 else "")
        return bars[job_id]

    try:
        if len(job_ids) == 1:
            jobs = [runner.run(job_ids[0], progress=progress_for(job_ids[0]), resend=resend)]
        else:
            jobs = run_concurrently(runner, job_ids, limit=limit, progress_for=progress_for)
    except KeyboardInterrupt:
        for bar in bars.values():
            bar.close()
        say("\ngenplate: interrupted. The ledger is consistent; `genplate resume` finishes "
            "the job(s) without asking for a second generation.")
        return 130
    finally:
        for bar in bars.values():
            bar.close()
    jobs = [final_job(ledger, job) for job in jobs]
    if len(jobs) == 1:
        job = jobs[0]
        payload = {"job": job_json(job)}
        if job.state == L.READY:
            payload = {**(take_summary(job.take_dir) or {}), "job": job_json(job)}
        elif getattr(args, "json", False):
            payload["error"] = job.error or f"job {job.state}"
        emit(args, payload, lambda: describe_result(job))
    else:
        emit(args, {"jobs": [job_json(j) for j in jobs]},
             lambda: "\n".join(describe_result(j) for j in jobs))
    return 0 if all(j.state == L.READY for j in jobs) else 1


def cmd_jobs(args: argparse.Namespace) -> int:
    ledger = open_ledger()
    if args.job:
        job = ledger.get(args.job)
        events = [{"at": e.at, "state": e.state, "detail": e.detail} for e in ledger.events(job.id)]
        holder = ledger.lease_holder(job.id)
        data = {**job_json(job), "runner": holder.to_json() if holder else None}
        emit(args, {"job": data, "events": events},
             lambda: _format_events(job, events) + (f"\n  run by {holder.describe()}"
                                                      if holder else ""))
        return 0
    states = [s for s in L.STATES if s not in L.TERMINAL] if args.active else None
    jobs = ledger.jobs(states=states, limit=args.limit)
    if args.shot:
        jobs = [j for j in jobs if j.publish.get("shot") == args.shot]
    # "ledger" names the file, so a host's panel can read the active jobs itself, read-only,
    # instead of starting this command every poll (genplate.panel.ledger, issue #18).
    emit(args, {"jobs": [job_json(j) for j in jobs], "ledger": str(ledger.path.absolute())},
         lambda: _format_jobs(jobs))
    return 0


def _format_jobs(jobs: list[L.Job]) -> str:
    if not jobs:
        return "no jobs"
    import datetime as dt

    lines = [f"{'job':17} {'state':10} {'when':16} {'shot/take':28} {'$':>6}  prompt"]
    for j in jobs:
        when = dt.datetime.fromtimestamp(j.created_at).strftime("%Y-%m-%d %H:%M")
        where = f"{j.publish.get('shot')}/{j.publish.get('name')}"
        state = j.state + ("*" if j.error and not j.terminal else "")
        lines.append(f"{j.id:17} {state:10} {when:16} {where[:28]:28} "
                     f"{(j.spent_usd or j.estimate_usd):6.2f}  {j.request.get('prompt', '')[:48]}")
    return "\n".join(lines)


def _format_events(job: L.Job, events: list[dict]) -> str:
    import datetime as dt

    lines = [f"job {job.id} ({job.backend}, remote {job.remote_id or '-'}): {job.state}"]
    for e in events:
        at = dt.datetime.fromtimestamp(e["at"]).strftime("%H:%M:%S")
        lines.append(f"  {at} {e['state']:10} {e['detail'] or ''}")
    if job.error:
        lines.append(f"  error: {job.error}")
    return "\n".join(lines)


def cmd_resume(args: argparse.Namespace) -> int:
    ledger = open_ledger()
    # Draft batches first: finishing one runs its own unfinished jobs, then ranks and draws it.
    from .batches import resume_batches

    finished = [] if args.job else resume_batches(ledger)
    if args.job:
        jobs = [ledger.get(j) for j in args.job]
        # Named on purpose: a job an earlier genplate failed for a local cause comes back,
        # even one that was never sent (its create goes out now, as asked).
        jobs = [recovery.revive(ledger, j, paid_only=False) or j for j in jobs]
    else:
        # Paid jobs an earlier genplate failed for a local cause are unfinished too.
        revived = [recovery.revive(ledger, j, paid_only=True) for j in recovery.revivable_jobs(ledger)]
        jobs = unfinished(ledger)
        if revived:
            say(f"genplate: {len(revived)} paid job(s) failed by an earlier genplate for a local "
                f"cause are picked up again")
    if not jobs:
        emit(args, {"jobs": [], "batches": finished}, lambda: "\n".join(
            f"batch {b['batch']}: contact sheet {b['contact_sheet']}" for b in finished)
            or "nothing to resume")
        return 0
    say(f"genplate: resuming {len(jobs)} job(s)")
    return run_and_report(args, ledger, [j.id for j in jobs], limit=args.limit, resend=args.resend)


def cmd_worker(args: argparse.Namespace) -> int:
    """A detached worker running jobs for a host's panel (started by spawn_worker)."""
    ledger = open_ledger()
    runner = JobRunner(ledger)
    from ..jobs.runner import run_concurrently

    run_concurrently(runner, args.job, limit=args.limit, progress_for=lambda _id: (lambda *a: None))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    ledger = open_ledger()
    job, said = recovery.cancel(ledger, args.job)
    emit(args, {"job": job_json(job), "said": said}, lambda: said)
    return 0


JOB_ID_HELP = ("name the job (letters, digits, '_', '-'), e.g. a farm task's id: the same "
               "command run again follows the job it made instead of paying for another")


def register(command) -> None:
    p = command("generate", cmd_generate, "generate a shot and publish it as a take")
    add_request_options(p)
    add_publish_options(p)
    p.add_argument("--backend", choices=("offline", "luma"), help=BACKEND_HELP)
    p.add_argument("--project", default="", help="project the spending counts against")
    p.add_argument("--detach", action="store_true",
                   help="queue it and return at once; a background worker runs it")
    p.add_argument("--job-id", metavar="ID", help=JOB_ID_HELP)

    p = command("submit", cmd_generate, "queue a shot for a background worker (what the panels use)")
    add_request_options(p)
    add_publish_options(p)
    p.add_argument("--backend", choices=("offline", "luma"), help=BACKEND_HELP)
    p.add_argument("--project", default="", help="project the spending counts against")
    p.add_argument("--job-id", metavar="ID", help=JOB_ID_HELP)
    p.set_defaults(detach=True)

    p = command("jobs", cmd_jobs, "list jobs (or one job's steps)")
    p.add_argument("job", nargs="?", help="show this job's steps")
    p.add_argument("--active", action="store_true", help="only jobs not yet ready/failed/cancelled")
    p.add_argument("--shot", help="only this shot's jobs")
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.add_argument("-n", "--limit", type=int, default=50, help="the newest N jobs (default 50)")

    p = command("resume", cmd_resume,
                "finish jobs an interrupted process left half-way (never a second generation)")
    p.add_argument("job", nargs="*", help="only these jobs")
    p.add_argument("--resend", action="store_true",
                   help="for a job whose create answer was lost: send it again (may cost twice)")
    p.add_argument("--limit", type=int, default=2, help="jobs in flight at once")

    p = command("worker", cmd_worker, argparse.SUPPRESS, json_flag=False)
    p.add_argument("job", nargs="+")
    p.add_argument("--limit", type=int, default=2)

    p = command("cancel", cmd_cancel, "end a job that is not done: stop following it, do not "
                                      "publish it (says what that means for what was paid)")
    p.add_argument("job", help="the job's id (`genplate jobs` lists them)")
