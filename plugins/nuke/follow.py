"""Following a generate node's jobs off Nuke's main thread.

Threads: a button runs on the main thread, grabs frames there (nuke.execute must), then hands
the engine calls to a worker thread; the worker touches no node, and every change it causes
is queued to the main thread with nuke.executeInMainThread, by node name (a node may be
deleted meanwhile). That rule is the whole of this module: the worker (_Follower) and the
posting back (_post, _on_node) live together so nothing else has to remember it.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

import nuke

from genplate.panel import commands as C

from .node_status import (TERMINAL, _jobs_submitted, _show_jobs, _takes_listed, is_generate_node,
                          set_status)

POLL_SECONDS = 2.0


# -- back to the main thread -----------------------------------------------------------------

def _node(name: str):
    node = nuke.toNode(name)
    return node if node is not None and is_generate_node(node) else None


def _post(fn: Callable[..., None], *args: Any) -> None:
    """Run fn(*args) on the main thread: now if we are on it, else queued."""
    if threading.current_thread() is threading.main_thread():
        fn(*args)
    else:
        nuke.executeInMainThread(fn, args)


def _on_node(name: str, fn: Callable[..., None], *args: Any) -> None:
    node = _node(name)
    if node is not None:
        try:
            fn(node, *args)
        except Exception as exc:  # shown on the node, never raised into Nuke's event loop
            try:
                set_status(node, "error", error=str(exc))
            except Exception:
                pass


# -- the worker ------------------------------------------------------------------------------

class _Follower:
    """Engine calls for one node, off the main thread; results posted back by node name."""

    @classmethod
    def _spawn(cls, name: str, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"genplate-{name}", daemon=True)
        thread.start()
        return thread

    @classmethod
    def start_submit(cls, name: str, requests: list[C.RequestFields],
                     where: tuple[str, str]) -> threading.Thread:
        def work() -> None:
            job_ids, names, errors = [], [], []
            for fields in requests:
                try:
                    job = C.run_json(C.submit_args(fields)).get("job") or {}
                    if job.get("id"):
                        job_ids.append(job["id"])
                        names.append(str(job.get("name") or ""))
                except C.CommandFailed as exc:
                    errors.append(str(exc))
            _post(_on_node, name, _jobs_submitted, job_ids, errors, names)
            if job_ids:
                cls._follow(name, job_ids, where)
        return cls._spawn(name, work)

    @classmethod
    def start_refresh(cls, name: str, job_ids: list[str],
                      where: tuple[str, str]) -> threading.Thread:
        def work() -> None:
            if job_ids:
                cls._follow(name, job_ids, where)
            else:
                cls._refresh_takes(name, where, None)
        return cls._spawn(name, work)

    @classmethod
    def start_cancel(cls, name: str, job_ids: list[str]) -> threading.Thread:
        def work() -> None:
            errors = []
            for job_id in job_ids:
                try:
                    C.run_json(C.cancel_args(job_id))
                except C.CommandFailed as exc:
                    errors.append(str(exc))
            if errors:
                _post(_on_node, name, lambda n: set_status(n, "cancel failed", error=errors[0]))
        return cls._spawn(name, work)

    @classmethod
    def start_promote(cls, name: str, take: dict, where: tuple[str, str]) -> threading.Thread:
        def work() -> None:
            if not has_command("promote"):
                _post(_on_node, name, lambda n: set_status(
                    n, "not sent", error="this engine has no `genplate promote` command yet"))
                return
            try:
                job = C.run_json(C.promote_args(str(take["dir"]), where[0])).get("job") or {}
            except C.CommandFailed as exc:
                message = str(exc)
                _post(_on_node, name, lambda n: set_status(n, "promote failed", error=message))
                return
            if job.get("id"):
                _post(_on_node, name, _jobs_submitted, [job["id"]], [],
                      [str(job.get("name") or "")])
                cls._follow(name, [job["id"]], where)
        return cls._spawn(name, work)

    @classmethod
    def _follow(cls, name: str, job_ids: list[str], where: tuple[str, str], *,
                poll: Optional[float] = None) -> None:
        poll = POLL_SECONDS if poll is None else poll
        pending = list(job_ids)
        ready_dirs: list[str] = []
        while pending:
            jobs = []
            for job_id in pending:
                try:
                    jobs.append(C.run_json(C.job_args(job_id)).get("job") or {"id": job_id})
                except C.CommandFailed as exc:
                    jobs.append({"id": job_id, "state": "unknown", "error": str(exc)})
            _post(_on_node, name, _show_jobs, jobs)
            for job in jobs:
                if job.get("state") in TERMINAL:
                    pending.remove(job["id"])
                    if job.get("state") == "ready" and job.get("take_dir"):
                        ready_dirs.append(job["take_dir"])
            if pending:
                time.sleep(poll)
        cls._refresh_takes(name, where, ready_dirs[-1] if ready_dirs else None)

    @classmethod
    def _refresh_takes(cls, name: str, where: tuple[str, str], select_dir: Optional[str]) -> None:
        root, shot = where
        try:
            takes = C.run_json(C.takes_args(root, shot)).get("takes") or []
        except C.CommandFailed as exc:
            message = str(exc)
            _post(_on_node, name, lambda n: set_status(n, "takes unavailable", error=message))
            return
        _post(_on_node, name, _takes_listed, takes, select_dir)


_HAS: dict[str, bool] = {}


def has_command(name: str) -> bool:
    if name not in _HAS:
        import subprocess

        from genplate.panel.engine_config import engine_command, engine_environment

        try:
            prefix, source = engine_command()
            done = subprocess.run(prefix + [name, "--help"], capture_output=True, timeout=60,
                                  env=engine_environment(source=source), stdin=subprocess.DEVNULL)
            _HAS[name] = done.returncode == 0
        except Exception:
            return False
    return _HAS[name]


__all__ = ["POLL_SECONDS", "has_command"]
