"""A recording fake of DaVinci Resolve's scripting object model, held to fusionscript-stubs.

Every public (CamelCase) method of a fake class is wrapped: the call is recorded in the fake's
shared ``calls`` log and checked against the signatures of the same method of the same class in
``fusionscript-stubs`` (21.x): the method must exist there and the number of positional
arguments must fit one of its overloads. Keyword arguments are refused outright, since Resolve's
bridge takes positional arguments only. So a test that passes through genplate's Resolve code
has also proved that every call genplate made is one the real API documents.

The behaviour follows hosts.md §3.4-3.6 and §9, each beside the code that does it:
ImportMedia of a sequence clipInfo makes one clip (unless "Show Individual Frames");
"Input Color Space" is refused unless the project is in ``davinciYRGBColorManagedv2`` (the
colour-science workaround), "IDT" is for ACES projects; AppendToTimeline onto an occupied spot
answers an item whose getters return None; its clipInfo ``endFrame`` is exclusive from Resolve
19 and inclusive in 18, chosen by the fake's version; OTIO image-sequence references do not
import; SetMetadata takes only Resolve's own fields, SetThirdPartyMetadata any key;
SetClipColor only the stub's ClipColor names.
"""
from __future__ import annotations

import ast
import functools
import itertools
import json
import struct
import sys
import zlib
from pathlib import Path
from typing import Any, Optional

# -- the stubs -------------------------------------------------------------------------------


def stub_file() -> Path:
    for entry in sys.path:
        candidate = Path(entry) / "fusionscript-stubs" / "fusionscript.pyi"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("fusionscript-stubs is not installed (pip install "
                            "'fusionscript-stubs>=21,<22')")


def _optional(annotation: Optional[ast.expr]) -> bool:
    """Optional[...] or X | None: the stubs' way of saying an argument may be left out."""
    if annotation is None:
        return False
    text = ast.unparse(annotation)
    return text.startswith("Optional[") or text.endswith("| None") or "None |" in text


def _arity(fn: ast.FunctionDef) -> tuple[int, float]:
    params = fn.args.posonlyargs + fn.args.args
    if params and params[0].arg == "self":
        params = params[1:]
    defaults = len(fn.args.defaults)
    required = len(params) - defaults
    # Trailing Optional[...] parameters without defaults are optional too (README: "optional").
    while required > 0 and _optional(params[required - 1].annotation):
        required -= 1
    maximum = float("inf") if fn.args.vararg else float(len(params))
    return required, maximum


@functools.lru_cache(maxsize=1)
def stub_signatures() -> dict[str, dict[str, list[tuple[int, float]]]]:
    """{class: {method: [(min positional, max positional) per overload]}} from the stubs."""
    tree = ast.parse(stub_file().read_text(encoding="utf-8"))
    table: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods: dict[str, list[tuple[int, float]]] = {}
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    methods.setdefault(item.name, []).append(_arity(item))
            table[node.name] = methods
    return table


