"""`genplate farm`: a shot list as an Open Job Description job bundle, and the tasks it runs.

- ``genplate farm bundle SHOTLIST --out DIR``: every row checked and priced (the request
  options on the command line are every shot's defaults; a row's columns override them), then
  ``DIR/template.yaml``, ``DIR/parameter_values.yaml`` and ``DIR/job_params.json`` are written.
- ``genplate farm generate | judge | publish``: the template's steps, as a worker runs them
  (the farm passes the embedded plan, the path-mapped takes root and input folders).
- ``genplate farm status DIR``: where each of a bundle's generations stands on its root.

A task reports to the farm with OpenJD's stdout messages (``openjd_progress``,
``openjd_status``, ``openjd_fail``), written to stderr so that ``--json`` keeps stdout to one
object; OpenJD reads both.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from ..jobs import ledger as L
from ..request import RequestError
from .generate import backend_name
from .options import DEFAULT_SHOT, add_publish_options, add_request_options, publish_from, request_from, root_from
from .output import CommandError, emit, say

# Where a shot list column lands among the request options (the rest share their name).
_ARG_FOR = {"aspect": "aspect", "start_frame": "start_frame", "end_frame": "end_frame"}
_PLAIN = ("prompt", "shot", "name", "duration", "resolution", "hdr", "exr", "loop", "seed",
          "first_frame")
# A refused request field, and the column a row would set it in.
_COLUMN_FOR = {"prompt": "prompt", "aspect_ratio": "aspect", "resolution": "resolution",
               "duration": "duration", "seed": "seed", "hdr": "hdr", "--hdr": "hdr",
               "exr_export": "exr", "--exr": "exr", "loop": "loop", "keyframes": "keyframes",
               "keyframes.index": "keyframes", "--keyframe": "keyframes",
               "start_frame": "start_frame", "end_frame": "end_frame"}
# A generation runs in three stages; the farm's progress bar gives each a share.
_BANDS = {"generating": (0.0, 60.0), "downloading": (60.0, 70.0), "ingesting": (70.0, 100.0)}


def register(command) -> None:
    farm = command("farm", _no_subcommand,
                   "shot lists on a render farm: an Open Job Description bundle and its tasks",
                   json_flag=False)
    sub = farm.add_subparsers(dest="farm_command", required=True, metavar="STEP",
                              help="bundle (for the artist), status, or a farm task's step")

    def step(name: str, handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.set_defaults(handler=handler)
        return p

    p = step("bundle", cmd_bundle, "write an OpenJD job bundle (template.yaml, "
                                   "parameter_values.yaml, job_params.json) for a shot list")
    p.add_argument("shotlist", help="a CSV (shot,prompt,...), a JSON list, or an OTIO timeline "
                                    "whose markers or named gaps are the shots")
    p.add_argument("--out", required=True, help="the bundle's folder (new or empty)")
    p.add_argument("--force", action="store_true", help="replace a bundle already in --out")
    add_request_options(p, prompt=False)
    add_publish_options(p)
    farm_opts = p.add_argument_group("farm")
    farm_opts.add_argument("--backend", choices=("offline", "luma"),
                           help="default: luma when an API key is set here, else offline")
    farm_opts.add_argument("--drafts", type=int, default=1, metavar="N",
                           help="drafts per shot where the list does not say (default 1: one "
                                "take; 2 or more: a judged batch on a contact sheet)")
    farm_opts.add_argument("--retries", type=int, default=2,
                           help="per batch: new drafts allowed in place of broken ones (paid)")
    farm_opts.add_argument("--project", default="", help="project the spending counts against")
    farm_opts.add_argument("--cap", type=float, metavar="USD",
                           help="set the project's spending cap on the takes root's ledger "
                                "(what the farm's jobs are checked against)")
    farm_opts.add_argument("--sequence", help="the sequence's name: its timeline and manifest "
                                              "at the root (default: the shot list's name)")
    farm_opts.add_argument("--command", default="genplate",
                           help="the genplate command on the workers (default: genplate on PATH)")

    for name, handler, help in (
            ("generate", cmd_generate, "[farm task] one generation of a bundle, to its take"),
            ("judge", cmd_judge, "[farm task] one shot's drafts judged, ranked, on a sheet"),
            ("publish", cmd_publish, "[farm task] the sequence's timeline and manifest")):
        p = step(name, handler, help)
        p.add_argument("--plan", required=True, help="the plan the template embeds")
        p.add_argument("--root", required=True, help="the takes root, as this worker sees it")
        p.add_argument("--inputs", help="the input folders, as this worker sees them")
        if name != "publish":
            p.add_argument("--shot", required=True, help="the shot's task name (SHOT/NAME)")
        if name == "generate":
            p.add_argument("--draft", type=int, default=1, help="the draft slot (from 1)")

    p = step("status", cmd_status, "where each generation of a bundle stands on its root")
    p.add_argument("bundle", help="the bundle's folder")
    p.add_argument("--root", help="the takes root (default: the bundle's TakesRoot)")


def _no_subcommand(args: argparse.Namespace) -> int:
    raise CommandError("genplate farm: name a step (bundle, generate, judge, publish, status)")


# -- bundle ----------------------------------------------------------------------------------------

def cmd_bundle(args: argparse.Namespace) -> int:
    from ..farm.bundle import STEP_PUBLISH, parameter_values, write_bundle
    from ..farm.plan import PlanError
    from ..farm.rows import ShotListError
    from ..farm.shotlist import read_shot_list

    if args.shot != DEFAULT_SHOT or args.name:
        raise CommandError("--shot/--name: every shot list row names its own shot (and take)")
    for option in ("extend_from", "source"):
        if getattr(args, option):
            raise CommandError(f"--{option.replace('_', '-')}: belongs to one shot, not to a "
                               f"whole shot list; generate such a shot on its own")
    if not 1 <= args.drafts <= 64:
        raise CommandError(f"--drafts {args.drafts}: 1 to 64")
    try:
        rows = read_shot_list(args.shotlist)
        backend = backend_name(args)
        plan, folders = _plan(args, rows, backend)
        root = root_from(args)
        _check_budget(args, plan, root)
        files = write_bundle(args.out, plan, parameter_values(root, folders, args.command),
                             force=args.force)
        # Made here, where the artist chose it: a worker that does not find it has a path
        # mapping to fix, and must not publish into a folder of its own.
        os.makedirs(root, exist_ok=True)
    except (ShotListError, PlanError) as exc:
        raise CommandError(str(exc)) from exc
    template, values = files["template.yaml"], files["job_params.json"]
    generations = len(plan.generate_tasks())
    payload = {
        "bundle": plan.bundle, "dir": str(template.parent), "backend": backend,
        "root": root, "sequence": plan.sequence, "shots": len(plan.shots),
        "generations": generations, "estimate_usd": plan.estimate_usd(),
        "files": {name: str(path) for name, path in files.items()},
        "run": f"openjd run {template} --job-param file://{values} --step {STEP_PUBLISH} "
               f"--run-dependencies",
        "submit": f"deadline bundle submit {template.parent}",
    }
    say(f"genplate: bundle {plan.bundle}: {len(plan.shots)} shot(s), {generations} "
        f"generation(s) on {backend}, est. ${plan.estimate_usd():.2f}; takes in {root}")
    emit(args, payload, lambda: f"wrote {template.parent}\n  run here:  {payload['run']}\n"
                                f"  or submit: {payload['submit']}")
    return 0


def _plan(args: argparse.Namespace, rows, backend: str):
    from ..farm.plan import FarmPlan, InputCollector, PlannedShot, new_bundle_id, shot_key, task_name
    from ..farm.rows import ShotListError
    from ..jobs.budget import price
    from ..review.drafts import draft_names
    from ..takes.layout import TakeError, validate_name

    sequence = args.sequence or Path(args.shotlist).stem
    try:
        validate_name("sequence", sequence)
    except TakeError as exc:
        raise CommandError(f"--sequence: {exc}") from None
    bundle = new_bundle_id()
    inputs = InputCollector()
    problems: list[str] = []
    shots: list[PlannedShot] = []
    names: dict[tuple[str, str], str] = {}
    for row in rows:
        try:
            request, publish = _row_request(args, row)
            drafts = row.values.get("drafts", args.drafts)
            validate_name("shot", publish.shot)
            for name in ([publish.name] if drafts == 1 else draft_names(publish.name, drafts)):
                validate_name("take", name)
                if (publish.shot, name) in names:
                    raise _RowError(row.problem("name" if "name" in row.values else None,
                                                f"{publish.shot}/{name} is already made by "
                                                f"{names[(publish.shot, name)]}; give the row "
                                                f"its own take name"))
                names[(publish.shot, name)] = row.where
        except _RowError as exc:
            problems.append(str(exc))
            continue
        except TakeError as exc:
            column = "shot" if str(exc).startswith("shot") else "name"
            problems.append(row.problem(column if column in row.values else None, str(exc)))
            continue
        shots.append(PlannedShot(
            task=task_name(publish.shot, publish.name), shot=publish.shot, name=publish.name,
            key=shot_key(bundle, publish.shot, publish.name), drafts=drafts,
            seed=request.seed, request=inputs.request_json(request),
            publish=inputs.publish_json(publish), estimate_usd=price(request, backend),
            where=row.where))
    if problems:
        raise ShotListError(problems)
    plan = FarmPlan(bundle=bundle, backend=backend, sequence=sequence, project=args.project,
                    retries=max(0, args.retries), shots=shots,
                    folders=list(inputs.folders.values()), files=list(inputs.files.values()))
    return plan, {param: folder for folder, param in inputs.folders.items()}


class _RowError(Exception):
    pass


def _row_request(args: argparse.Namespace, row):
    """The row's request and publish spec: the command line's options, the row's columns over
    them, built exactly as `genplate generate` builds its own."""
    ns = argparse.Namespace(**vars(args))
    values = row.values
    for column in _PLAIN:
        if column in values:
            setattr(ns, column, values[column])
    for column, arg in _ARG_FOR.items():
        if column in values:
            setattr(ns, arg, values[column])
    if "keyframes" in values:
        ns.keyframe = [f"{index}={path}" for index, path in values["keyframes"]]
    if values.get("quality"):
        ns.draft, ns.master = values["quality"] == "draft", values["quality"] == "master"
    elif "resolution" in values or "hdr" in values:
        # A row that says its resolution or HDR means it, over a --draft or --master default.
        ns.draft = False
        if values.get("hdr") is False:
            ns.master = False
    try:
        request = request_from(ns)
        request.validate()
    except RequestError as exc:
        field = exc.field.split(":")[0] if exc.field.startswith("keyframe:") else exc.field
        column = _COLUMN_FOR.get(field, "keyframes" if field == "keyframe" else None)
        where = column if column in values else None
        option = "keyframe" if column == "keyframes" else (column or "").replace("_", "-")
        hint = "" if where or not column else f" (from the command line's --{option})"
        raise _RowError(row.problem(where, f"{exc}{hint}")) from None
    return request, publish_from(ns, request)


def _check_budget(args: argparse.Namespace, plan, root: str) -> None:
    """Price the whole bundle against the project's cap on the root's ledger, before writing."""
    from ..farm.tasks import farm_data_dir, open_ledger
    from ..jobs.budget import caps_path, check, set_cap

    data = farm_data_dir(root)
    if args.cap is not None:
        set_cap(args.project, args.cap, data_dir=data)
    if not caps_path(data).is_file():
        return
    estimates = [s.estimate_usd for s in plan.shots for _ in range(s.drafts)]
    check(open_ledger(root), args.project, estimates)


# -- the tasks -------------------------------------------------------------------------------------

class _FarmProgress:
    """A generation's progress as OpenJD stdout messages (a few a second at most)."""

    def __init__(self, label: str) -> None:
        self.label, self._stage, self._last = label, None, 0.0

    def __call__(self, done: float, total: float, message: str) -> None:
        stage = message.split(":", 1)[0].strip()
        now = time.monotonic()
        if stage == self._stage and now - self._last < 1.0 and not (total and done >= total):
            return
        low, high = _BANDS.get(stage, (0.0, 100.0))
        fraction = min(1.0, max(0.0, done / total)) if total else 0.0
        if stage != self._stage:
            _farm_line(f"openjd_status: {self.label}: {stage}")
        _farm_line(f"openjd_progress: {low + (high - low) * fraction:.1f}")
        self._stage, self._last = stage, now


