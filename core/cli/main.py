"""The `genplate` command: the engine's one door, for artists in a terminal and for the hosts.

Every command that a host calls takes ``--json`` and then prints exactly one JSON object on
stdout (``{"error": ...}`` and a non-zero exit on failure); progress bars and notes go to
stderr, so the hosts can parse stdout without guessing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Optional

from .. import __version__
from ..jobs import ledger as L
from ..backends import FREE_BACKENDS, default_backend_name
from .options import add_publish_options, add_request_options, publish_from, request_from, root_from
from ..jobs.runner import JobRunner, spawn_worker, submit, unfinished
from ..progress import ProgressFn
from ..request import RequestError


class CommandError(RuntimeError):
    """An error the command reports as one line (and as {"error": ...} with --json)."""


# -- output ----------------------------------------------------------------------------------

def _emit(args: argparse.Namespace, payload: dict, human: Callable[[], str]) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(payload, indent=None, default=str) + "\n")
    else:
        text = human()
        if text:
            print(text)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


class _Bars:
    """One terminal progress bar per job step (tqdm; silent when stderr is not a terminal)."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self._bar = None
        self._stage: Optional[str] = None

    def __call__(self, done: float, total: float, message: str) -> None:
        from tqdm import tqdm

        stage = message.split(":", 1)[0]
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = tqdm(total=total or None, desc=f"{self.label}{stage}", unit="",
                             leave=False, file=sys.stderr, disable=None, dynamic_ncols=True)
        bar = self._bar
        if bar is None:
            return
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.set_postfix_str(message.split(":", 1)[-1].strip()[:40], refresh=False)
        bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# -- helpers ---------------------------------------------------------------------------------

def _ledger() -> L.Ledger:
    return L.Ledger()


def _backend_name(args: argparse.Namespace) -> str:
    name = args.backend or default_backend_name()
    if name == "offline" and not args.backend:
        _say("genplate: no Luma API key (LUMA_AGENTS_API_KEY or `genplate login`): using the "
             "offline renderer - deterministic HDR test footage, nothing sent, nothing paid.")
    return name


def _take_summary(take_dir: Optional[str]) -> Optional[dict]:
    if not take_dir:
        return None
    from ..takes.take import load_take

    try:
        return load_take(take_dir).summary()
    except Exception:  # a take deleted by hand since: the job still lists
        return None


def _job_json(job: L.Job) -> dict:
    data = job.summary()
    data["take"] = _take_summary(job.take_dir)
    return data


def _final(ledger: L.Ledger, job: L.Job) -> L.Job:
    """Follow a failed job to the retry that replaced it, if any."""
    seen = {job.id}
    while job.state == L.FAILED:
        children = [j for j in ledger.jobs() if j.parent_id == job.id and j.id not in seen]
        if not children:
            break
        job = children[0]
        seen.add(job.id)
    return job


def _admitted(ledger: L.Ledger, project: str, estimates: list[float]):
    from ..jobs.budget import admitted

    return admitted(ledger, project, estimates)


def _price(request, backend: str) -> float:
    from ..jobs.budget import price

    return price(request, backend)


def _describe_result(job: L.Job) -> str:
    if job.state == L.READY:
        take = _take_summary(job.take_dir) or {}
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
    ledger = _ledger()
    request = request_from(args)
    request.validate()
    backend = _backend_name(args)
    publish = publish_from(args, request)
    with _admitted(ledger, args.project, [_price(request, backend)]):
        job = submit(ledger, request, publish, backend, project=args.project)
    where = f"on Luma; free on the {backend} renderer" if backend in FREE_BACKENDS else f"on {backend}"
    _say(f"genplate: job {job.id}: {request.describe()} {where}")
    if args.detach:
        spawn_worker([job.id], ledger)
        _emit(args, {"job": _job_json(ledger.get(job.id))},
              lambda: f"job {job.id} queued; follow it with `genplate jobs`")
        return 0
    return _run_and_report(args, ledger, [job.id])


