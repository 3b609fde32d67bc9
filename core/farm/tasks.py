"""What a farm task runs: each of the template's steps, on whichever worker the farm chose.

The job state of a bundle's shots lives on the shared root beside their takes, in
``<root>/.genplate/`` (the ledger, the downloads, the offline renderer's store), never in a
worker's home folder: a task that the farm runs again, or moves to another worker, finds there
the job its first run recorded and follows it. The one step that is never repeated, the create,
stays guarded by the ledger itself (``claim_create``: exactly one create per job).

- ``generate``: the job of one generation (a shot, or one draft slot of a shot's batch), found
  by the shot's key or recorded under it, then run to a published take by the job runner.
- ``judge``: a shot's draft batch (``review.drafts.run_batch``, picked up by the same key):
  judged, broken drafts replaced within the allowance, ranked, a contact sheet.
- ``publish``: every shot's chosen take on one OTIO timeline, with a manifest beside it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Optional

from ..atomic import write_json_atomically
from ..jobs import ledger as L
from ..jobs.budget import admitted, price
from ..jobs.runner import JobRunner, submit
from ..progress import ProgressFn, no_progress
from ..request import ShotRequest
from ..takes.record import PublishSpec
from .plan import FarmPlan, PlanError, PlannedShot

FARM_DIR = ".genplate"
LEDGER_FILE = "ledger.sqlite3"
Say = Callable[[str], None]


def farm_data_dir(root: str | Path) -> Path:
    return Path(root) / FARM_DIR


def open_ledger(root: str | Path) -> L.Ledger:
    """The shared root's ledger. Made with a rollback journal: SQLite's WAL index lives in
    shared memory, which workers on different hosts do not share (see Ledger)."""
    return L.Ledger(farm_data_dir(root) / LEDGER_FILE, journal_mode="DELETE")


# -- finding a shot's jobs -------------------------------------------------------------------------

def first_job(ledger: L.Ledger, key: str, name: str) -> Optional[L.Job]:
    """The job first recorded for ``name`` under the shot's key (not a retry of it)."""
    jobs = [j for j in ledger.jobs(batch_id=key)
            if j.parent_id is None and j.publish.get("name") == name]
    return min(jobs, key=lambda j: j.created_at) if jobs else None


def chain_end(ledger: L.Ledger, job: L.Job) -> L.Job:
    """The job that stands for ``job`` now: its retry (a generation the service failed, or a
    draft judged broken), the retry's retry, and so on."""
    seen = {job.id}
    while True:
        children = [j for j in ledger.jobs(batch_id=job.batch_id)
                    if j.parent_id == job.id and j.id not in seen]
        if not children:
            return job
        job = min(children, key=lambda j: j.created_at)
        seen.add(job.id)


def record(ledger: L.Ledger, plan: FarmPlan, planned: PlannedShot, request: ShotRequest,
           publish: PublishSpec, draft: int) -> L.Job:
    """The job of one draft slot: found under the shot's key, or recorded now.

    One ledger transaction holds the look-up and the recording, so two tasks of one shot
    starting together (on two workers) record its jobs once. A shot's drafts are recorded
    together, priced as one batch against the project's cap, as ``genplate drafts`` does.
    """
    from ..review.drafts import submit_batch

    with ledger.transaction():
        if planned.is_batch:
            _, outcomes, _ = submit_batch(ledger, request, publish, plan.backend, planned.drafts,
                                          seed=_first_seed(planned), project=plan.project,
                                          batch_id=planned.key)
            return ledger.get(outcomes[draft - 1].job_id)
        job = first_job(ledger, planned.key, publish.name)
        if job is None:
            with admitted(ledger, plan.project, [price(request, plan.backend)]):
                job = submit(ledger, request, publish, plan.backend, project=plan.project,
                             batch_id=planned.key)
    return chain_end(ledger, job)


def _first_seed(planned: PlannedShot) -> int:
    return planned.seed if planned.seed is not None else 1  # as `genplate drafts`


# -- the steps -------------------------------------------------------------------------------------

def generate(ledger: L.Ledger, plan: FarmPlan, task: str, draft: int, root: str,
             folders: dict[str, str], *, progress: ProgressFn = no_progress,
             say: Say = lambda m: None) -> L.Job:
    """Generate step: one generation followed to its published take (or its final failure)."""
    planned = plan.shot(task)
    if not 1 <= draft <= planned.drafts:
        raise PlanError(f"{task} has {planned.drafts} draft(s); there is no draft {draft}")
    request, publish = plan.resolve(planned, root, folders)
    job = record(ledger, plan, planned, request, publish, draft)
    label = task if not planned.is_batch else f"{task} draft {draft}"
    if job.terminal:
        say(f"{label}: job {job.id} is already {job.state}")
    elif job.remote_id or job.create_intent_at:
        say(f"{label}: following job {job.id} ({job.state}, created by an earlier run)")
    else:
        say(f"{label}: job {job.id}: {request.describe()} on {plan.backend}")
    job = JobRunner(ledger).run(job.id, progress=progress)
    return chain_end(ledger, job)