def _farm_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _task_setup(args: argparse.Namespace):
    """The plan, the root's ledger and the input folders; this process's data dir is the
    root's, so everything in it (the offline store, the judge's settings) is shared too."""
    from ..farm.plan import FarmPlan, PlanError, read_folders
    from ..farm.tasks import farm_data_dir, open_ledger

    root = os.path.abspath(args.root)
    if not os.path.isdir(root):
        raise CommandError(f"--root {root}: not a folder on this worker (check the path "
                           f"mapping of the job's TakesRoot)")
    try:
        plan = FarmPlan.from_json(json.loads(Path(args.plan).read_text(encoding="utf-8")))
        folders = read_folders(Path(args.inputs).read_text(encoding="utf-8")) if args.inputs else {}
    except (OSError, ValueError, PlanError) as exc:
        raise CommandError(f"the task's plan cannot be read: {exc}") from None
    os.environ[L.DATA_DIR_ENV] = str(farm_data_dir(root))
    return plan, open_ledger(root), folders, root


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _run_task(args: argparse.Namespace, body) -> int:
    from ..farm.plan import PlanError
    from ..secrets import redact

    # A farm's cancel sends SIGTERM: end like Ctrl-C, the job left resumable in the ledger.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return body()
    except KeyboardInterrupt:
        _farm_line("openjd_status: interrupted; the job stays resumable, a rerun follows it")
        return 130
    except PlanError as exc:
        _farm_line(f"openjd_fail: {redact(str(exc))}")
        raise CommandError(str(exc)) from None
    except Exception as exc:
        _farm_line(f"openjd_fail: {redact(str(exc))}")
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_generate(args: argparse.Namespace) -> int:
    from ..farm import tasks
    from .generate import job_json

    def body() -> int:
        plan, ledger, folders, root = _task_setup(args)
        label = args.shot if plan.shot(args.shot).drafts == 1 else f"{args.shot} d{args.draft}"
        job = tasks.generate(ledger, plan, args.shot, args.draft, root, folders,
                             progress=_FarmProgress(label), say=lambda m: say(f"genplate: {m}"))
        batch_draft = plan.shot(args.shot).is_batch
        ok = job.state == L.READY or (job.terminal and batch_draft)
        payload = {"task": args.shot, "draft": args.draft, "job": job_json(job)}
        if job.state == L.READY:
            _farm_line("openjd_progress: 100")
        elif ok:
            # One failed draft of a batch leaves the others to be judged: the batch ranks it last.
            _farm_line(f"openjd_status: {label}: {job.state} ({job.error}); judged with the batch")
        else:
            payload["error"] = f"job {job.id} is {job.state}: {job.error or job.message or ''}"
            _farm_line(f"openjd_fail: {label}: {payload['error']}")
        emit(args, payload, lambda: f"{label}: job {job.id} {job.state}"
             + (f": {job.take_dir}" if job.take_dir else f" ({job.error})" if job.error else ""))
        return 0 if ok else 1

    return _run_task(args, body)


