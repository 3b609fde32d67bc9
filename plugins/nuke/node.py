"""The genplate generate node: a Group whose knobs are a shot request and whose output is a take.

Knobs hold every request field; the optional input's frames become the start/end frames or
keyframes (rendered through the viewer's display transform to 8-bit PNGs); buttons generate
drafts, promote the chosen draft, refresh and cancel; the `take` knob switches between the
node's takes and the Read inside the group follows it. Status, progress and the last error
show on the node.

This module is what the node's knob scripts call: saved scripts hold
``import nuke, genplate.nuke.node as _g; _g.on_generate(nuke.thisNode())`` and
``_g.knob_changed(...)``, so create, knob_changed and the on_* buttons stay here for good. It
holds the knobs, reading them into a request and grabbing the input's frames. What the node
shows (status, the hidden jobs/takes knobs, the take's Read) is node_status.py's; the worker
thread that follows the jobs is follow.py's; headless generation under ``nuke -t`` is
headless.py's (``genplate.nuke.generate``).
"""
from __future__ import annotations

from typing import Any, Optional

import nuke

from genplate.panel import commands as C

from . import frames as F
from . import read as R
from .follow import _Follower
from .node_status import (NODE_CLASS_TAG, _jobs, _label, _takes, apply_takes, is_generate_node,
                          set_status, show_take)

INPUT_MODES = ("none", "start frame", "start and end frames", "keyframes")

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
    # JSON in String_Knobs, read raw with getText(): Nuke evaluates Eval knobs as TCL, and "[",
    # "$" in a take's prompt or path would be run as commands (hosts.md §9).
    add(_hidden(nuke.String_Knob("takes_json", "takes")))
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
        # Nuke's keyword is uncollide (types-nuke; Node.setName's docstring): the next free
        # genplate_generateN.
        group.setName("genplate_generate1", uncollide=True)
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


# -- knobs <-> request ---------------------------------------------------------------------

def fields_from_node(node, *, grabbed: Optional[dict] = None) -> C.RequestFields:
    value = lambda name: node[name].value()  # noqa: E731
    grabbed = grabbed or {}
    return C.RequestFields(
        # The artist's own words, raw: the knob is TCL-evaluated and "[red]" or "$5" would be
        # run as TCL by value().
        prompt=str(node["prompt"].getText()).strip(), quality=str(value("quality")),
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


# -- the take selector (main thread) -------------------------------------------------------

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


# apply_takes, show_take and is_generate_node live in node_status.py; they stay importable from
# here, the module scripts and studio tools already know.
__all__ = ["create", "fields_from_node", "input_frames_wanted", "grab_input_frames",
           "apply_takes", "show_take", "knob_changed", "on_generate", "on_refresh",
           "on_cancel", "on_promote", "is_generate_node", "INPUT_MODES"]