def _run_and_report(args: argparse.Namespace, ledger: L.Ledger, job_ids: list[str], *,
                    limit: int = 1, resend: bool = False) -> int:
    from ..jobs.runner import run_concurrently

    runner = JobRunner(ledger)
    bars: dict[str, _Bars] = {}

    def progress_for(job_id: str) -> ProgressFn:
        bars[job_id] = _Bars(f"{job_id[:7]} " if len(job_ids) > 1 else "")
        return bars[job_id]

    try:
        if len(job_ids) == 1:
            jobs = [runner.run(job_ids[0], progress=progress_for(job_ids[0]), resend=resend)]
        else:
            jobs = run_concurrently(runner, job_ids, limit=limit, progress_for=progress_for)
    except KeyboardInterrupt:
        for bar in bars.values():
            bar.close()
        _say("\ngenplate: interrupted. The ledger is consistent; `genplate resume` finishes "
             "the job(s) without asking for a second generation.")
        return 130
    finally:
        for bar in bars.values():
            bar.close()
    jobs = [_final(ledger, job) for job in jobs]
    if len(jobs) == 1:
        job = jobs[0]
        payload = {"job": _job_json(job)}
        if job.state == L.READY:
            payload = {**(_take_summary(job.take_dir) or {}), "job": _job_json(job)}
        elif getattr(args, "json", False):
            payload["error"] = job.error or f"job {job.state}"
        _emit(args, payload, lambda: _describe_result(job))
    else:
        _emit(args, {"jobs": [_job_json(j) for j in jobs]},
              lambda: "\n".join(_describe_result(j) for j in jobs))
    return 0 if all(j.state == L.READY for j in jobs) else 1


def cmd_jobs(args: argparse.Namespace) -> int:
    ledger = _ledger()
    if args.job:
        job = ledger.get(args.job)
        events = [{"at": e.at, "state": e.state, "detail": e.detail} for e in ledger.events(job.id)]
        _emit(args, {"job": _job_json(job), "events": events},
              lambda: _format_events(job, events))
        return 0
    states = [s for s in L.STATES if s not in L.TERMINAL] if args.active else None
    jobs = ledger.jobs(states=states, limit=args.limit)
    if args.shot:
        jobs = [j for j in jobs if j.publish.get("shot") == args.shot]
    _emit(args, {"jobs": [_job_json(j) for j in jobs]}, lambda: _format_jobs(jobs))
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
    ledger = _ledger()
    if args.job:
        jobs = [ledger.get(j) for j in args.job]
    else:
        jobs = unfinished(ledger)
    if not jobs:
        _emit(args, {"jobs": []}, lambda: "nothing to resume")
        return 0
    _say(f"genplate: resuming {len(jobs)} job(s)")
    return _run_and_report(args, ledger, [j.id for j in jobs], limit=args.limit, resend=args.resend)


def cmd_worker(args: argparse.Namespace) -> int:
    """A detached worker running jobs for a host's panel (started by spawn_worker)."""
    ledger = _ledger()
    runner = JobRunner(ledger)
    from ..jobs.runner import run_concurrently

    run_concurrently(runner, args.job, limit=args.limit, progress_for=lambda _id: (lambda *a: None))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    ledger = _ledger()
    job = ledger.request_cancel(args.job)
    if job.state == L.QUEUED and not L.has_live_worker(job) and not job.create_intent_at:
        # Nobody is running it and nothing was sent: end it here.
        job = ledger.advance(job.id, L.CANCELLED, "cancelled before it was sent", message="cancelled")
    _emit(args, {"job": _job_json(job)},
          lambda: f"job {job.id}: cancel requested" if not job.terminal else f"job {job.id}: {job.state}")
    return 0


