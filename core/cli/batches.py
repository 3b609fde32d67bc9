"""`genplate batches`: the draft batches, where each stands, and one batch's ranking and sheet.

A batch is written down before its first draft is sent (review/batches.py), so one that a
Ctrl-C, a closed terminal or a crash cut short is still listed, and `genplate resume` finishes
it (``resume_batches``): its remaining jobs, the judging, the ranking and the contact sheet.
The panels ask `genplate batches --json --shot S` to show a reopened batch's ranks and sheet.
"""
from __future__ import annotations

import argparse
import datetime as dt

from .options import ROOT_HELP
from .output import Bars, CommandError, emit, say


def register(command) -> None:
    p = command("batches", cmd_batches, "draft batches: where each stands, one batch's ranking "
                                        "and contact sheet; `genplate resume` finishes one cut short")
    p.add_argument("batch", nargs="?", help="show this batch (its id, from the listing)")
    p.add_argument("--shot", help="only this shot's batches")
    p.add_argument("--root", help=f"only batches publishing under this root ({ROOT_HELP})")
    p.add_argument("-n", "--limit", type=int, default=20,
                   help="the newest N batches (default 20)")


def cmd_batches(args: argparse.Namespace) -> int:
    from ..jobs.ledger import Ledger
    from ..review import batches
    from ..review.drafts import DraftsError

    ledger = Ledger()
    if args.batch:
        try:
            status = batches.status(ledger, batches.read(ledger, args.batch))
        except DraftsError as exc:
            raise CommandError(str(exc)) from exc
        emit(args, {"batch": status}, lambda: describe(status))
        return 0
    rows = []
    for batch_id in batches.all_ids(ledger):
        try:
            spec = batches.read(ledger, batch_id)
        except DraftsError:
            continue  # an unreadable record: `genplate batches ID` names the problem
        status = batches.status(ledger, spec)
        if args.shot and status["shot"] != args.shot:
            continue
        if args.root and not _same_root(status["root"], args.root):
            continue
        rows.append(status)
    rows.sort(key=lambda s: s.get("created_at") or 0, reverse=True)
    rows = rows[:max(0, args.limit)]
    emit(args, {"batches": rows}, lambda: table(rows))
    return 0


def _same_root(a: str, b: str) -> bool:
    import os

    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def table(rows: list[dict]) -> str:
    if not rows:
        return "no draft batches (`genplate drafts PROMPT -n 4` makes one)"
    lines = [f"{'batch':13} {'state':11} {'when':16} {'shot/name':28} {'ready':>5}  best"]
    for s in rows:
        when = dt.datetime.fromtimestamp(s["created_at"]).strftime("%Y-%m-%d %H:%M") \
            if s.get("created_at") else "-"
        ready = f"{s['jobs'].get('ready', 0)}/{s['count']}"
        best = next((d for d in s["drafts"] if d.get("rank") == 1), None)
        best_text = (f"{best['name']} ({best.get('verdict')} {float(best.get('score') or 0):.1f})"
                     if best and best.get("verdict") else "-")
        lines.append(f"{s['batch']:13} {s['state']:11} {when:16} "
                     f"{(s['shot'] + '/' + s['name'])[:28]:28} {ready:>5}  {best_text}")
    if any(s["state"] == "interrupted" for s in rows):
        lines.append("interrupted batches: `genplate resume` finishes them")
    return "\n".join(lines)


def describe(s: dict) -> str:
    lines = [f"batch {s['batch']} ({s['state']}): {s['count']} draft(s) of {s['shot']}/"
             f"{s['name']} on {s['backend']}, ${s['spent_usd']:.2f} spent",
             f"  prompt: {s['prompt']}"]
    for d in s["drafts"]:
        rank = f"#{d['rank']}" if d.get("rank") else "  "
        verdict = (f"{d['verdict']} {float(d.get('score') or 0):.1f}" if d.get("verdict")
                   else d.get("state") or "")
        version = f" v{int(d['version']):03d}" if d.get("version") else ""
        lines.append(f"  {rank:3} {d['name']}{version:5}  {verdict}")
    lines += [f"  note: {n}" for n in s.get("notes") or []]
    if s["state"] == "done":
        lines.append(f"contact sheet: {s['contact_sheet']}")
    elif s["state"] == "interrupted":
        lines.append("cut short: `genplate resume` finishes it (no second generation)")
    else:
        lines.append(f"running; the contact sheet will be {s['contact_sheet']}")
    return "\n".join(lines)


def resume_batches(ledger) -> list[dict]:
    """Finish every batch an interrupted process left (for `genplate resume`): the drafts'
    remaining jobs, judging, ranking, the sheet. Notes go to stderr; returns the batches."""
    from ..review import batches
    from ..review.drafts import DraftsError
    from ..review.scores import JudgeError

    finished = []
    for spec in batches.unfinished(ledger):
        say(f"genplate: finishing batch {spec['batch_id']} ({spec['count']} draft(s) of "
            f"{spec['publish'].get('shot')}/{spec['publish'].get('name')})")
        bars: list[Bars] = []

        def progress_for(job_id: str) -> Bars:
            bars.append(Bars(f"{job_id[:7]} "))
            return bars[-1]

        try:
            batch = batches.finish(ledger, spec, progress_for=progress_for,
                                   say=lambda m: say(f"genplate: {m}"))
        except (DraftsError, JudgeError) as exc:  # this batch only: the others still resume
            say(f"genplate: batch {spec['batch_id']} not finished: {exc}")
            continue
        finally:
            for bar in bars:
                bar.close()
        say(f"genplate: batch {batch.batch_id}: contact sheet {batch.contact_sheet}")
        finished.append(batches.status(ledger, batches.read(ledger, batch.batch_id)))
    return finished


__all__ = ["register", "resume_batches"]
