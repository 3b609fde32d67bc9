"""Generating from a genplate node with no event loop: ``nuke -t``, a farm, a script.

Under ``nuke -t`` there is no main-thread queue to post to, so ``generate(node)`` does the
GUI's steps (grab, submit, follow, list the takes, select the new one) in the calling thread
and waits for the take. It is reached as ``genplate.nuke.generate``.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import nuke

from genplate.panel import commands as C

from . import frames as F
from .follow import POLL_SECONDS
from .node import prepare
from .node_status import (TERMINAL, _add_names, _set_jobs, _show_jobs, apply_takes,
                          is_generate_node, set_status)


class GenerateError(RuntimeError):
    """Headless generation ended without a take (the message says why)."""


def generate(node=None, *, timeout: float = 3 * 3600.0, poll: float = POLL_SECONDS,
             progress: Optional[Callable[[dict], None]] = None) -> dict:
    """Generate from a genplate node and wait for the take (``nuke -t``, a farm, a script).

    Runs in the calling thread: grabs input frames, submits, follows the job(s), lists the
    shot's takes into the node, and selects the new one. Returns that take's summary; raises
    GenerateError if every job failed or was cancelled, or on timeout.
    """
    if node is None:
        node = nuke.thisNode()
    if node is None or not is_generate_node(node):
        raise GenerateError("genplate.nuke.generate(node) needs a genplate generate node")
    try:
        requests = prepare(node)
    except (ValueError, F.FrameGrabError) as exc:
        set_status(node, "not sent", error=str(exc))
        raise GenerateError(str(exc)) from exc
    set_status(node, f"sending {len(requests)} request(s)…", progress=0.0, error="")
    job_ids = []
    for fields in requests:
        try:
            job = C.run_json(C.submit_args(fields)).get("job") or {}
        except C.CommandFailed as exc:
            set_status(node, "not sent", error=str(exc))
            raise GenerateError(str(exc)) from exc
        job_ids.append(job["id"])
        _add_names(node, [str(job.get("name") or "")] if job.get("name") else [])
    _set_jobs(node, job_ids)
    deadline = time.monotonic() + timeout
    finals: dict[str, dict] = {}
    while len(finals) < len(job_ids):
        jobs = []
        for job_id in job_ids:
            if job_id in finals:
                jobs.append(finals[job_id])
                continue
            job = C.run_json(C.job_args(job_id)).get("job") or {"id": job_id}
            jobs.append(job)
            if job.get("state") in TERMINAL:
                finals[job_id] = job
        _show_jobs(node, jobs)
        if progress is not None:
            progress({"jobs": jobs})
        if len(finals) == len(job_ids):
            break
        if time.monotonic() > deadline:
            raise GenerateError(f"no take after {timeout:.0f} s; the job(s) go on: "
                                f"{', '.join(job_ids)} (`genplate jobs`)")
        time.sleep(poll)
    ready = [j for j in finals.values() if j.get("state") == "ready" and j.get("take_dir")]
    if not ready:
        errors = "; ".join(str(j.get("error") or j.get("state")) for j in finals.values())
        raise GenerateError(f"no take: {errors}")
    fields = requests[0]
    takes = C.run_json(C.takes_args(fields.root, fields.shot)).get("takes") or []
    apply_takes(node, takes, select_dir=ready[-1]["take_dir"])
    chosen = next((t for t in takes if t.get("dir") == ready[-1]["take_dir"]), None)
    if chosen is None:
        raise GenerateError(f"the job published {ready[-1]['take_dir']} but `genplate takes` "
                            f"does not list it under {fields.root or '$GENPLATE_ROOT'}")
    return chosen


__all__ = ["generate", "GenerateError"]
