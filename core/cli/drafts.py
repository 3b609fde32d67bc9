"""Commands of the drafts room: draft batches, judging, promotion, annotation and budgets.

- ``genplate drafts PROMPT -n N``: N drafts, judged, ranked, a contact sheet (its path printed).
- ``genplate judge TAKE...``: (re)judge published takes; scores.json and a plot beside each.
- ``genplate promote TAKE``: a master (720p/1080p, HDR, EXR) from a draft, its frames pinned.
- ``genplate annotate FRAME --strokes FILE``: the panel's canvas strokes -> keyframe PNGs and
  prompt directions, as a proposal to show the artist (nothing is sent).
- ``genplate budget``: per-project spending caps (``--project P --cap 25``) and what is spent.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..jobs import ledger as L
from .generate import backend_name, job_json, open_ledger, run_and_report
from .options import (BACKEND_HELP, ROOT_HELP, add_publish_options, add_request_options,
                      publish_from, request_from, root_from)
from .output import Bars, CommandError, emit, say


def register(command) -> None:
    p = command("drafts", cmd_drafts,
                "N cheap drafts of one prompt, run together, judged, ranked, on a contact sheet")
    add_request_options(p)
    add_publish_options(p)
    p.add_argument("-n", "--count", type=int, default=4, help="how many drafts (default 4)")
    p.add_argument("--retries", type=int, default=2,
                   help="new drafts allowed in place of ones judged broken (default 2; each is paid)")
    p.add_argument("--limit", type=int, default=2, help="drafts in flight at once (default 2)")
    p.add_argument("--backend", choices=("offline", "luma"), help=BACKEND_HELP)
    p.add_argument("--project", default="", help="project the spending counts against")
    p.add_argument("--detach", action="store_true",
                   help="record the drafts and return at once; a background process runs, "
                        "judges and ranks them and writes the contact sheet (what the panels use)")

    p = command("drafts-worker", cmd_drafts_worker, argparse.SUPPRESS, json_flag=False)
    p.add_argument("spec", help="the batch's spec file, written by `drafts --detach`")

    p = command("judge", cmd_judge, "measure published takes (flicker, frozen, black, clipping, "
                                    "gamut, frame count): scores.json and a plot beside each")
    p.add_argument("take", nargs="+", help="version folder, take.json, or SHOT/NAME[/v001]")
    p.add_argument("--root", help=ROOT_HELP)
    p.add_argument("--no-plot", action="store_true", help="skip the luminance/flicker plot")

    p = command("promote", cmd_promote,
                "make a master (720p/1080p, HDR, EXR) from a draft, pinning its frames as keyframes")
    p.add_argument("take", help="the draft: version folder, take.json, or SHOT/NAME[/v001]")
    p.add_argument("--resolution", choices=("720p", "1080p"), default="1080p",
                   help="the master's resolution (default 1080p)")
    p.add_argument("--keyframes", type=int, default=3, metavar="N",
                   help="draft frames pinned, evenly spaced on the 24 fps grid (default 3: first, "
                        "middle, last; 0 = prompt and inputs only)")
    p.add_argument("--no-exr", action="store_true", help="HDR video only, no EXR export")
    add_publish_options(p, parent="the draft's")
    p.add_argument("--backend", choices=("offline", "luma"), help=BACKEND_HELP)
    p.add_argument("--project", default=None,
                   help="project the spending counts against (default: the draft's)")
    p.add_argument("--detach", action="store_true",
                   help="queue it and return at once; a background worker runs it")
    p.add_argument("--dry-run", action="store_true",
                   help="show the master request (and write the pinned frames) without sending it")

    p = command("annotate", cmd_annotate,
                "turn strokes drawn on a frame into keyframes and prompt directions (a proposal)")
    p.add_argument("frame", help="the annotated frame (PNG/JPEG/EXR as the panel grabbed it)")
    p.add_argument("--strokes", required=True,
                   help="JSON file of strokes (or - for stdin): [{kind, points, radius?, label?}]")
    p.add_argument("--prompt", default="", help="the prompt the directions are appended to")
    p.add_argument("--duration", choices=("5s", "10s"), default="5s",
                   help="the shot the keyframes are placed in (default 5s)")
    p.add_argument("--steps", type=int, default=2, help="keyframes after the start (default 2)")
    p.add_argument("--out", required=True, help="folder the keyframe PNGs are written to")

    p = command("budget", cmd_budget, "per-project spending caps and what each project has spent")
    p.add_argument("--project", default=None, help="the project to show or cap")
    cap = p.add_mutually_exclusive_group()
    cap.add_argument("--cap", type=float, metavar="USD", help="set the project's cap in US dollars")
    cap.add_argument("--clear", action="store_true", help="remove the project's cap")


def _command_error(exc: Exception):
    return CommandError(str(exc))


# -- drafts ----------------------------------------------------------------------------------

def cmd_drafts(args: argparse.Namespace) -> int:
    from ..backends import FREE_BACKENDS
    from ..review import batches
    from ..review.drafts import DraftsError, run_batch, submit_batch
    from ..review.scores import JudgeError

    ledger = open_ledger()
    request = request_from(args)
    request.validate()
    backend = backend_name(args)
    publish = publish_from(args, request)
    seed = args.seed if args.seed is not None else 1
    luma = request.estimate().usd * args.count
    # One price, the one the budget counts: free here is free, and Luma's is said as Luma's.
    cost = (f"free on the {backend} renderer (est. ${luma:.2f} on Luma)"
            if backend in FREE_BACKENDS else f"est. ${luma:.2f} in all on {backend}")
    say(f"genplate: {args.count} draft(s) {publish.shot}/{publish.name}_d01..: "
        f"{request.describe().rsplit(', est.', 1)[0]} each, {cost}")
    try:  # recorded (and checked against the cap) before anything is sent
        batch_id, outcomes, estimates = submit_batch(ledger, request, publish, backend,
                                                     args.count, seed=seed, project=args.project)
    except DraftsError as exc:
        raise _command_error(exc) from exc
    # Written down first: a batch cut short (Ctrl-C, a closed terminal) keeps its record, so
    # `genplate batches` shows it and `genplate resume` finishes it.
    batches.record(ledger, batch_id, request, publish, backend, args.count, seed=seed,
                   project=args.project, limit=args.limit, retries=max(0, args.retries))
    if args.detach:
        return _detach_batch(args, ledger, batch_id, outcomes, estimates, publish)
    bars: dict[str, object] = {}

    def progress_for(job_id: str):
        bars[job_id] = Bars(f"{job_id[:7]} ")
        return bars[job_id]

    try:
        batch = run_batch(ledger, request, publish, backend, args.count, seed=seed,
                          project=args.project, limit=args.limit, retries=max(0, args.retries),
                          progress_for=progress_for, batch_id=batch_id,
                          say=lambda m: say(f"genplate: {m}"))
    except (DraftsError, JudgeError) as exc:
        raise _command_error(exc) from exc
    except KeyboardInterrupt:
        message = (f"interrupted. Batch {batch_id} is kept: `genplate resume` finishes its "
                   f"drafts (no second generation), ranks them and draws the contact sheet; "
                   f"`genplate batches {batch_id}` shows where it stands.")
        if getattr(args, "json", False):  # still one object on stdout
            emit(args, {"error": message, "batch": batch_id}, lambda: "")
        else:
            say(f"\ngenplate: {message}")
        return 130
    finally:
        for bar in bars.values():
            bar.close()
    emit(args, batch.to_json(), lambda: _describe_batch(batch))
    return 0 if any(d.scores is not None and not d.scores.broken for d in batch.drafts) else 1


def _detach_batch(args, ledger, batch_id: str, outcomes, estimates, publish) -> int:
    """Hand the recorded batch to a process of its own that outlives the caller (a host's
    panel), as `genplate worker` does for jobs."""
    import os
    import subprocess

    from ..review import batches
    from ..review.drafts import sheet_path

    spec_path = batches.spec_path(ledger, batch_id)
    log_path = spec_path.with_suffix(".log")
    env = dict(os.environ)
    env["GENPLATE_DATA_DIR"] = str(ledger.path.parent)
    with open(log_path, "ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "genplate.core.cli", "drafts-worker",
                                   str(spec_path)], stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                  close_fds=True)
    batches.claim(ledger, batches.read(ledger, batch_id), worker.pid)
    sheet = sheet_path(publish, batch_id)
    payload = {"batch": batch_id, "detached": True,
               "jobs": [job_json(ledger.get(o.job_id)) for o in outcomes],
               "estimate_usd": round(sum(estimates), 4),
               "contact_sheet": str(sheet), "batch_json": str(sheet.with_suffix(".json")),
               "log": str(log_path)}
    emit(args, payload, lambda: f"batch {batch_id}: {len(outcomes)} draft(s) queued; the "
         f"contact sheet will be {sheet}")
    return 0


def cmd_drafts_worker(args: argparse.Namespace) -> int:
    """A detached batch: run, judge, retry, rank and draw it (started by `drafts --detach`)."""
    from ..review import batches

    spec = json.loads(Path(args.spec).read_text())
    # Its log is a file: Bars writes one line per step and per 10 % there.
    batch = batches.finish(open_ledger(), spec, progress_for=lambda job_id: Bars(f"{job_id[:7]} "),
                           say=lambda m: print(f"genplate: {m}", flush=True))
    print(f"genplate: contact sheet {batch.contact_sheet}", flush=True)
    return 0


def _describe_batch(batch) -> str:
    lines = [f"batch {batch.batch_id}: {len(batch.drafts)} draft(s), ${batch.spent_usd:.2f} spent"
             + (f", {batch.retries_used} retried" if batch.retries_used else "")]
    for d in batch.drafts:
        verdict = d.scores.line() if d.scores else f"{d.state}: {d.error or ''}".rstrip(": ")
        lines.append(f"  #{d.rank} {d.label:28} {verdict}")
    lines += [f"  note: {n}" for n in batch.notes]
    lines.append(f"contact sheet: {batch.contact_sheet}")
    return "\n".join(lines)


# -- judge -----------------------------------------------------------------------------------

def cmd_judge(args: argparse.Namespace) -> int:
    from ..review.judge import judge_take
    from ..review.scores import JudgeError, load_config
    from ..takes.take import load_take

    config = load_config()
    root = root_from(args)
    results = []
    for ref in args.take:
        take = load_take(ref, root=root)
        try:
            scores = judge_take(take.dir, config=config, plot=not args.no_plot)
        except JudgeError as exc:
            raise _command_error(exc) from exc
        results.append({"take": take.summary(), "verdict": scores.verdict, "score": scores.score,
                        "reasons": scores.reasons, "warnings": scores.warnings,
                        "metrics": scores.metrics,
                        "scores_json": str(take.dir / "scores.json"),
                        "plot": None if args.no_plot else str(take.dir / "scores_plot.png")})
    emit(args, {"judged": results}, lambda: "\n".join(
        f"{r['take']['shot']}/{r['take']['name']}/v{r['take']['version']:03d}: "
        f"{r['verdict']} (score {r['score']:.1f})"
        + ("".join(f"\n  - {x}" for x in r["reasons"] + r["warnings"])) for r in results))
    return 0 if all(r["verdict"] == "ok" for r in results) else 1


# -- promote ---------------------------------------------------------------------------------

def cmd_promote(args: argparse.Namespace) -> int:
    from ..jobs.runner import kind_for, spawn_worker, submit
    from ..takes.record import PublishSpec
    from ..review.promote import PromoteError, plan
    from ..takes.take import load_take

    ledger = open_ledger()
    take = load_take(args.take, root=root_from(args))
    try:
        promotion = plan(take, resolution=args.resolution, keyframes=args.keyframes,
                         exr=not args.no_exr, inputs_dir=ledger.path.parent / "inputs" / "promote",
                         name=args.name, shot=args.shot,
                         root=root_from(args) if args.root else None)
    except PromoteError as exc:
        raise _command_error(exc) from exc
    request = promotion.request
    project = args.project
    if project is None:
        project = _draft_project(ledger, take.record.get("job_id"))
    for note in promotion.notes:
        say(f"genplate: {note}")
    if args.dry_run:
        emit(args, {"promotion": promotion.to_json(), "sent": False},
             lambda: f"would send: {request.describe()} as {promotion.shot}/{promotion.name} "
             f"(parent {take.shot}/{take.name}/v{take.version:03d}); nothing sent")
        return 0
    backend = backend_name(args)
    from ..jobs.budget import admitted, price
    from ..takes.layout import validate_name

    spec = PublishSpec(
        root=promotion.root, shot=validate_name("shot", promotion.shot),
        name=validate_name("take", promotion.name), kind=kind_for(request),
        first_frame=args.first_frame if args.first_frame is not None else promotion.first_frame,
        sdr_mode=args.sdr_mode, working_space=args.working_space, config=args.config,
        compression=args.compression, parent=promotion.parent)
    with admitted(ledger, project, [price(request, backend)]):
        job = submit(ledger, request, spec, backend, project=project)
    say(f"genplate: job {job.id}: {request.describe()} from "
        f"{take.shot}/{take.name}/v{take.version:03d} ({len(promotion.pinned)} frame(s) "
        f"pinned) on {backend}")
    if args.detach:
        spawn_worker([job.id], ledger)
        emit(args, {"job": job_json(ledger.get(job.id)),
                    "promotion": promotion.to_json()},
             lambda: f"job {job.id} queued; follow it with `genplate jobs`")
        return 0
    return run_and_report(args, ledger, [job.id])


def _draft_project(ledger: L.Ledger, job_id) -> str:
    if not job_id:
        return ""
    try:
        return ledger.get(job_id).project
    except L.LedgerError:
        return ""


# -- annotate --------------------------------------------------------------------------------

def cmd_annotate(args: argparse.Namespace) -> int:
    import numpy as np

    from ..review.annotate import AnnotationError, propose, strokes_from_json
    from ..review.contact_sheet import read_rgb, write_png

    try:
        text = sys.stdin.read() if args.strokes == "-" else Path(args.strokes).read_text()
        strokes = strokes_from_json(json.loads(text))
    except (OSError, ValueError) as exc:  # AnnotationError is a ValueError
        raise CommandError(f"--strokes {args.strokes}: {exc}") from exc
    frame_path = Path(args.frame)
    if not frame_path.is_file():
        raise CommandError(f"{args.frame}: no such frame")
    if args.steps < 1 or args.steps > 16:
        raise CommandError(f"--steps {args.steps}: 1 to 16 keyframes after the start")
    pixels = read_rgb(frame_path)
    if frame_path.suffix.lower() != ".exr":
        frame = (np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)
    else:  # a scene-linear grab: the model is shown what the artist sees
        from ..review.contact_sheet import to_display

        frame = to_display(pixels, None)
    try:
        proposal = propose(strokes, frame, args.prompt, duration=args.duration, steps=args.steps)
    except AnnotationError as exc:
        raise CommandError(str(exc)) from exc
    out = Path(args.out)
    paths = [write_png(out / f"{frame_path.stem}_kf{kf.index:03d}.png", kf.image)
             for kf in proposal.keyframes]
    data = proposal.to_json(keyframe_paths=[str(p.resolve()) for p in paths])
    # The strokes in force, ready to be saved with the take (PublishSpec.strokes).
    from ..review.scores import write_json_atomic

    strokes_path = out / f"{frame_path.stem}_strokes.json"
    write_json_atomic(strokes_path, data["strokes"])
    data["strokes_file"] = str(strokes_path.resolve())
    # What `genplate submit` takes: one --keyframe INDEX=IMAGE per proposed keyframe.
    data["keyframe_args"] = [f"{kf['index']}={kf['path']}" for kf in data["keyframes"]]
    emit(args, data, lambda: "\n".join(
        [f"prompt: {proposal.prompt}"] + [f"keyframe {k['index']:3d}: {k['path']}  ({k['note']})"
                                          for k in data["keyframes"]]))
    return 0


# -- budget ----------------------------------------------------------------------------------

def cmd_budget(args: argparse.Namespace) -> int:
    from ..jobs import budget

    ledger = open_ledger()
    if args.cap is not None or args.clear:
        if args.project is None:
            raise CommandError("--cap/--clear need --project P (use --project '' for jobs "
                               "without a project)")
        try:
            budget.set_cap(args.project, None if args.clear else args.cap, ledger.path.parent)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
    rows = [b.to_json() for b in budget.status(ledger, args.project)]
    emit(args, {"projects": rows, "caps_file": str(budget.caps_path(ledger.path.parent))},
         lambda: _describe_budget(rows))
    return 0


def _describe_budget(rows: list[dict]) -> str:
    if not rows:
        return "no projects and no caps yet (set one: genplate budget --project P --cap 25)"
    lines = [f"{'project':20} {'cap':>9} {'spent':>9} {'committed':>10} {'left':>9}"]
    def usd(value) -> str:
        return "-" if value is None else f"${value:.2f}"

    for r in rows:
        lines.append(f"{(r['project'] or '(none)'):20} {usd(r['cap_usd']):>9} "
                     f"{usd(r['spent_usd']):>9} {usd(r['committed_usd']):>10} "
                     f"{usd(r['remaining_usd']):>9}")
    return "\n".join(lines)


__all__ = ["register"]