def cmd_takes(args: argparse.Namespace) -> int:
    from ..takes.take import list_takes

    takes = list_takes(root_from(args), shot=args.shot, name=args.name)
    summaries = [t.summary() for t in takes]
    _emit(args, {"takes": summaries}, lambda: "\n".join(
        f"{s['shot']}/{s['name']}/v{s['version']:03d}{' (latest)' if s.get('latest') else ''}  "
        f"{s['first']}-{s['last']}  {s['pattern']}" for s in summaries) or "no takes")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from ..takes.take import load_take

    take = load_take(args.take, root=root_from(args))
    _emit(args, {"take": take.summary(), "record": take.record},
          lambda: json.dumps(take.record, indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..takes.take import load_take

    root = root_from(args)
    takes = [load_take(t, root=root) for t in args.take]
    if args.target == "nuke":
        from ..takes.export_nuke import write_nuke_snippet

        out = Path(args.output or f"{takes[0].shot}_{takes[0].name}.nk")
        write_nuke_snippet(takes, out)
    else:
        from ..takes.export_otio import write_otio

        out = Path(args.output or f"{takes[0].shot}_takes.otio")
        write_otio(takes, out, name=args.timeline_name)
    _emit(args, {"path": str(out.resolve())}, lambda: f"wrote {out}")
    return 0


# -- the parser ------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genplate",
        description="Luma Ray3 shots as versioned ACES EXR takes for Nuke and Resolve.")
    parser.add_argument("--version", action="version", version=f"genplate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help: str, *, json_flag: bool = True) -> argparse.ArgumentParser:
        # A hidden command (the detached worker) is left out of the listing altogether.
        listed = {} if help == argparse.SUPPRESS else {"help": help, "description": help}
        p = sub.add_parser(name, **listed)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.set_defaults(handler=handler)
        return p

    p = command("generate", cmd_generate, "generate a shot and publish it as a take")
    add_request_options(p)
    add_publish_options(p)
    p.add_argument("--backend", choices=("offline", "luma"),
                   help="default: luma when an API key is set, else offline")
    p.add_argument("--project", default="", help="project the spending counts against")
    p.add_argument("--detach", action="store_true",
                   help="queue it and return at once; a background worker runs it")

    p = command("submit", cmd_generate, "queue a shot for a background worker (what the panels use)")
    add_request_options(p)
    add_publish_options(p)
    p.add_argument("--backend", choices=("offline", "luma"))
    p.add_argument("--project", default="")
    p.set_defaults(detach=True)

    p = command("jobs", cmd_jobs, "list jobs (or one job's steps)")
    p.add_argument("job", nargs="?", help="show this job's steps")
    p.add_argument("--active", action="store_true", help="only jobs not yet ready/failed/cancelled")
    p.add_argument("--shot")
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.add_argument("-n", "--limit", type=int, default=50)

    p = command("resume", cmd_resume,
                "finish jobs an interrupted process left half-way (never a second generation)")
    p.add_argument("job", nargs="*", help="only these jobs")
    p.add_argument("--resend", action="store_true",
                   help="for a job whose create answer was lost: send it again (may cost twice)")
    p.add_argument("--limit", type=int, default=2, help="jobs in flight at once")

    p = command("worker", cmd_worker, argparse.SUPPRESS, json_flag=False)
    p.add_argument("job", nargs="+")
    p.add_argument("--limit", type=int, default=2)

    p = command("cancel", cmd_cancel, "stop following a job and do not publish it")
    p.add_argument("job")

    p = command("takes", cmd_takes, "list published takes")
    p.add_argument("--root")
    p.add_argument("--shot")
    p.add_argument("--name")

    p = command("show", cmd_show, "a take's provenance record (take.json)")
    p.add_argument("take", help="version folder, take.json, or SHOT/NAME[/v001] under --root")
    p.add_argument("--root")

    p = command("export", cmd_export, "hand takes to a host without the host: a Nuke snippet or OTIO")
    p.add_argument("target", choices=("nuke", "otio"))
    p.add_argument("take", nargs="+")
    p.add_argument("--root")
    p.add_argument("-o", "--output")
    p.add_argument("--timeline-name", default=None)

    _add_more_commands(command)
    return parser


def _add_more_commands(command) -> None:
    """Commands of the later rooms (drafts, colour, Luma account, hosts), when present."""
    from . import rooms as cli_more

    cli_more.register(command)


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (RequestError, CommandError, L.LedgerError) as exc:
        return _fail(args, str(exc))
    except Exception as exc:
        known = _known_error(exc)
        if known is None:
            raise
        return _fail(args, known)


def _known_error(exc: Exception) -> Optional[str]:
    """Errors that carry a message meant for the user (not a bug): report, don't trace."""
    from ..backends.base import BackendError

    names = {"BudgetExceeded", "TakeError", "ArchiveError", "IngestError", "ColourError",
             "ConfigError", "FetchError", "InstallError", "JobError", "CredentialsError",
             "JudgeError", "PromoteError", "DraftsError", "AnnotationError"}
    if isinstance(exc, BackendError) or type(exc).__name__ in names or isinstance(exc, FileNotFoundError):
        from ..secrets import redact

        return redact(str(exc))
    return None


def _fail(args: argparse.Namespace, message: str) -> int:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"error": message}) + "\n")
    else:
        _say(f"genplate: {message}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