def stub_literal(name: str) -> list[str]:
    """The values of a module-level Literal alias in the stubs (e.g. ColorSet1)."""
    tree = ast.parse(stub_file().read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            value = node.value
            if isinstance(value, ast.Subscript):
                elts = value.slice.elts if isinstance(value.slice, ast.Tuple) else [value.slice]
                return [e.value for e in elts if isinstance(e, ast.Constant)]
    raise KeyError(name)


class StubMismatch(TypeError):
    """genplate called something the real Resolve API does not document."""


def check_call(stub_class: str, method: str, args: tuple, kwargs: dict) -> None:
    if kwargs:
        raise StubMismatch(f"{stub_class}.{method} called with keyword arguments {sorted(kwargs)}; "
                           f"Resolve's API takes positional arguments only")
    overloads = stub_signatures().get(stub_class, {}).get(method)
    if overloads is None:
        raise StubMismatch(f"{stub_class}.{method} is not in fusionscript-stubs")
    n = len(args)
    if not any(lo <= n <= hi for lo, hi in overloads):
        raise StubMismatch(f"{stub_class}.{method} called with {n} argument(s); the stubs allow "
                           f"{overloads}")


def public_methods(cls: type) -> list[str]:
    return sorted(n for n, v in vars(cls).items()
                  if callable(v) and n[:1].isupper() and not n.startswith("_"))


class Recorded:
    """Base of the fakes: wraps every CamelCase method with the stub check and the log."""

    stub_class = ""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        for name in public_methods(cls):
            setattr(cls, name, cls._wrap(name, vars(cls)[name]))

    @classmethod
    def _wrap(cls, name: str, fn: Any) -> Any:
        stub = cls.stub_class

        @functools.wraps(fn)
        def method(self: "Recorded", *args: Any, **kwargs: Any) -> Any:
            check_call(stub, name, args, kwargs)
            self._world.calls.append((stub, name, args))
            return fn(self, *args)

        method.__wrapped_stub__ = stub  # type: ignore[attr-defined]
        return method

    def __init__(self, world: "World") -> None:
        self._world = world


class World:
    """What all fake objects share: the call log, unique ids, and knobs for failures."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple]] = []
        self._ids = itertools.count(1)
        self.show_individual_frames = False
        self.refuse_third_party_metadata = False
        self.refuse_science_switch = False
        self.refuse_science_restore = False
        self.refuse_append = False
        # AppendToTimeline's endFrame: None follows the version (below); "inclusive" or
        # "exclusive" forces one, for a Resolve that does not match its version's rule.
        self.end_frame_rule: Optional[str] = None
        # An OTIO ImageSequenceReference does not import (ynput/ayon-core PR #44): whether
        # Resolve then refuses the file or brings the clips offline is not recorded.
        self.otio_image_sequences = "refuse"  # or "offline"
        self.resolve: Optional["FakeResolve"] = None
        # Names Resolve accepts, per property; anything else is refused (SetClipProperty False).
        self.rcm_names = {"ACEScg", "ACES2065-1", "ACEScct", "Rec.709 Gamma 2.4", "sRGB"}
        self.idt_names = {"No Input Transform", "ACEScg - CSC", "ACEScct - CSC"}
        self.clip_colours = set(stub_literal("ColorSet1"))
        self.refused_clip_colours: set[str] = set()

    def uid(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    def called(self, method: str) -> list[tuple]:
        return [args for _c, m, args in self.calls if m == method]

    def end_rule(self) -> str:
        """"exclusive" from Resolve 19: the item lasts endFrame - startFrame frames (measured on
        Studio 21.0: samuelgursky/davinci-resolve-mcp issue #82, PR #80; the change between 18
        and 19: nakano000/Resolve_Script PR #23); "inclusive" in 18."""
        if self.end_frame_rule:
            return self.end_frame_rule
        version = str(self.resolve.version if self.resolve is not None else "") or "21"
        try:
            major = int(version.split(".")[0])
        except ValueError:
            major = 21
        return "inclusive" if major < 19 else "exclusive"


# Resolve's own metadata fields (a subset of the Metadata panel) that SetMetadata accepts.
METADATA_FIELDS = {"Description", "Comments", "Keywords", "Shot", "Scene", "Take", "Good Take",
                   "VFX Notes", "Camera #", "Roll Card #", "Clip Name"}


class FakeResolve(Recorded):
    stub_class = "Resolve"

    def __init__(self, world: Optional[World] = None, *, product: str = "DaVinci Resolve Studio",
                 version: str = "21.0.0.40") -> None:
        world = world or World()
        super().__init__(world)
        self.world = world
        world.resolve = self
        self.product = product
        self.version = version
        self.page = "edit"
        self.project_manager = FakeProjectManager(world)

    def GetProjectManager(self):
        return self.project_manager

    def GetProductName(self):
        return self.product

    def GetVersionString(self):
        return self.version

    def GetVersion(self):
        return [int(p) for p in self.version.split(".")[:4]] + [""]

    def GetCurrentPage(self):
        return self.page

    def OpenPage(self, page):
        self.page = page
        return True

    @property
    def project(self) -> "FakeProject":
        return self.project_manager.project


class FakeProjectManager(Recorded):
    stub_class = "ProjectManager"

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.project = FakeProject(world)

    def GetCurrentProject(self):
        return self.project


class FakeProject(Recorded):
    stub_class = "Project"

    def __init__(self, world: World, name: str = "genplate test") -> None:
        super().__init__(world)
        self.name = name
        self.settings = {"colorScienceMode": "davinciYRGBColorManagedv2",
                         "timelineFrameRate": "24"}
        self.media_pool = FakeMediaPool(world, self)
        self.timelines: list[FakeTimeline] = []
        self.current: Optional[FakeTimeline] = None
        self.gallery = FakeGallery(world)
        self.still_failures = 0

    def add_timeline(self, name: str = "Edit 1", **kw: Any) -> "FakeTimeline":
        timeline = FakeTimeline(self._world, self, name, **kw)
        self.timelines.append(timeline)
        self.current = self.current or timeline
        return timeline

    def GetName(self):
        return self.name

    def GetMediaPool(self):
        return self.media_pool

    def GetCurrentTimeline(self):
        return self.current

    def SetCurrentTimeline(self, timeline):
        self.current = timeline
        return True

    def GetTimelineCount(self):
        return len(self.timelines)

    def GetTimelineByIndex(self, idx):
        return self.timelines[idx - 1] if 1 <= idx <= len(self.timelines) else None

    def GetSetting(self, name=None):
        if name is None:
            return dict(self.settings)
        return self.settings.get(name, "")

    def SetSetting(self, name, value):
        if name == "colorScienceMode":
            restoring = value != "davinciYRGBColorManagedv2"
            if (restoring and self._world.refuse_science_restore) or \
                    (not restoring and self._world.refuse_science_switch):
                return False
        self.settings[name] = value
        return True

    def GetGallery(self):
        return self.gallery

    def ExportCurrentFrameAsStill(self, path):
        if self.still_failures:
            self.still_failures -= 1
            return False
        if self.current is None or not str(path).lower().endswith(".png"):
            return False
        frame = self.current.playhead
        Path(path).write_bytes(png_bytes(64, 36, shade=frame % 256))
        self.current.stills.append((frame, str(path)))
        return True


class FakeGallery(Recorded):
    stub_class = "Gallery"

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.album: Optional[FakeGalleryStillAlbum] = FakeGalleryStillAlbum(world)

    def GetCurrentStillAlbum(self):
        return self.album


class FakeGalleryStill:
    """GalleryStill has no API of its own (stubs); it only travels between calls."""

    def __init__(self, frame: int) -> None:
        self.frame = frame


class FakeGalleryStillAlbum(Recorded):
    stub_class = "GalleryStillAlbum"

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.stills: list[FakeGalleryStill] = []

    def GetStills(self):
        return list(self.stills)

    def ExportStills(self, stills, folder, prefix, fmt):
        for n, still in enumerate(stills, 1):
            # Resolve appends its own still number to the prefix.
            Path(folder, f"{prefix}_1.{n}.1.{fmt}").write_bytes(png_bytes(4, 2, depth=16))
        return True

    def DeleteStills(self, stills):
        self.stills = [s for s in self.stills if s not in stills]
        return True


class FakeFolder(Recorded):
    stub_class = "Folder"

    def __init__(self, world: World, name: str) -> None:
        super().__init__(world)
        self.name = name
        self.subfolders: list[FakeFolder] = []
        self.clips: list[FakeMediaPoolItem] = []
        self.uid = world.uid("folder")

    def GetName(self):
        return self.name

    def GetSubFolderList(self):
        return list(self.subfolders)

    def GetClipList(self):
        return list(self.clips)

    def GetUniqueId(self):
        return self.uid

    def path(self) -> str:
        return self.name


class FakeMediaPool(Recorded):
    stub_class = "MediaPool"

    def __init__(self, world: World, project: FakeProject) -> None:
        super().__init__(world)
        self.project = project
        self.root = FakeFolder(world, "Master")
        self.current_folder = self.root

    def GetRootFolder(self):
        return self.root

    def AddSubFolder(self, folder, name):
        sub = FakeFolder(self._world, name)
        folder.subfolders.append(sub)
        return sub

    def GetCurrentFolder(self):
        return self.current_folder

    def SetCurrentFolder(self, folder):
        self.current_folder = folder
        return True

    def ImportMedia(self, items):
        made = []
        for item in items:
            if isinstance(item, dict):
                pattern, first, last = item["FilePath"], item["StartIndex"], item["EndIndex"]
                if self._world.show_individual_frames:
                    for f in range(first, last + 1):
                        made.append(self._clip(pattern % f, 1, 0, 0))
                else:
                    made.append(self._clip(pattern, last - first + 1, first, last))
            else:
                made.append(self._clip(str(item), 1, 0, 0))
        self.current_folder.clips.extend(made)
        return made

    def _clip(self, path: str, frames: int, first: int, last: int) -> "FakeMediaPoolItem":
        clip = FakeMediaPoolItem(self._world, self.project, path, frames)
        clip.props.update({"Start": str(first), "End": str(last)})
        return clip

    def DeleteClips(self, clips):
        for folder in _walk(self.root):
            folder.clips = [c for c in folder.clips if c not in clips]
        return True

    def AppendToTimeline(self, infos):
        return self._append(self.project.current, infos)

    def _append(self, timeline, infos):
        made = []
        for info in infos:
            clip = info["mediaPoolItem"]
            first = clip.first_frame()
            start = info.get("startFrame", first)
            end = info.get("endFrame", first + clip.frames - (0 if self._world.end_rule() ==
                                                              "exclusive" else 1))
            track = info.get("trackIndex", 1)
            record = info.get("recordFrame", timeline.end_frame())
            duration = end - start + (0 if self._world.end_rule() == "exclusive" else 1)
            # Past the clip's last frame: not recorded; the fake stops at the media's end.
            duration = max(0, min(duration, first + clip.frames - start))
            spot_taken = any(not (i.end <= record or i.start >= record + duration)
                             for i in timeline.tracks[track - 1])
            if self._world.refuse_append or spot_taken or timeline.locked.get(track):
                made.append(FakeTimelineItem(self._world, None, 0, 0, 0, broken=True))
                continue
            item = FakeTimelineItem(self._world, clip, record, duration, track, source_start=start)
            timeline.tracks[track - 1].append(item)
            made.append(item)
        return made

    def CreateEmptyTimeline(self, name):
        if any(t.name == name for t in self.project.timelines):
            return None  # Resolve refuses a second timeline of the same name
        timeline = FakeTimeline(self._world, self.project, name)
        self.project.timelines.append(timeline)
        return timeline

    def CreateTimelineFromClips(self, name, infos):
        timeline = self.CreateEmptyTimeline(name)
        if timeline is None:
            return None
        record = timeline.start_frame
        for info in infos:
            item = self._append(timeline, [{**info, "recordFrame": info.get("recordFrame", record)}])[0]
            record = item.end if not item.broken else record
        return timeline

    def ImportTimelineFromFile(self, path, options):
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        media = _otio_media(data)
        sequences = any(kind == "sequence" for _u, _f, kind in media)
        if sequences and self._world.otio_image_sequences == "refuse":
            return None
        name = options.get("timelineName") or data.get("name") or "Timeline"
        timeline = self.project.add_timeline(name)
        record = timeline.start_frame
        for url, frames, kind in media:
            clip = self._clip(url, frames, 0, frames - 1)
            if kind == "sequence":  # offline: Resolve found no media for it
                clip.props.update({"File Path": "", "Frames": "0"})
            self.current_folder.clips.append(clip)
            item = FakeTimelineItem(self._world, clip, record, frames, 1)
            timeline.tracks[0].append(item)
            record += frames
        self.imported_otio = data
        return timeline


def _otio_media(data: Any) -> list[tuple[str, int, str]]:
    """(media path, frame count, "sequence"|"file") of every clip in an OTIO JSON document."""
    found: list[tuple[str, int, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("OTIO_SCHEMA", "")).startswith("Clip"):
                refs = node.get("media_references") or {}
                ref = refs.get(node.get("active_media_reference_key", "DEFAULT_MEDIA")) \
                    if refs else node.get("media_reference")
                ref = ref or {}
                url = ref.get("target_url") or (
                    str(ref.get("target_url_base", "")) + str(ref.get("name_prefix", "")) +
                    "%0" + str(ref.get("frame_zero_padding", 4)) + "d" +
                    str(ref.get("name_suffix", "")))
                frames = int(round(((node.get("source_range") or {}).get("duration") or {})
                                   .get("value", 1)))
                kind = "sequence" if str(ref.get("OTIO_SCHEMA", "")).startswith(
                    "ImageSequenceReference") else "file"
                found.append((url.replace("file://", ""), frames, kind))
                return
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(data)
    return found


def _walk(folder: FakeFolder):
    yield folder
    for sub in folder.subfolders:
        yield from _walk(sub)


class FakeMediaPoolItem(Recorded):
    stub_class = "MediaPoolItem"

    def __init__(self, world: World, project: FakeProject, path: str, frames: int) -> None:
        super().__init__(world)
        self.project = project
        self.uid = world.uid("clip")
        self.frames = frames
        self.props = {"File Path": path, "File Name": Path(path).name, "Frames": str(frames),
                      "FPS": "24.0", "Input Color Space": "Project", "IDT": ""}
        self.metadata: dict[str, str] = {}
        self.third_party: dict[str, str] = {}
        self.colour = ""

    def first_frame(self) -> int:
        """The clip's first source frame as Resolve numbers it ("Start")."""
        try:
            return int(self.props.get("Start") or 0)
        except ValueError:
            return 0

    def GetName(self):
        return self.props["File Name"]

    def GetUniqueId(self):
        return self.uid

    def GetMediaId(self):
        return self.uid

    def GetClipProperty(self, key=None):
        if key is None:
            return dict(self.props)
        return self.props.get(key, "")

    def SetClipProperty(self, key, value):
        mode = self.project.settings.get("colorScienceMode", "")
        if key == "Input Color Space":
            if mode != "davinciYRGBColorManagedv2" or value not in self._world.rcm_names:
                return False
        elif key == "IDT":
            if not mode.startswith("aces") or value not in self._world.idt_names:
                return False
        elif key not in self.props:
            return False
        self.props[key] = value
        return True

    def GetMetadata(self, key=None):
        return dict(self.metadata) if key is None else self.metadata.get(key, "")

    def SetMetadata(self, key, value=None):
        data = key if isinstance(key, dict) else {key: value}
        if not all(k in METADATA_FIELDS and isinstance(v, str) for k, v in data.items()):
            return False
        self.metadata.update(data)
        return True

    def GetThirdPartyMetadata(self, key=None):
        return dict(self.third_party) if key is None else self.third_party.get(key, "")

    def SetThirdPartyMetadata(self, key, value=None):
        if self._world.refuse_third_party_metadata:
            return False
        data = key if isinstance(key, dict) else {key: value}
        if not all(isinstance(v, str) for v in data.values()):
            return False
        self.third_party.update(data)
        return True

    def GetClipColor(self):
        return self.colour

    def SetClipColor(self, colour):
        if colour not in self._world.clip_colours or colour in self._world.refused_clip_colours:
            return False
        self.colour = colour
        return True


class FakeTimeline(Recorded):
    stub_class = "Timeline"

    def __init__(self, world: World, project: FakeProject, name: str, *, tracks: int = 1,
                 start_frame: int = 86400, fps: str = "24", drop: bool = False) -> None:
        super().__init__(world)
        self.project = project
        self.name = name
        self.uid = world.uid("timeline")
        self.start_frame = start_frame
        self.settings = {"timelineFrameRate": fps, "timelineDropFrameTimecode": "1" if drop else "0"}
        self.tracks: list[list[FakeTimelineItem]] = [[] for _ in range(tracks)]
        self.locked: dict[int, bool] = {}
        self.playhead = start_frame
        self.markers: dict[float, dict] = {}
        self.stills: list[tuple[int, str]] = []
        self.refuse_add_track = False

    # test helpers
    def occupy(self, track: int, start: int, duration: int) -> "FakeTimelineItem":
        clip = FakeMediaPoolItem(self._world, self.project, "/elsewhere/plate.%04d.exr", duration)
        item = FakeTimelineItem(self._world, clip, start, duration, track)
        self.tracks[track - 1].append(item)
        return item

    def end_frame(self) -> int:
        return max([self.start_frame] + [i.end for t in self.tracks for i in t])

    def _fps(self):
        from genplate.resolve.timecode import parse_rate
        return parse_rate(self.settings["timelineFrameRate"])[0]

    def GetName(self):
        return self.name

    def GetUniqueId(self):
        return self.uid

    def GetStartFrame(self):
        return self.start_frame

    def GetEndFrame(self):
        return self.end_frame()

    def GetStartTimecode(self):
        from genplate.resolve.timecode import frame_to_timecode
        return frame_to_timecode(self.start_frame, self._fps(),
                                 self.settings["timelineDropFrameTimecode"] == "1")

    def GetSetting(self, name=None):
        return dict(self.settings) if name is None else self.settings.get(name, "")

    def GetTrackCount(self, kind):
        return len(self.tracks) if kind == "video" else 0

    def AddTrack(self, kind, options):
        if self.refuse_add_track or kind != "video":
            return False
        self.tracks.append([])
        return True

    def GetItemListInTrack(self, kind, index):
        if kind != "video" or not 1 <= index <= len(self.tracks):
            return None
        return sorted(self.tracks[index - 1], key=lambda i: i.start)

    def DeleteClips(self, items, ripple):
        for track in self.tracks:
            track[:] = [i for i in track if i not in items]
        return True

    def GetIsTrackLocked(self, kind, index):
        return bool(self.locked.get(index))

    def GetCurrentTimecode(self):
        from genplate.resolve.timecode import frame_to_timecode
        return frame_to_timecode(self.playhead, self._fps(),
                                 self.settings["timelineDropFrameTimecode"] == "1")

    def SetCurrentTimecode(self, tc):
        from genplate.resolve.timecode import timecode_to_frame
        self.playhead = timecode_to_frame(tc, self._fps())
        return True

    def GetMarkers(self):
        return dict(self.markers)

    def AddMarker(self, frame, color, name, note, duration, custom=""):
        self.markers[float(frame)] = {"color": color, "duration": duration, "note": note,
                                      "name": name, "customData": custom}
        return True

    def GrabStill(self):
        still = FakeGalleryStill(self.playhead)
        self.project.gallery.album.stills.append(still)
        return still

    def GetCurrentVideoItem(self):
        for track in reversed(self.tracks):
            for item in track:
                if item.start <= self.playhead < item.end:
                    return item
        return None


class FakeTimelineItem(Recorded):
    stub_class = "TimelineItem"

    def __init__(self, world: World, clip: Optional[FakeMediaPoolItem], start: int,
                 duration: int, track: int, *, source_start: int = 0, broken: bool = False) -> None:
        super().__init__(world)
        self.clip = clip
        self.start = start
        self.duration = duration
        self.track = track
        self.source_start = source_start
        self.broken = broken
        self.uid = world.uid("item")
        self.takes: list[dict] = []
        self.selected = 0
        self.colour = ""

    @property
    def end(self) -> int:
        return self.start + self.duration

    def GetName(self):
        return None if self.broken else self.current_clip().GetName()

    def current_clip(self):
        if self.takes and self.selected:
            return self.takes[self.selected - 1]["mediaPoolItem"]
        return self.clip

    def GetUniqueId(self):
        return self.uid

    def GetStart(self, subframe=False):
        return None if self.broken else self.start

    def GetEnd(self, subframe=False):
        return None if self.broken else self.end

    def GetDuration(self, subframe=False):
        return None if self.broken else self.duration

    def GetMediaPoolItem(self):
        return None if self.broken else self.current_clip()

    def GetTrackTypeAndIndex(self):
        return ["video", self.track]

    def GetClipColor(self):
        return self.colour

    def SetClipColor(self, colour):
        if colour not in self._world.clip_colours:
            return False
        self.colour = colour
        return True

    def AddTake(self, clip, start=None, end=None):
        """"By default, the full clip extents is added" (README, TimelineItem.AddTake).
        Whether an explicit endFrame is exclusive here too is open (hosts.md §9): the fake
        keeps what it was given."""
        if self.broken:
            return False
        if not self.takes:
            self.takes.append({"mediaPoolItem": self.clip, "startFrame": self.source_start,
                               "endFrame": self.source_start + self.duration - 1})
            self.selected = 1
        first = clip.first_frame()
        self.takes.append({"mediaPoolItem": clip,
                           "startFrame": first if start is None else start,
                           "endFrame": first + clip.frames - 1 if end is None else end})
        return True

    def GetTakesCount(self):
        return len(self.takes)

    def GetSelectedTakeIndex(self):
        return self.selected

    def GetTakeByIndex(self, idx):
        return dict(self.takes[idx - 1]) if 1 <= idx <= len(self.takes) else None

    def SelectTakeByIndex(self, idx):
        if not 1 <= idx <= len(self.takes):
            return False
        self.selected = idx
        return True


FAKE_CLASSES = [FakeResolve, FakeProjectManager, FakeProject, FakeGallery,
                FakeGalleryStillAlbum, FakeFolder,
                FakeMediaPool, FakeMediaPoolItem, FakeTimeline, FakeTimelineItem]


def png_bytes(width: int, height: int, *, shade: int = 128, depth: int = 8) -> bytes:
    """A tiny grey RGB PNG (stdlib only), as Resolve's still export would write."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    sample = bytes([shade] * (3 * depth // 8))
    raw = b"".join(b"\x00" + sample * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth,
                                                             2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class FakeScriptModule:
    """What fusionscript / DaVinciResolveScript looks like: scriptapp("Resolve")."""

    def __init__(self, resolve: Optional[FakeResolve]) -> None:
        self.resolve = resolve
        self.asked: list[str] = []

    def scriptapp(self, name: str):
        self.asked.append(name)
        return self.resolve if name == "Resolve" else None
