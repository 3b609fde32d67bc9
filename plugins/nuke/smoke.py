"""Smoke test on a real Nuke: what this Nuke answers to each open host fact (hosts.md §8/§9).

Run it in Nuke's own Python, once per Nuke version, with genplate installed:

    nuke -t <genplate>/plugins/nuke/smoke.py [TAKE] [--root R]   # a terminal session
    python -m genplate.nuke.smoke [TAKE]          # Nuke's Python with `import nuke` working
    import genplate.nuke.smoke as s; s.main([...])  # the Script Editor of a GUI session

TAKE is anything `genplate show` accepts (a version folder, take.json, SHOT/NAME[/v001]). It
prints one JSON report: the colour-space list form this Nuke writes and what genplate chooses
from it; the docked panel's string evaluated the way nukescripts evaluates it; setName's
keyword and its renaming on a collision; whether executeInMainThreadWithResult swallows
exceptions; how Eval and plain string knobs treat "[" and "$"; what Undo.cancel leaves; and,
with a take, a Read made the way genplate makes it, every knob read back (the frame range,
the colorspace, the enumerations' real values). Nothing is left in the script unless --keep.
The README's "Known host facts" table records the answers.

Absolute imports only: `nuke -t file.py` runs this file outside its package.
"""
from __future__ import annotations

import argparse
import builtins
import inspect
import json
import sys
from typing import Any, Callable, Optional

import nuke

from genplate.nuke import read as R

PROBE_SPACES = ("ACEScg", "ACES2065-1")
READ_KNOBS = ("file", "first", "last", "origfirst", "origlast", "origset", "frame_mode",
              "frame", "before", "after", "on_error", "colorspace", "raw", "localizationPolicy",
              "premultiplied", "auto_alpha", "label", "name")
ENUM_KNOBS = ("on_error", "localizationPolicy", "frame_mode", "before", "after")


def _ok(fn: Callable[[], Any]) -> dict:
    try:
        return {"ok": True, "answer": _jsonable(fn())}
    except Exception as exc:  # the report is the point: every probe answers
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _temporary(cls: str):
    return getattr(nuke.nodes, cls)()


def _delete(node) -> None:
    try:
        nuke.delete(node)
    except Exception:  # noqa: BLE001 - already gone
        pass


# -- the probes --------------------------------------------------------------------------------

def list_form(entries: list[str]) -> dict:
    """Which form of getColorspaceList this is: "recorded" (bare roles, NAME<TAB><TAB>ALIASES),
    "role_space" (role<TAB>(space)), "mixed", or "plain" (names only)."""
    roles, spaces = R.parse_colorspace_entries(entries)
    bare = sorted(r for r, t in roles.items() if t is None)
    targeted = sorted(r for r, t in roles.items() if t)
    aliased = sorted(s for s, a in spaces.items() if a)
    if targeted and (bare or aliased):
        form = "mixed"
    elif targeted:
        form = "role_space"
    elif bare or aliased:
        form = "recorded"
    else:
        form = "plain"
    return {"form": form, "bare_roles": bare, "roles_with_space": {r: roles[r] for r in targeted},
            "spaces_with_aliases": len(aliased), "spaces": len(spaces)}


def colour_space_list(working_space: Optional[str]) -> dict:
    node = _temporary("Read")
    try:
        knob = node["colorspace"]
        entries = list(nuke.getColorspaceList(knob))
        out: dict[str, Any] = {
            "entries": entries[:60], "count": len(entries), **list_form(entries),
            "strip_cascade_prefix": bool(knob.getFlag(getattr(nuke, "STRIP_CASCADE_PREFIX", 0))),
            "knob_values_sample": list(knob.values())[:12]}
        choices = {}
        for space in dict.fromkeys([*PROBE_SPACES, *([working_space] if working_space else [])]):
            choices[space] = _ok(lambda s=space: R.choose_colorspace(entries, s))
        out["genplate_chooses"] = choices
        return out
    finally:
        _delete(node)


def panel_string() -> dict:
    """The dock's string, evaluated as nukescripts/panels.py does: with no name bound."""
    from genplate.nuke.dock import WIDGET_PATH

    out: dict[str, Any] = {"widget": WIDGET_PATH}
    expression = "__import__('nukescripts').panels.WidgetKnob(" + WIDGET_PATH + ")"
    knob = eval(expression, {"__builtins__": builtins})  # noqa: S307 - Nuke's own evaluation
    cls = knob.widgetClass
    out["class"] = f"{cls.__module__}.{cls.__qualname__}"
    try:
        import nukescripts.panels as panels

        source = inspect.getsource(panels.registerWidgetAsPanel)
        out["nukescripts_pastes_into_widgetknob"] = "WidgetKnob(" in source
        out["restore_adds_to_a_pane"] = ".addToPane()" in source
    except (OSError, TypeError, ImportError) as exc:
        out["nukescripts_source"] = f"unreadable: {exc}"
    return out


def set_name() -> dict:
    first, second = _temporary("NoOp"), _temporary("NoOp")
    out: dict[str, Any] = {}
    try:
        try:
            second.setName("genplate_smoke_v001", uniquify=True)
            out["uniquify"] = "accepted"
        except TypeError as exc:
            out["uniquify"] = f"TypeError: {exc}"
        first.setName("genplate_smoke_v001", uncollide=True)
        second.setName("genplate_smoke_v001", uncollide=True)
        out["uncollide_renames_to"] = second.name()
        try:
            second.setName("genplate_smoke_v001", uncollide=False)
            out["collision_without_uncollide"] = f"accepted as {second.name()}"
        except Exception as exc:  # noqa: BLE001 - which error is the fact
            out["collision_without_uncollide"] = f"{type(exc).__name__}: {exc}"
        return out
    finally:
        _delete(first)
        _delete(second)


