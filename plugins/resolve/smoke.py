"""Smoke test on a real Resolve Studio: `python -m genplate.resolve.smoke TAKE [--root R]`.

No Resolve runs where genplate is developed (hosts.md §4), so the facts the fake assumes are
checked here by hand, once per Resolve version: run it with the engine's Python while Resolve
Studio has a project and a timeline open. It inserts TAKE (anything `genplate show` accepts)
the way the panel does, grabs the frame under the playhead, and prints one JSON report with
what Resolve answered: the clip's property snapshot (its real "Input Color Space", "Start" and
"End" spellings), the colour science before and after, the placement, the take selector, and
under "facts" how this Resolve counts AppendToTimeline's endFrame (what its version predicts,
what the placed length showed). With --new-timeline it also builds a timeline from the take
the way "New timeline from takes" does. The open questions of hosts.md §8/§9 are answered by
that report; the README's "Known host facts" table records the answers.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Optional

from . import insert as I
from .adapter import ResolveAdapter
from .colour import SCIENCE_SETTING
from .connect import ResolveConnectError, attach, describe

WATCHED_PROPERTIES = ("File Path", "Frames", "Start", "End", "FPS", "Input Color Space", "IDT",
                      "Start TC", "Resolution")


def run(resolve: Any, take: dict, *, grab: bool = True, new_timeline: bool = False) -> dict:
    """Insert one take and report what Resolve answered at each step (never raises)."""
    adapter = ResolveAdapter(resolve)
    report: dict[str, Any] = {"resolve": {**describe(resolve), "version_fields": _jsonable(
        adapter.version())}, "take": {
        k: take.get(k) for k in ("shot", "name", "version", "first", "last", "colorspace")}}
    steps = report["steps"] = {}
    facts = report["facts"] = {}
    try:
        project = adapter.project()
        report["colour_science_before"] = project.GetSetting(SCIENCE_SETTING)
        steps["context"] = _ok(adapter.context)
        steps["insert"] = _ok(lambda: adapter.insert_take(take))
        report["colour_science_after"] = project.GetSetting(SCIENCE_SETTING)
        clip = I.find_clip(I.ensure_bin(project.GetMediaPool(), I.bin_path(take)), take)
        if clip is not None:
            snapshot = clip.GetClipProperty() or {}
            report["clip_properties"] = {k: snapshot.get(k) for k in WATCHED_PROPERTIES
                                         if k in snapshot}
            report["third_party_metadata"] = I.read_provenance(clip)
        report["insert_detail"] = _jsonable(adapter.last_insert)
        placed = (adapter.last_insert or {}).get("timeline") or {}
        if placed.get("end_frame"):
            facts["append_end_frame"] = placed["end_frame"]
        if grab:
            steps["grab"] = _ok(lambda: adapter.grab_frames(["start"]))
        if new_timeline:
            steps["new_timeline"] = _ok(lambda: adapter.timeline_from_takes(
                [take], f"genplate smoke {take.get('shot', '')}".strip()))
            made = steps["new_timeline"].get("answer") or {}
            if made.get("end_frame"):
                facts["new_timeline_end_frame"] = made["end_frame"]
    except Exception as exc:  # the report is the point: say where it stopped
        report["stopped"] = f"{type(exc).__name__}: {exc}"
    return report


def _ok(fn: Callable[[], Any]) -> dict:
    try:
        return {"ok": True, "answer": _jsonable(fn())}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def main(argv: Optional[list[str]] = None, *, attach_fn: Callable[..., Any] = attach,
         show: Optional[Callable[[list[str]], dict]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genplate.resolve.smoke")
    parser.add_argument("take", help="version folder, take.json, or SHOT/NAME[/v001] under --root")
    parser.add_argument("--root", default="")
    parser.add_argument("--no-grab", action="store_true")
    parser.add_argument("--new-timeline", action="store_true",
                        help="also build a new timeline from the take (adds a timeline)")
    args = parser.parse_args(argv)
    if show is None:
        from genplate.panel.commands import run_json as show
    try:
        take = show(["show", args.take, "--json"] + (["--root", args.root] if args.root else []))
        resolve = attach_fn()
    except ResolveConnectError as exc:
        print(json.dumps({"error": str(exc), "reason": exc.reason}))
        return 2
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 2
    report = run(resolve, take.get("take", take), grab=not args.no_grab,
                 new_timeline=args.new_timeline)
    print(json.dumps(report, indent=2))
    return 1 if "stopped" in report or not all(s.get("ok") for s in report["steps"].values()) \
        else 0


if __name__ == "__main__":
    sys.exit(main())