def cmd_judge(args: argparse.Namespace) -> int:
    from ..farm import tasks
    from .drafts import _describe_batch

    def body() -> int:
        plan, ledger, folders, root = _task_setup(args)
        _farm_line(f"openjd_status: {args.shot}: judging its drafts")
        batch = tasks.judge(ledger, plan, args.shot, root, folders,
                            say=lambda m: say(f"genplate: {m}"))
        emit(args, batch.to_json(), lambda: _describe_batch(batch))
        if not any(d.take_dir for d in batch.drafts):
            # Not a failed task: the other shots still make the sequence, and Publish names
            # this one as missing (and fails there, where the whole sequence is seen).
            _farm_line(f"openjd_status: {args.shot}: none of its drafts was published")
        return 0

    return _run_task(args, body)


def cmd_publish(args: argparse.Namespace) -> int:
    from ..farm import tasks

    def body() -> int:
        plan, ledger, _, root = _task_setup(args)
        manifest = tasks.publish(ledger, plan, root)
        missing = [e for e in manifest["shots"] if not e["take_dir"]]
        for entry in missing:
            _farm_line(f"openjd_status: {entry['task']}: {entry.get('error')}")
        if missing:
            _farm_line(f"openjd_fail: {len(missing)} shot(s) have no take: "
                       f"{', '.join(e['task'] for e in missing)}")
        emit(args, manifest, lambda: f"published {plan.sequence}: {manifest['timeline']} "
             f"({len(manifest['shots']) - len(missing)} of {len(manifest['shots'])} shots)")
        return 1 if missing else 0

    return _run_task(args, body)


def cmd_status(args: argparse.Namespace) -> int:
    from ..farm.bundle import ROOT_PARAM, read_job_params, read_plan
    from ..farm.plan import PlanError
    from ..farm.tasks import LEDGER_FILE, farm_data_dir, open_ledger, status

    try:
        plan = read_plan(args.bundle)
        root = args.root or read_job_params(args.bundle).get(ROOT_PARAM)
        if not root:
            raise PlanError(f"{args.bundle}: no {ROOT_PARAM} in its job_params.json; give --root")
        root = os.path.abspath(root)
    except PlanError as exc:
        raise CommandError(str(exc)) from None
    exists = (farm_data_dir(root) / LEDGER_FILE).is_file()
    rows = status(open_ledger(root) if exists else None, plan)
    emit(args, {"bundle": plan.bundle, "root": root, "generations": rows},
         lambda: "\n".join(f"{r['task']:32} d{r['draft']:<3} {r['state']:11} {r['job'] or '-'}"
                           f"  {r.get('take_dir') or r.get('error') or ''}" for r in rows))
    return 0
