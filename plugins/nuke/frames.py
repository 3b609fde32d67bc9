"""Frames from the comp for a shot request: 8-bit PNGs through the viewer's display transform.

Ray3 takes display-referred 8-bit images for start/end frames and keyframes, so a frame is
rendered the way the artist sees it in the viewer: OCIODisplay with the viewer's display and
view, then a PNG Write with `raw` on (the display transform already happened). The temporary
nodes live beside the source, are executed for the requested frames only, and are deleted; the
undo history is left alone. Main thread only (``nuke.execute`` renders synchronously).
"""
from __future__ import annotations

import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

import nuke


class FrameGrabError(RuntimeError):
    """A frame could not be rendered for the request."""


def viewer_display_view() -> tuple[Optional[str], Optional[str]]:
    """(display, view) the active viewer shows, from its viewerProcess "View (Display)"."""
    viewer = None
    try:
        active = nuke.activeViewer()
        viewer = active.node() if active is not None else None
    except Exception:  # no GUI, no viewer
        viewer = None
    if viewer is None:
        viewers = nuke.allNodes("Viewer")
        viewer = viewers[0] if viewers else None
    if viewer is None or viewer.knob("viewerProcess") is None:
        return None, None
    value = str(viewer["viewerProcess"].value())
    match = re.fullmatch(r"(?P<view>.+?)\s+\((?P<display>[^()]+)\)", value)
    if not match:
        return None, None
    return match.group("display"), match.group("view")


def _parent_of(node):
    parts = node.fullName().split(".")
    return nuke.root() if len(parts) == 1 else nuke.toNode(".".join(parts[:-1]))


def render_frames(source, frames: list[int], out_dir: Optional[str] = None,
                  *, stem: str = "frame") -> list[str]:
    """Render ``frames`` of ``source`` to PNGs; returns their paths in the same order."""
    if threading.current_thread() is not threading.main_thread():
        raise FrameGrabError("frames are rendered on Nuke's main thread only")
    if source is None:
        raise FrameGrabError("nothing to grab: connect an input or select a node")
    if not frames:
        return []
    folder = Path(out_dir or tempfile.mkdtemp(prefix="genplate_frames_"))
    folder.mkdir(parents=True, exist_ok=True)
    token = f"{stem}_{int(time.time() * 1000) % 10**9}"
    pattern = (folder / f"{token}.%04d.png").as_posix()
    display, view = viewer_display_view()
    parent = _parent_of(source)
    nuke.Undo.disable()  # temporary nodes: not the artist's history
    made = []
    try:
        with parent:
            ocio = nuke.nodes.OCIODisplay()
            made.append(ocio)
            ocio.setInput(0, source)
            if display and display in ocio["display"].values():
                ocio["display"].setValue(display)
                if view and view in ocio["view"].values():
                    ocio["view"].setValue(view)
            write = nuke.nodes.Write()
            made.append(write)
            write.setInput(0, ocio)
            write["file"].setValue(pattern)
            write["file_type"].setValue("png")
            write["datatype"].setValue("8 bit")
            write["raw"].setValue(True)
            for frame in frames:
                nuke.execute(write, int(frame), int(frame))
    except FrameGrabError:
        raise
    except Exception as exc:
        raise FrameGrabError(f"rendering frames {frames} of {source.name()} failed: {exc}") from exc
    finally:
        for node in reversed(made):
            try:
                nuke.delete(node)
            except Exception:
                pass
        nuke.Undo.enable()
    paths = [pattern % int(f) for f in frames]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise FrameGrabError(f"the render wrote no file for {missing[0]}")
    return paths


__all__ = ["FrameGrabError", "render_frames", "viewer_display_view"]
