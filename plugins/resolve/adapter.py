"""The shared panel's host, for DaVinci Resolve: context, frames from the timeline, insertion.

The panel runs in genplate's own process (see panel_main), attached to Resolve through external
scripting. Resolve calls are quick IPC round trips, so they run on the panel's GUI thread;
anything slow (the engine) goes through the engine command, off that thread.
"""
from __future__ import annotations

import os
import re
import struct
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Optional

from genplate.panel.host import HostAdapter

from . import insert as I
from .connect import describe
from .placement import timeline_rate
from .takes_timeline import timeline_from_takes
from .timecode import frame_to_timecode, timecode_to_frame

ROLE = re.compile(r"^(start|end|keyframe:\d+)$")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLAYHEAD_PAGES = ("cut", "edit", "color", "fairlight", "deliver")


class GrabError(RuntimeError):
    """A frame could not be taken from the timeline; the message says what to change."""


def png_header(path: str) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) of a PNG file (stdlib only)."""
    with open(path, "rb") as fh:
        head = fh.read(29)
    if len(head) < 29 or head[:8] != PNG_MAGIC or head[12:16] != b"IHDR":
        raise GrabError(f"{path} is not a PNG file")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    return width, height, depth, colour


def ensure_8bit_png(path: str) -> str:
    """The request wants 8-bit RGB(A) PNGs; Resolve may write 16-bit ones. Convert via Qt."""
    _w, _h, depth, colour = png_header(path)
    if depth == 8 and colour in (2, 6):
        return path
    from genplate.panel.qt import QtGui

    image = QtGui.QImage(path)
    if image.isNull():
        raise GrabError(f"Qt could not read the still {path}")
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    tmp = path + ".tmp.png"
    if not image.save(tmp, "PNG"):
        raise GrabError(f"could not write the 8-bit still {tmp}")
    os.replace(tmp, path)
    return path


def shot_name(text: str) -> str:
    """A timeline name as a shot name takes accept ("SH010 comp" -> "SH010_comp")."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text or "")).strip("_.")[:80]
    return name


def marker_frames(timeline: Any) -> list[dict]:
    """The timeline's markers as {"frame" (absolute), "name", "note", "color"}, in order.

    Resolve keys markers by their offset from the timeline start (Timeline.GetMarkers).
    """
    start = int(timeline.GetStartFrame() or 0)
    out = []
    for offset, info in sorted((timeline.GetMarkers() or {}).items()):
        info = info or {}
        out.append({"frame": start + int(float(offset)), "name": str(info.get("name") or ""),
                    "note": str(info.get("note") or ""), "color": str(info.get("color") or "")})
    return out


def frame_for_role(role: str, chosen: dict[str, int], markers: list[dict],
                   playhead: int) -> tuple[int, str]:
    """(timeline frame, where it came from) for a request role such as "start" or "keyframe:48".

    An artist's explicit choice wins, then a marker named after the role ("start", "end",
    "keyframe:48"), then the frame under the playhead.
    """
    if role in chosen:
        return int(chosen[role]), "chosen"
    for marker in markers:
        if marker["name"].strip().lower() == role or marker["note"].strip().lower() == role:
            return int(marker["frame"]), f"marker {marker['name'] or marker['note']}"
    return playhead, "playhead"


def _main_thread_invoker():
    """A QObject in the GUI thread whose queued signal runs calls there (None without Qt)."""
    try:
        from genplate.panel.qt import QtCore, Signal, Slot
    except ImportError:
        return None
    app = QtCore.QCoreApplication.instance()
    if app is None:
        return None

    class Invoker(QtCore.QObject):
        call = Signal(object)

        def __init__(self) -> None:
            # Owned by the application, so Qt (not Python's garbage collector) ends it.
            super().__init__(app)
            self.call.connect(self._run, QtCore.Qt.ConnectionType.QueuedConnection)

        @Slot(object)
        def _run(self, job: object) -> None:
            fn, args = job  # type: ignore[misc]
            try:
                fn(*args)
            except Exception as exc:  # a slot must not let an exception into Qt's loop
                print(f"genplate: {exc}", file=sys.stderr)

    return Invoker()


