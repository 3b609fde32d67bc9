"""What a generate node shows and remembers, written on the main thread.

Its status line, progress and last error; the hidden knobs that keep the node's jobs, take
names and takes in the saved script (so a reopened script resumes following them); the take
selector and the Read inside the group. The worker (follow.py) and headless generation
(headless.py) both end in these functions, so they live below both, apart from the knobs and
buttons (node.py) that start the work.
"""
from __future__ import annotations

import json
from typing import Optional

import nuke

from . import read as R

# The hidden marker knob that makes a Group a genplate node: node.py adds it, the worker and
# headless generation look for it.
NODE_CLASS_TAG = "genplate_generate"
TERMINAL = ("ready", "failed", "cancelled")


def is_generate_node(node) -> bool:
    knob = node.knob(NODE_CLASS_TAG) if hasattr(node, "knob") else None
    return bool(knob is not None and knob.value())


# -- showing state on the node (main thread) -------------------------------------------------

def set_status(node, status: str, *, progress: Optional[float] = None,
               error: Optional[str] = None) -> None:
    node["status"].setValue(status)
    if progress is not None:
        node["progress"].setValue(max(0.0, min(1.0, float(progress))))
    if error is not None:
        node["last_error"].setValue(error)


def _json_list(node, name: str) -> list:
    """A hidden knob's JSON list, read raw (getText: never TCL-evaluated, hosts.md §9)."""
    try:
        data = json.loads(node[name].getText() or "[]")
    except ValueError:
        return []
    return data if isinstance(data, list) else []


def _jobs(node) -> list[str]:
    data = _json_list(node, "jobs_json")
    return [str(j) for j in data if isinstance(j, str)]


def _set_jobs(node, job_ids: list[str]) -> None:
    node["jobs_json"].setValue(json.dumps(sorted(set(job_ids))))


def _names(node) -> list[str]:
    """The take names this node's jobs publish to (its takes, among the shot's)."""
    data = _json_list(node, "take_names_json")
    return [str(n) for n in data if isinstance(n, str)]


def _add_names(node, names: list[str]) -> None:
    node["take_names_json"].setValue(json.dumps(sorted(set(_names(node)) | set(names))))


def _takes(node) -> list[dict]:
    data = _json_list(node, "takes_json")
    return [t for t in data if isinstance(t, dict)]


def _label(take: dict) -> str:
    return (f"{take.get('name')} v{int(take.get('version') or 0):03d}"
            f" ({take.get('kind') or 'take'})")


def apply_takes(node, takes: list[dict], *, select_dir: Optional[str] = None) -> None:
    """Fill the take selector (newest first) and show the chosen take (main thread).

    Only the node's own takes are offered once it has made any; before that, the shot's.
    """
    own = set(_names(node))
    if own:
        takes = [t for t in takes if t.get("name") in own]
    takes = sorted(takes, key=lambda t: (str(t.get("name")), -int(t.get("version") or 0)))
    node["takes_json"].setValue(json.dumps(takes))
    labels = [_label(t) for t in takes] or ["(none)"]
    current = str(node["take"].value())
    node["take"].setValues(labels)
    chosen = None
    if select_dir:
        chosen = next((t for t in takes if t.get("dir") == select_dir), None)
    if chosen is None and current in labels and takes:
        chosen = takes[labels.index(current)]
    if chosen is None and takes:
        chosen = takes[0]
    if chosen is not None:
        node["take"].setValue(_label(chosen))
        show_take(node, chosen)
    else:
        node["take"].setValue("(none)")


def show_take(node, take: dict) -> None:
    """Point the group's Read at the take and route it to the output (one undo step)."""
    read = node.node("take_read")
    output = node.node("Output1")
    if read is None or output is None:
        raise R.ReadError(f"{node.name()} lost its inner take_read/Output1 nodes; "
                          f"create a new genplate node")
    plan = R.read_plan(take)
    colorspace = R.choose_colorspace(nuke.getColorspaceList(read["colorspace"]),
                                     str(take.get("colorspace") or ""),
                                     config_name=R.live_config_name())
    nuke.Undo.begin(f"genplate: show {_label(take)}")
    try:
        R.apply_plan(read, {**plan, "name": "take_read"}, colorspace)
        output.setInput(0, read)
        node["label"].setValue(f"{take.get('name')} v{int(take.get('version') or 0):03d}")
    except BaseException:
        nuke.Undo.cancel()  # undoes the half-set Read; no empty step in the artist's history
        raise
    nuke.Undo.end()


# -- what the jobs' progress looks like on the node ------------------------------------------

def _jobs_submitted(node, job_ids: list[str], errors: list[str],
                    names: Optional[list[str]] = None) -> None:
    _set_jobs(node, _jobs(node) + job_ids)
    _add_names(node, [n for n in (names or []) if n])
    if errors:
        set_status(node, f"{len(job_ids)} sent, {len(errors)} refused", error=errors[0])
    else:
        set_status(node, f"queued {len(job_ids)} job(s)", progress=0.0)


def _show_jobs(node, jobs: list[dict]) -> None:
    active = [j for j in jobs if j.get("state") not in TERMINAL]
    failed = [j for j in jobs if j.get("state") == "failed"]
    share = [_fraction(j) for j in jobs] or [0.0]
    states = ", ".join(sorted({str(j.get("state")) for j in jobs}))
    set_status(node, states if active else ("failed" if failed and len(failed) == len(jobs)
                                            else "done"), progress=sum(share) / len(share))
    if failed:
        node["last_error"].setValue(str(failed[-1].get("error") or "failed"))
    _set_jobs(node, [j["id"] for j in active])


def _fraction(job: dict) -> float:
    spans = {"queued": (0, .02), "submitted": (.02, .05), "running": (.05, .65),
             "delivered": (.65, .75), "fetched": (.75, .77), "ingesting": (.77, 1.0)}
    state = job.get("state")
    if state in ("ready", "failed", "cancelled"):
        return 1.0
    start, end = spans.get(state, (0.0, 0.0))
    p = job.get("progress")
    return start + (end - start) * float(p) if isinstance(p, (int, float)) and 0 <= p <= 1 else start


def _takes_listed(node, takes: list[dict], select_dir: Optional[str]) -> None:
    apply_takes(node, takes, select_dir=select_dir)
    count = len(takes)
    if str(node["status"].value()) in ("refreshing…", "idle"):
        set_status(node, f"{count} take(s)")


__all__ = ["set_status", "apply_takes", "show_take", "is_generate_node", "NODE_CLASS_TAG",
           "TERMINAL"]
