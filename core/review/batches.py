"""Draft batches as records that outlive the process running them.

A batch is written down before its first draft is sent (``record``): what was asked, where it
publishes, how many, the seeds, the retry allowance, and which process runs it. With the
ledger (where each draft's job stands) and the batch JSON written last beside the contact sheet
(finished or not), that is enough to list batches (``genplate batches``), show one, and finish
one an interrupted ``genplate drafts`` left (``finish``: the remaining jobs, the judging, the
ranking and the sheet, never a second generation for a draft already paid for).

A batch recorded before these files existed is rebuilt from its jobs in the ledger
(``from_ledger``), with no retries allowed: an old batch is finished, never spent on again.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Callable, Optional

from ..atomic import write_json_atomically
from ..jobs import ledger as L
from ..owner import pid_alive
from ..request import ShotRequest
from ..takes.record import PublishSpec
from .drafts import DraftBatch, DraftsError, run_batch, sheet_path

BATCHES_DIR = "batches"
DONE, RUNNING, INTERRUPTED = "done", "running", "interrupted"
_DRAFT_SUFFIX = re.compile(r"_d\d{2,3}$")


def folder(ledger: L.Ledger) -> Path:
    return ledger.path.parent / BATCHES_DIR


def spec_path(ledger: L.Ledger, batch_id: str) -> Path:
    return folder(ledger) / f"{batch_id}.json"


def record(ledger: L.Ledger, batch_id: str, request: ShotRequest, publish: PublishSpec,
           backend: str, count: int, *, seed: int, project: str, limit: int, retries: int,
           pid: Optional[int] = None) -> Path:
    """Write the batch down (atomically): what `genplate batches` and `resume` read."""
    path = spec_path(ledger, batch_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, {
        "batch_id": batch_id, "request": request.to_json(), "publish": publish.to_json(),
        "backend": backend, "count": count, "seed": seed, "project": project, "limit": limit,
        "retries": retries, "created_at": time.time(), "pid": pid or os.getpid()})
    return path


def claim(ledger: L.Ledger, spec: dict, pid: Optional[int] = None) -> dict:
    """Name the process now running the batch (a detached worker, a resume)."""
    spec = dict(spec, pid=pid or os.getpid())
    write_json_atomically(spec_path(ledger, spec["batch_id"]), spec)
    return spec


def read(ledger: L.Ledger, batch_id: str) -> dict:
    """The batch's record, from its file or else rebuilt from its jobs."""
    path = spec_path(ledger, batch_id)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        spec = from_ledger(ledger, batch_id)
        if spec is None:
            raise DraftsError(f"no batch {batch_id!r} (`genplate batches` lists them)") from None
        return spec
    except ValueError as exc:
        raise DraftsError(f"{path} is not readable JSON: {exc}") from exc


def from_ledger(ledger: L.Ledger, batch_id: str) -> Optional[dict]:
    jobs = [j for j in ledger.jobs(batch_id=batch_id) if j.parent_id is None]
    if not jobs:
        return None
    jobs.sort(key=lambda j: str(j.publish.get("name")))
    first = jobs[0]
    publish = dict(first.publish, name=_DRAFT_SUFFIX.sub("", str(first.publish.get("name"))))
    return {"batch_id": batch_id, "request": first.request, "publish": publish,
            "backend": first.backend, "count": len(jobs),
            "seed": int(first.request.get("seed") or 1), "project": first.project,
            "limit": 2, "retries": 0, "created_at": min(j.created_at for j in jobs), "pid": None}


def all_ids(ledger: L.Ledger) -> list[str]:
    """Every batch: those written down, and those only the ledger knows."""
    ids = {p.stem for p in folder(ledger).glob("b*.json")}
    ids.update(j.batch_id for j in ledger.jobs() if j.batch_id)
    return sorted(ids)


def is_running(spec: dict) -> bool:
    pid = spec.get("pid")
    return bool(pid) and pid != os.getpid() and pid_alive(int(pid))


def status(ledger: L.Ledger, spec: dict) -> dict:
    """Where a batch stands, for `genplate batches` and the panels (one JSON object)."""
    publish = PublishSpec.from_json(spec["publish"])
    batch_id = spec["batch_id"]
    sheet = sheet_path(publish, batch_id)
    result: Optional[dict] = None
    try:
        result = json.loads(sheet.with_suffix(".json").read_text())
    except (OSError, ValueError):
        pass
    jobs = ledger.jobs(batch_id=batch_id)
    states: dict[str, int] = {}
    for job in jobs:
        states[job.state] = states.get(job.state, 0) + 1
    state = DONE if result is not None else RUNNING if is_running(spec) else INTERRUPTED
    drafts = (result or {}).get("drafts") or [
        {"name": j.publish.get("name"), "job_id": j.id, "state": j.state,
         "take_dir": j.take_dir, "rank": None, "verdict": None, "score": None}
        for j in sorted(jobs, key=lambda j: (str(j.publish.get("name")), j.created_at))]
    log = folder(ledger) / f"{batch_id}.log"
    return {
        "batch": batch_id, "state": state, "prompt": spec["request"].get("prompt", ""),
        "shot": publish.shot, "name": publish.name, "root": publish.root,
        "backend": spec["backend"], "count": spec["count"], "created_at": spec.get("created_at"),
        "jobs": states, "drafts": drafts,
        "spent_usd": round(sum(j.spent_usd for j in jobs), 4),
        "estimate_usd": round(sum(j.estimate_usd for j in jobs if j.parent_id is None), 4),
        "contact_sheet": str(sheet), "batch_json": str(sheet.with_suffix(".json")),
        "log": str(log) if log.is_file() else None,
        "notes": list((result or {}).get("notes") or []),
    }


def unfinished(ledger: L.Ledger) -> list[dict]:
    """Batches an interrupted process left without their contact sheet, oldest first."""
    specs = []
    for batch_id in all_ids(ledger):
        try:
            spec = read(ledger, batch_id)
        except DraftsError:
            continue
        if not is_running(spec) and status(ledger, spec)["state"] == INTERRUPTED:
            specs.append(spec)
    return sorted(specs, key=lambda s: s.get("created_at") or 0)


def finish(ledger: L.Ledger, spec: dict, *, progress_for=None, runner=None, judge_config=None,
           say: Callable[[str], None] = lambda message: None) -> DraftBatch:
    """Run what is left of a batch: its unfinished jobs, then judging, ranking and the sheet.

    Every draft keeps the job already recorded for it (no second generation); judged retries
    already made count against the allowance again.
    """
    if is_running(spec):
        raise DraftsError(f"batch {spec['batch_id']} is being run by process {spec['pid']}")
    spec = claim(ledger, spec)
    return run_batch(ledger, ShotRequest.from_json(spec["request"]),
                     PublishSpec.from_json(spec["publish"]), spec["backend"], spec["count"],
                     seed=spec["seed"], project=spec["project"], limit=spec["limit"],
                     retries=spec["retries"], batch_id=spec["batch_id"], runner=runner,
                     judge_config=judge_config, progress_for=progress_for, say=say)


__all__ = ["record", "claim", "read", "from_ledger", "all_ids", "status", "unfinished", "finish",
           "is_running", "DONE", "RUNNING", "INTERRUPTED"]