class ResolveAdapter(HostAdapter):
    """HostAdapter for Resolve: ``resolve`` is the attached Resolve (connect.attach)."""

    name = "resolve"

    def __init__(self, resolve: Any, *, still_dir: Optional[str] = None,
                 root: str = "") -> None:
        self.resolve = resolve
        self.still_dir = still_dir or tempfile.mkdtemp(prefix="genplate_stills_")
        self.root = root or os.environ.get("GENPLATE_ROOT", "")
        self.chosen_frames: dict[str, int] = {}
        # Insertion choices the panel (or a Resolve-specific control) may change.
        self.track: Optional[int] = None
        self.stack_takes = True
        self.on_timeline = True
        self.last_insert: dict = {}
        self._invoker = _main_thread_invoker() \
            if threading.current_thread() is threading.main_thread() else None

    # -- where the artist is ---------------------------------------------------------------

    def project(self) -> Any:
        manager = self.resolve.GetProjectManager()
        project = manager.GetCurrentProject() if manager else None
        if not project:
            raise I.InsertError("no project is open in Resolve")
        return project

    def timeline(self) -> Any:
        timeline = self.project().GetCurrentTimeline()
        if not timeline:
            raise I.PlacementError("no timeline is open in Resolve")
        return timeline

    def context(self) -> dict:
        project = self.project()
        ctx: dict[str, Any] = {"host": "resolve", "project": project.GetName(),
                               "first_frame": 1001, "fps": 24, "root": self.root,
                               **describe(self.resolve)}
        timeline = project.GetCurrentTimeline()
        if not timeline:
            return ctx
        fps, drop = timeline_rate(project, timeline)
        ctx.update({"timeline": timeline.GetName(), "fps": fps, "drop_frame": drop,
                    "timeline_start_frame": int(timeline.GetStartFrame() or 0),
                    "markers": marker_frames(timeline)})
        tc = timeline.GetCurrentTimecode()
        if tc:
            ctx["playhead_timecode"] = tc
            ctx["playhead_frame"] = timecode_to_frame(tc, fps, True if ";" in tc else drop)
        ctx["shot"] = self._shot_under_playhead(timeline) or shot_name(timeline.GetName())
        return ctx

    def _shot_under_playhead(self, timeline: Any) -> str:
        item = timeline.GetCurrentVideoItem()
        clip = item.GetMediaPoolItem() if item else None
        if not clip:
            return ""
        record = I.read_provenance(clip)
        if record.get("shot"):
            return record["shot"]
        shot = clip.GetMetadata("Shot")
        return shot if isinstance(shot, str) else ""

    # -- frames for the request ------------------------------------------------------------

    def choose_frame(self, role: str, frame: Optional[int]) -> None:
        """Pin a request role to a timeline frame (None: back to markers/playhead)."""
        if not ROLE.match(role):
            raise GrabError(f"unknown frame role {role!r}; use start, end or keyframe:<index>")
        if frame is None:
            self.chosen_frames.pop(role, None)
        else:
            self.chosen_frames[role] = int(frame)

    def grab_frames(self, which: list[str]) -> list[str]:
        """One 8-bit PNG per role, exported from the timeline; the playhead is put back."""
        for role in which:
            if not ROLE.match(role):
                raise GrabError(f"unknown frame role {role!r}; use start, end or keyframe:<index>")
        project = self.project()
        timeline = self.timeline()
        page = self.resolve.GetCurrentPage()
        # The playhead exists to the API only on these pages (Timeline.GetCurrentTimecode).
        switched = page not in PLAYHEAD_PAGES and bool(self.resolve.OpenPage("edit"))
        try:
            return self._grab(project, timeline, which)
        finally:
            if switched and page:
                self.resolve.OpenPage(page)

    def _grab(self, project: Any, timeline: Any, which: list[str]) -> list[str]:
        fps, drop = timeline_rate(project, timeline)
        home_tc = timeline.GetCurrentTimecode()
        if not home_tc:
            raise GrabError("Resolve gave no playhead: open the Edit or Color page with the "
                            "timeline, then grab again")
        home = timecode_to_frame(home_tc, fps, True if ";" in home_tc else drop)
        markers = marker_frames(timeline)
        paths = []
        current = home
        try:
            for role in which:
                frame, _source = frame_for_role(role, self.chosen_frames, markers, home)
                if frame != current:
                    tc = frame_to_timecode(frame, fps, drop)
                    if not timeline.SetCurrentTimecode(tc):
                        raise GrabError(f"Resolve would not move the playhead to {tc}")
                    current = frame
                name = role.replace(":", "_")
                path = str(Path(self.still_dir) / f"{name}_{frame}.png")
                self._export_still(project, timeline, path)
                paths.append(ensure_8bit_png(path))
        finally:
            if timeline.GetCurrentTimecode() != home_tc:
                timeline.SetCurrentTimecode(home_tc)
        return paths

    def _export_still(self, project: Any, timeline: Any, path: str) -> None:
        if project.ExportCurrentFrameAsStill(path) and os.path.isfile(path):
            return
        # Fallback: a gallery still, exported and then removed from the gallery again.
        album = project.GetGallery().GetCurrentStillAlbum() if project.GetGallery() else None
        still = timeline.GrabStill() if album else None
        if album and still:
            folder, stem = os.path.split(path)
            prefix = Path(stem).stem + "_still"
            try:
                if album.ExportStills([still], folder, prefix, "png"):
                    made = sorted(Path(folder).glob(prefix + "*.png"))
                    if made:
                        os.replace(made[0], path)
                        return
            finally:
                album.DeleteStills([still])
        raise GrabError("Resolve could not export the frame under the playhead: open the Color "
                        "or Edit page with a clip under the playhead, then grab again")

    # -- takes ---------------------------------------------------------------------------

    def version(self) -> Any:
        """resolve.GetVersion() ([major, minor, patch, build, suffix]), or None if it fails."""
        try:
            return self.resolve.GetVersion()
        except Exception:  # an old or odd Resolve: placement then measures instead
            return None

    def insert_take(self, take: dict) -> dict:
        result = I.insert_take(self.project(), take, track=self.track,
                               on_timeline=self.on_timeline, stack=self.stack_takes,
                               resolve_version=self.version())
        self.last_insert = result
        return summarise(result)

    def timeline_from_takes(self, takes: list[dict], name: str) -> dict:
        """A new timeline of the takes, in order (quick Resolve calls: the GUI thread)."""
        return timeline_from_takes(self.project(), takes, name, resolve_version=self.version())

    def run_on_main_thread(self, fn: Callable[..., Any], *args: Any) -> None:
        if threading.current_thread() is threading.main_thread() or self._invoker is None:
            super().run_on_main_thread(fn, *args)
            return
        from genplate.panel.qt import emit

        emit(self._invoker.call, (fn, args))  # PySide's emit leaks a bool reference (qt.py)


def summarise(result: dict) -> dict:
    """What the panel's status line shows after an insert (flat, short)."""
    out = {"bin": result.get("bin"), "clip": result.get("clip")}
    colour = result.get("colour")
    if colour:
        out["colour"] = f"{colour['property']} {colour['value']}"
    placed = result.get("timeline")
    if placed:
        if placed.get("mode") == "already":
            out["timeline"] = f"already on {placed.get('timeline')} at {placed['record_frame']}"
        elif placed.get("mode") == "take":
            out["timeline"] = f"take {placed['take_index']} of {placed['takes']} on " \
                              f"{placed.get('timeline')}"
        else:
            out["timeline"] = f"{placed.get('timeline')} V{placed['track']} @ " \
                              f"{placed['record_frame']}"
    if result.get("warnings"):
        out["warnings"] = "; ".join(result["warnings"])
    return out


__all__ = ["ResolveAdapter", "GrabError", "png_header", "ensure_8bit_png", "shot_name",
           "marker_frames",
           "frame_for_role", "summarise"]