def main_thread_with_result() -> dict:
    """Whether executeInMainThreadWithResult swallows an exception, from its source (calling
    it here, on the main thread, would never return)."""
    source = inspect.getsource(nuke.executeInMainThreadWithResult)
    return {"catches_exceptions": "except" in source,
            "returns_none_then": "None" in source.split("except", 1)[-1]}


def string_knobs() -> dict:
    node = _temporary("NoOp")
    text = '[{"prompt": "a [red] kite", "cost": "$5"}]'
    out: dict[str, Any] = {"text": text}
    try:
        for cls in ("String_Knob", "Multiline_Eval_String_Knob"):
            knob = getattr(nuke, cls)(f"genplate_smoke_{cls.lower()}", cls)
            node.addKnob(knob)
            knob.setValue(text)
            out[cls] = {"getText": _ok(knob.getText), "value": _ok(knob.value),
                        "getValue": _ok(knob.getValue)}
        return out
    finally:
        _delete(node)


def undo_cancel() -> dict:
    nuke.Undo.begin("genplate smoke")
    node = _temporary("NoOp")
    name = node.fullName()
    nuke.Undo.cancel()
    survived = nuke.toNode(name) is not None
    if survived:
        _delete(node)
    return {"cancel_removes_what_the_group_made": not survived,
            "cancel_without_group": _ok(nuke.Undo.cancel)}


def read_after_insert(take: Optional[dict], keep: bool) -> dict:
    """A bare Read's enumerations, what fromUserText fills, and with a take the Read genplate
    makes, every knob read back."""
    bare = _temporary("Read")
    out: dict[str, Any] = {}
    try:
        out["read_knobs"] = [k.name() for k in bare.allKnobs()]
        out["enumerations"] = {name: list(bare[name].values()) for name in ENUM_KNOBS
                               if bare.knob(name) is not None and hasattr(bare[name], "values")}
        if take:
            bare["file"].fromUserText(f"{R.pattern_for_nuke(str(take['pattern']))} "
                                      f"{int(take['first'])}-{int(take['last'])}")
            out["fromUserText_fills"] = {k: bare[k].value() for k in
                                         ("first", "last", "origfirst", "origlast")
                                         if bare.knob(k) is not None}
    finally:
        _delete(bare)
    if not take:
        out["insert"] = "no take given"
        return out
    made = R.insert_take_here(take, select=False)
    node = nuke.toNode(made["node"])
    try:
        out["insert"] = made
        out["knobs"] = {k: _jsonable(node[k].value()) for k in READ_KNOBS if node.knob(k)}
        out["frame_range"] = [node.firstFrame(), node.lastFrame()]
        out["provenance_reads_back"] = R.take_of(node) is not None
    finally:
        if not keep:
            _delete(node)
    return out


def run(take: Optional[dict] = None, *, keep: bool = False) -> dict:
    """Every probe, each answering (never raises)."""
    root = nuke.root()
    report: dict[str, Any] = {
        "nuke": {"version": getattr(nuke, "NUKE_VERSION_STRING", ""),
                 "major": getattr(nuke, "NUKE_VERSION_MAJOR", None),
                 "gui": bool(nuke.env.get("gui")), "python": sys.version.split()[0]},
        "colour_management": {k: _ok(lambda k=k: root[k].value())["answer"] if root.knob(k)
                              else None for k in ("colorManagement", "OCIO_config",
                                                  "customOCIOConfigPath", "workingSpaceLUT")},
        "shot_range": [root["first_frame"].value(), root["last_frame"].value()]}
    if take:
        report["take"] = {k: take.get(k) for k in ("shot", "name", "version", "first", "last",
                                                   "colorspace", "pattern")}
    working = str(take.get("colorspace") or "") if take else None
    report["facts"] = {
        "colour_space_list": _ok(lambda: colour_space_list(working)),
        "panel_string": _ok(panel_string),
        "set_name": _ok(set_name),
        "execute_in_main_thread_with_result": _ok(main_thread_with_result),
        "string_knobs": _ok(string_knobs),
        "undo_cancel": _ok(undo_cancel),
        "read": _ok(lambda: read_after_insert(take, keep)),
    }
    return report


def main(argv: Optional[list[str]] = None, *,
         show: Optional[Callable[[list[str]], dict]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genplate.nuke.smoke")
    parser.add_argument("take", nargs="?", default="",
                        help="version folder, take.json, or SHOT/NAME[/v001] under --root")
    parser.add_argument("--root", default="")
    parser.add_argument("--keep", action="store_true", help="leave the inserted Read")
    args = parser.parse_args(argv)
    take = None
    if args.take:
        if show is None:
            from genplate.panel.commands import run_json as show
        try:
            answer = show(["show", args.take, "--json"] + (["--root", args.root] if args.root
                                                            else []))
        except Exception as exc:  # noqa: BLE001 - one JSON object, even for this
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
            return 2
        take = answer.get("take", answer)
    report = run(take, keep=args.keep)
    print(json.dumps(report, indent=2))
    return 0 if all(f.get("ok") for f in report["facts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
