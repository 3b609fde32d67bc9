"""The genplate generate node: a Group whose knobs are a shot request and whose output is a take.

Knobs hold every request field; the optional input's frames become the start/end frames or
keyframes (rendered through the viewer's display transform to 8-bit PNGs); buttons generate
drafts, promote the chosen draft, refresh and cancel; the `take` knob switches between the
node's takes and the Read inside the group follows it. Status, progress and the last error
show on the node.

Threads: a button runs on the main thread, grabs frames there (nuke.execute must), then hands
the engine calls to a worker thread; the worker touches no node, and every change it causes
is queued to the main thread with nuke.executeInMainThread, by node name (a node may be
deleted meanwhile). Under ``nuke -t`` there is no event loop: ``generate(node)`` does the
same steps in the calling thread and waits for the take.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Optional

import nuke

from genplate.panel import commands as C

from . import frames as F
from . import read as R

NODE_CLASS_TAG = "genplate_generate"
INPUT_MODES = ("none", "start frame", "start and end frames", "keyframes")
POLL_SECONDS = 2.0
TERMINAL = ("ready", "failed", "cancelled")

_KNOB_CHANGED = ("import nuke, genplate.nuke.node as _g; "
                 "_g.knob_changed(nuke.thisNode(), nuke.thisKnob())")


def _button(name: str, label: str, action: str, tooltip: str):
    knob = nuke.PyScript_Knob(name, label,
                              f"import nuke, genplate.nuke.node as _g; _g.{action}(nuke.thisNode())")
    knob.setTooltip(tooltip)
    return knob


def _enum(name: str, label: str, values, default: str, tooltip: str = ""):
    knob = nuke.Enumeration_Knob(name, label, list(values))
    knob.setValue(default)
    if tooltip:
        knob.setTooltip(tooltip)
    return knob


def _hidden(knob):
    knob.setFlag(nuke.INVISIBLE)
    return knob


def _add_knobs(group, ctx: dict) -> None:
    add = group.addKnob
    add(nuke.Tab_Knob("genplate_tab", "genplate"))
    marker = nuke.Boolean_Knob(NODE_CLASS_TAG, "genplate node")
    marker.setValue(True)
    add(_hidden(marker))
    prompt = nuke.Multiline_Eval_String_Knob("prompt", "prompt")
    prompt.setTooltip("what the shot shows: subject, action, camera, light")
    add(prompt)
    add(_enum("quality", "quality", C.QUALITIES, "draft",
              "draft: 360p SDR, cheap and fast; master: 720p/1080p HDR with EXR"))
    add(_enum("resolution", "resolution", C.RESOLUTIONS, "1080p"))
    add(_enum("duration", "duration", C.DURATIONS, "5s"))
    add(_enum("aspect", "aspect", C.ASPECT_RATIOS, "16:9"))
    for name in ("hdr", "exr", "loop"):
        add(nuke.Boolean_Knob(name, name.upper() if name != "loop" else "loop"))
    drafts = nuke.Int_Knob("drafts", "drafts per press")
    drafts.setValue(1)
    drafts.setTooltip("how many drafts one press of Generate asks for (1-4)")
    add(drafts)
    add(_enum("input_frames", "use input as", INPUT_MODES, "none",
              "the input's frames guide the shot: its first frame, first and last, or the "
              "frames listed below as keyframes"))
    add(nuke.String_Knob("keyframe_frames", "keyframe frames"))
    add(nuke.Text_Knob("publish_div", "", ""))
    shot = nuke.String_Knob("shot", "shot")
    shot.setValue(ctx.get("shot") or "sh010")
    add(shot)
    add(nuke.String_Knob("take_name", "take name"))
    root = nuke.String_Knob("root", "takes root")
    root.setValue(ctx.get("root") or "")
    add(root)
    first = nuke.Int_Knob("first_frame", "first frame")
    first.setValue(int(ctx.get("first_frame") or 1001))
    first.setTooltip("the take's first frame number (the shot's start)")
    add(first)
    align = nuke.Boolean_Knob("align_to_input", "start at the input's first frame")
    align.setValue(True)
    align.setTooltip("with an input connected, the take is numbered from the input's first "
                     "frame instead of 'first frame'")
    add(align)
    add(nuke.Text_Knob("actions_div", "", ""))
    add(_button("generate", "Generate drafts", "on_generate",
                "send the request (drafts unless quality says otherwise)"))
    add(_button("promote", "Promote to master", "on_promote",
                "make a master from the chosen draft (`genplate promote`)"))
    add(_button("refresh", "Refresh", "on_refresh", "list this shot's takes again"))
    add(_button("cancel", "Cancel", "on_cancel", "stop this node's running jobs"))
    add(_enum("take", "take", ["(none)"], "(none)", "which of the node's takes it outputs"))
    add(_hidden(nuke.Multiline_Eval_String_Knob("takes_json", "takes")))
    add(_hidden(nuke.String_Knob("jobs_json", "jobs")))
    add(_hidden(nuke.String_Knob("take_names_json", "take names")))
    add(nuke.Text_Knob("status", "status", "idle"))
    progress = nuke.Double_Knob("progress", "progress")
    progress.setEnabled(False)
    add(progress)
    add(nuke.Text_Knob("last_error", "last error", ""))


def create(context: Optional[dict] = None):
    """A new generate node (main thread; one undo step)."""
    if context is None:
        try:
            from .adapter import NukeAdapter

            context = NukeAdapter().context()
        except Exception:
            context = {}
    nuke.Undo.begin("genplate: generate node")
    try:
        group = nuke.nodes.Group()
        try:
            group.setName("genplate_generate1", uniquify=True)
        except (TypeError, ValueError):
            pass
        _add_knobs(group, context)
        if group.knob("knobChanged") is None:
            group.addKnob(_hidden(nuke.String_Knob("knobChanged", "knobChanged")))
        group["knobChanged"].setValue(_KNOB_CHANGED)
        with group:
            source = nuke.nodes.Input(name="input")
            read = nuke.nodes.Read(name="take_read")
            output = nuke.nodes.Output(name="Output1")
            output.setInput(0, source)  # no take yet: pass the input through
            read["label"].setValue("no take yet")
        group["tile_color"].setValue(0x5B6EE1FF)
    finally:
        nuke.Undo.end()
    return group


def is_generate_node(node) -> bool:
    knob = node.knob(NODE_CLASS_TAG) if hasattr(node, "knob") else None
    return bool(knob is not None and knob.value())


# -- knobs <-> request ---------------------------------------------------------------------

def fields_from_node(node, *, grabbed: Optional[dict] = None) -> C.RequestFields:
    value = lambda name: node[name].value()  # noqa: E731
    grabbed = grabbed or {}
    return C.RequestFields(
        prompt=str(value("prompt")).strip(), quality=str(value("quality")),
        resolution=str(value("resolution")), duration=str(value("duration")),
        aspect=str(value("aspect")), hdr=bool(value("hdr")), exr=bool(value("exr")),
        loop=bool(value("loop")), shot=str(value("shot")).strip(),
        name=str(value("take_name")).strip(), root=str(value("root")).strip(),
        first_frame=first_frame_for(node),
        start_frame=grabbed.get("start", ""), end_frame=grabbed.get("end", ""),
        keyframes=grabbed.get("keyframes", {}))


def first_frame_for(node) -> int:
    """The take's first frame: the input's first frame when aligned to it, else the knob."""
    source = node.input(0)
    if source is not None and bool(node["align_to_input"].value()):
        return int(source.firstFrame())
    return int(node["first_frame"].value())


def input_frames_wanted(node) -> dict:
    """{"start": frame, "end": frame, "keyframes": {grid index: frame}} from the input's range.

    Keyframe indices count 24 fps frames from the input's first frame; an input at another
    rate is taken frame for frame (Ray3's grid is 24 fps).
    """
    mode = str(node["input_frames"].value())
    source = node.input(0)
    if mode == "none":
        return {}
    if source is None:
        raise F.FrameGrabError(f"'use input as {mode}' needs something connected to the input")
    first, last = int(source.firstFrame()), int(source.lastFrame())
    if mode == "start frame":
        return {"start": first}
    if mode == "start and end frames":
        return {"start": first, "end": last}
    frames = {}
    for token in str(node["keyframe_frames"].value()).replace(",", " ").split():
        try:
            frame = int(token)
        except ValueError:
            raise F.FrameGrabError(f"keyframe frames: {token!r} is not a frame number") from None
        if not first <= frame <= last:
            raise F.FrameGrabError(f"keyframe frame {frame} is outside the input's {first}-{last}")
        frames[frame - first] = frame
    if not frames:
        raise F.FrameGrabError("list the input frames to use as keyframes, e.g. 1025 1049")
    return {"keyframes": frames}


def grab_input_frames(node) -> dict:
    """Render the wanted input frames (main thread); returns paths in RequestFields' shape."""
    wanted = input_frames_wanted(node)
    if not wanted:
        return {}
    order: list[tuple[str, Any, int]] = []
    for key in ("start", "end"):
        if key in wanted:
            order.append((key, None, wanted[key]))
    for index, frame in sorted(wanted.get("keyframes", {}).items()):
        order.append(("keyframes", index, frame))
    paths = F.render_frames(node.input(0), [f for _k, _i, f in order],
                            stem=f"{node.name()}_input")
    grabbed: dict[str, Any] = {"keyframes": {}}
    for (key, index, _frame), path in zip(order, paths):
        if key == "keyframes":
            grabbed["keyframes"][index] = path
        else:
            grabbed[key] = path
    return grabbed


# -- showing state on the node (main thread) -------------------------------------------------

def _node(name: str):
    node = nuke.toNode(name)
    return node if node is not None and is_generate_node(node) else None


def set_status(node, status: str, *, progress: Optional[float] = None,
               error: Optional[str] = None) -> None:
    node["status"].setValue(status)
    if progress is not None:
        node["progress"].setValue(max(0.0, min(1.0, float(progress))))
    if error is not None:
        node["last_error"].setValue(error)


def _jobs(node) -> list[str]:
    try:
        data = json.loads(node["jobs_json"].value() or "[]")
    except ValueError:
        return []
    return [str(j) for j in data if isinstance(j, str)]


def _set_jobs(node, job_ids: list[str]) -> None:
    node["jobs_json"].setValue(json.dumps(sorted(set(job_ids))))


def _names(node) -> list[str]:
    """The take names this node's jobs publish to (its takes, among the shot's)."""
    try:
        data = json.loads(node["take_names_json"].value() or "[]")
    except ValueError:
        return []
    return [str(n) for n in data if isinstance(n, str)]


def _add_names(node, names: list[str]) -> None:
    node["take_names_json"].setValue(json.dumps(sorted(set(_names(node)) | set(names))))


def _takes(node) -> list[dict]:
    try:
        data = json.loads(node["takes_json"].value() or "[]")
    except ValueError:
        return []
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
    finally:
        nuke.Undo.end()


def knob_changed(node, knob) -> None:
    """The group's knobChanged: the take selector switches the output."""
    if knob is None or knob.name() != "take":
        return
    takes = _takes(node)
    label = str(knob.value())
    chosen = next((t for t in takes if _label(t) == label), None)
    if chosen is not None:
        try:
            show_take(node, chosen)
        except R.ReadError as exc:
            set_status(node, "error", error=str(exc))


# -- the buttons (main thread) -------------------------------------------------------------

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


def prepare(node) -> list[C.RequestFields]:
    """Check the knobs and grab the input frames; the requests to send (main thread)."""
    grabbed = grab_input_frames(node)
    fields = fields_from_node(node, grabbed=grabbed)
    problems = fields.problems()
    if problems:
        raise ValueError("; ".join(problems))
    count = max(1, min(4, int(node["drafts"].value()))) if fields.quality == "draft" else 1
    return [C.RequestFields(**{**fields.__dict__}) for _ in range(count)]


def on_generate(node) -> None:
    try:
        requests = prepare(node)
    except (ValueError, F.FrameGrabError) as exc:
        set_status(node, "not sent", error=str(exc))
        return
    set_status(node, f"sending {len(requests)} request(s)…", progress=0.0, error="")
    _Follower.start_submit(node.fullName(), requests, _where(node))


def on_refresh(node) -> None:
    set_status(node, "refreshing…")
    _Follower.start_refresh(node.fullName(), _jobs(node), _where(node))


def on_cancel(node) -> None:
    jobs = _jobs(node)
    if not jobs:
        set_status(node, "nothing to cancel")
        return
    set_status(node, f"cancelling {len(jobs)} job(s)…")
    _Follower.start_cancel(node.fullName(), jobs)


def on_promote(node) -> None:
    takes = _takes(node)
    label = str(node["take"].value())
    chosen = next((t for t in takes if _label(t) == label), None)
    if chosen is None:
        set_status(node, "choose a take to promote", error="no take chosen")
        return
    if chosen.get("kind") != "draft":
        set_status(node, "only a draft can be promoted", error=f"{label} is not a draft")
        return
    set_status(node, f"promoting {label}…", error="")
    _Follower.start_promote(node.fullName(), chosen, _where(node))


def _where(node) -> tuple[str, str]:
    """(root, shot) whose takes the node lists, read on the main thread for the worker."""
    return str(node["root"].value()).strip(), str(node["shot"].value()).strip()


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


# -- headless ------------------------------------------------------------------------------

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


__all__ = ["create", "generate", "GenerateError", "fields_from_node", "input_frames_wanted",
           "grab_input_frames", "apply_takes", "show_take", "knob_changed", "on_generate",
           "on_refresh", "on_cancel", "on_promote", "is_generate_node", "INPUT_MODES"]
