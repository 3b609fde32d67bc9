"""The shared panel's view of Nuke (a HostAdapter): context, frame grabs, Read insertion."""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any, Callable

import nuke

from genplate.panel.host import HostAdapter

from . import frames as F
from . import read as R

GRID_FPS = 24


def script_shot(script_path: str) -> str:
    """A shot name from a script's file name: "sh010_comp_v003.nk" -> "sh010"."""
    stem = Path(script_path).name
    match = re.match(r"([A-Za-z]+[0-9]+[A-Za-z0-9]*)", stem)
    return match.group(1) if match else ""


class NukeAdapter(HostAdapter):
    name = "nuke"

    def context(self) -> dict:
        root = nuke.root()

        def knob(name: str, default: Any = None) -> Any:
            k = root.knob(name)
            return k.value() if k is not None else default

        script = str(knob("name", "") or "")
        shot = (os.environ.get("GENPLATE_SHOT") or str(knob("genplate_shot", "") or "")
                or script_shot(script) or "sh010")
        takes_root = (os.environ.get("GENPLATE_ROOT") or str(knob("genplate_root", "") or "")
                      or (str(Path(script).parent / "takes") if script else ""))
        return {"project": os.environ.get("GENPLATE_PROJECT", ""), "shot": shot,
                "fps": float(knob("fps", 24.0) or 24.0),
                "first_frame": int(knob("first_frame", 1001) or 1001),
                "last_frame": int(knob("last_frame", 1100) or 1100), "root": takes_root,
                "script": script}

    def grab_frames(self, which: list[str]) -> list[str]:
        """The selected node's frames: start/end at the playhead, keyframe:N at the playhead.

        The artist moves the playhead to the frame they want and presses the button, so every
        grab is of the current frame; the index in "keyframe:N" says where it goes in the shot.
        """
        try:
            source = nuke.selectedNode()
        except ValueError:
            raise F.FrameGrabError("select the node whose frame you want, then grab") from None
        frame = int(nuke.frame())
        return F.render_frames(source, [frame] * len(which),
                               stem=re.sub(r"\W", "_", "_".join(which))[:40])

    def insert_take(self, take: dict) -> dict:
        return R.insert_take(take)

    def run_on_main_thread(self, fn: Callable[..., Any], *args: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            fn(*args)
        else:
            nuke.executeInMainThread(fn, args)


__all__ = ["NukeAdapter", "script_shot"]