def judge(ledger: L.Ledger, plan: FarmPlan, task: str, root: str, folders: dict[str, str], *,
          progress_for: Optional[Callable[[str], ProgressFn]] = None, limit: int = 2,
          say: Say = lambda m: None):
    """JudgeDrafts step: the shot's draft batch, picked up by its key, judged and ranked."""
    from ..review.drafts import run_batch, submit_batch

    planned = plan.shot(task)
    if not planned.is_batch:
        raise PlanError(f"{task} is a single take ({planned.drafts} draft); nothing to judge")
    request, publish = plan.resolve(planned, root, folders)
    with ledger.transaction():  # recorded once even if the Generate step never ran
        submit_batch(ledger, request, publish, plan.backend, planned.drafts,
                     seed=_first_seed(planned), project=plan.project, batch_id=planned.key)
    return run_batch(ledger, request, publish, plan.backend, planned.drafts,
                     seed=_first_seed(planned), project=plan.project, limit=limit,
                     retries=plan.retries, batch_id=planned.key, progress_for=progress_for,
                     say=say)


def chosen_take(ledger: L.Ledger, plan: FarmPlan, planned: PlannedShot, root: str) -> dict:
    """Which take stands for a shot: its one take, or its batch's first-ranked draft."""
    from ..review.drafts import sheet_path

    entry = {"task": planned.task, "shot": planned.shot, "name": planned.name,
             "drafts": planned.drafts, "key": planned.key, "take_dir": None, "state": None}
    if planned.is_batch:
        spec = PublishSpec.from_json({**planned.publish, "root": root})
        sheet = sheet_path(spec, planned.key)
        try:
            batch = json.loads(sheet.with_suffix(".json").read_text())
        except (OSError, ValueError):
            entry["error"] = "its drafts have not been judged (the JudgeDrafts step)"
            return entry
        first = next((d for d in batch.get("drafts", []) if d.get("take_dir")), None)
        entry.update(contact_sheet=str(sheet), state="ready" if first else "failed")
        if first is None:
            entry["error"] = "none of its drafts was published"
            return entry
        entry.update(take_dir=first["take_dir"], job_id=first.get("job_id"),
                     verdict=first.get("verdict"), rank=first.get("rank"))
        return entry
    job = first_job(ledger, planned.key, planned.name)
    if job is None:
        entry["error"] = "not generated yet (the Generate step)"
        return entry
    job = chain_end(ledger, job)
    entry.update(state=job.state, job_id=job.id)
    if job.state != L.READY:
        entry["error"] = job.error or f"job {job.id} is {job.state}"
        return entry
    entry["take_dir"] = job.take_dir
    return entry


def publish(ledger: L.Ledger, plan: FarmPlan, root: str) -> dict:
    """Publish step: the sequence's timeline of chosen takes, and its manifest, at the root."""
    from ..takes.export_otio import write_otio
    from ..takes.take import take_from_dir

    entries = [chosen_take(ledger, plan, planned, root) for planned in plan.shots]
    takes = []
    for entry in entries:
        if entry["take_dir"]:
            take = take_from_dir(Path(entry["take_dir"]))
            entry["version"] = take.version
            takes.append(take)
    base = Path(root)
    timeline = None
    if takes:
        timeline = write_otio(takes, base / f"{plan.sequence}.otio", name=plan.sequence)
    missing = [e for e in entries if not e["take_dir"]]
    manifest = {
        "schema": "genplate.sequence/1", "sequence": plan.sequence, "bundle": plan.bundle,
        "backend": plan.backend, "published_at": time.time(),
        "timeline": str(timeline) if timeline else None,
        "shots": entries, "missing": [e["task"] for e in missing],
    }
    write_json_atomically(base / f"{plan.sequence}.json", manifest)
    manifest["manifest"] = str(base / f"{plan.sequence}.json")
    return manifest


def status(ledger: Optional[L.Ledger], plan: FarmPlan) -> list[dict]:
    """Each generation of the bundle and where its job stands (None: no ledger on the root)."""
    rows = []
    for task, slot in plan.generate_tasks():
        planned = plan.shot(task)
        name = planned.name
        if planned.is_batch:
            from ..review.drafts import draft_names

            name = draft_names(planned.name, planned.drafts)[slot - 1]
        row = {"task": task, "draft": slot, "name": name, "job": None, "state": "not started"}
        job = first_job(ledger, planned.key, name) if ledger is not None else None
        if job is not None:
            jobs = [job.id]
            end = chain_end(ledger, job)
            if end.id != job.id:
                jobs.append(end.id)
            row.update(job=end.id, jobs=jobs, state=end.state, remote_id=end.remote_id,
                       take_dir=end.take_dir, error=end.error)
        rows.append(row)
    return rows


__all__ = ["open_ledger", "farm_data_dir", "first_job", "chain_end", "record", "generate",
           "judge", "publish", "status", "chosen_take", "FARM_DIR"]
