"""A published take into Resolve: a bin per shot, one clip per version, a timeline clip or take.

Everything that needs no Resolve is a plain function of a take summary (the dict
``genplate takes --json`` prints: dir, pattern, first, last, colorspace, fps, version, shot,
name, kind, latest, thumbnail, take_json, ...). The functions that take Resolve objects call
only documented API methods (fusionscript-stubs 21.x; the tests' fake enforces it) and check
every answer, because Resolve reports most failures as a False, a None or an empty list rather
than an exception (hosts.md §3.4-3.5).
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

from .colour import set_input_colour_space
from .timecode import parse_rate, timecode_to_frame

GENPLATE_BIN = "genplate"
LATEST_COLOUR = "Green"
OLDER_COLOUR = "Orange"
PROVENANCE_PREFIX = "genplate."
_PRINTF = re.compile(r"%0?(\d*)d")


class InsertError(RuntimeError):
    """The take could not be brought into Resolve; the message says what to change."""


class PlacementError(InsertError):
    """Resolve did not put the clip where we asked (an occupied or locked track, no timeline)."""


# -- plain data ------------------------------------------------------------------------------

def check_take(take: dict) -> dict:
    """The take summary's essentials, validated before Resolve is touched."""
    missing = [k for k in ("pattern", "first", "last", "shot", "name", "version") if k not in take]
    if missing:
        raise InsertError(f"the take summary lacks {', '.join(missing)}; pass a take as "
                          f"`genplate takes --json` prints it")
    pattern = str(take["pattern"])
    if not _PRINTF.search(pattern):
        raise InsertError(f"the take's pattern {pattern!r} has no frame number (%04d)")
    try:
        first, last = int(take["first"]), int(take["last"])
    except (TypeError, ValueError):
        raise InsertError(f"the take's frame range {take['first']!r}-{take['last']!r} is not "
                          f"two whole numbers") from None
    if first > last:
        raise InsertError(f"the take's first frame {first} is after its last frame {last}")
    for frame in (first, last):
        path = frame_path(pattern, frame)
        if not os.path.isfile(path):
            raise InsertError(f"frame {frame} of {take['shot']}/{take['name']} "
                              f"v{int(take['version']):03d} is missing: {path}")
    return {"pattern": pattern, "first": first, "last": last, "count": last - first + 1}


def frame_path(pattern: str, frame: int) -> str:
    return _PRINTF.sub(lambda m: f"{frame:0{int(m.group(1) or 0)}d}", pattern, count=1)


def import_clip_info(take: dict) -> dict:
    """The ImportMedia clipInfo that makes the whole EXR sequence one clip (hosts.md §3.4)."""
    return {"FilePath": str(take["pattern"]), "StartIndex": int(take["first"]),
            "EndIndex": int(take["last"])}


def bin_path(take: dict) -> list[str]:
    """genplate / <shot>: one bin per shot under the genplate bin."""
    return [GENPLATE_BIN, str(take["shot"])]


def version_label(take: dict) -> str:
    return f"v{int(take['version']):03d}"


def provenance(take: dict) -> dict[str, str]:
    """The take's identity for the clip's third-party metadata (strings only, no secrets).

    Third-party metadata takes any key (SetThirdPartyMetadata), so the machine-readable record
    goes there and Resolve's own fields stay free for the editor.
    """
    keys = ("shot", "name", "version", "kind", "take_json", "job_id", "remote_id",
            "colorspace", "fps")
    data = {PROVENANCE_PREFIX + k: str(take[k]) for k in keys if take.get(k) not in (None, "")}
    data[PROVENANCE_PREFIX + "frames"] = f"{int(take['first'])}-{int(take['last'])}"
    return data


def standard_metadata(take: dict) -> dict[str, str]:
    """What an editor sees in Resolve's Metadata panel."""
    data = {"Shot": str(take["shot"]), "Take": f"{take['name']} {version_label(take)}",
            "Keywords": "genplate"}
    prompt = str(take.get("prompt") or "").strip()
    if prompt:
        data["Description"] = prompt
    return data


def clip_colour(latest: bool) -> str:
    return LATEST_COLOUR if latest else OLDER_COLOUR


def free_track(occupied: dict[int, list[tuple[int, int]]], locked: set[int], record: int,
               duration: int) -> Optional[int]:
    """The lowest unlocked video track with nothing in [record, record + duration)."""
    end = record + duration
    for index in sorted(occupied):
        if index in locked:
            continue
        if all(e <= record or s >= end for s, e in occupied[index]):
            return index
    return None


def otio_export_args(takes: list[dict], output: str, timeline_name: str) -> list[str]:
    """`genplate export otio ...` for a set of takes (each named by its take.json)."""
    if not takes:
        raise InsertError("choose at least one take for the timeline")
    refs = []
    for take in takes:
        ref = take.get("take_json") or take.get("dir")
        if not ref:
            raise InsertError(f"take {take.get('shot')}/{take.get('name')} has no take_json")
        refs.append(str(ref))
    return ["export", "otio", *refs, "-o", output, "--timeline-name", timeline_name, "--json"]


# -- media pool ------------------------------------------------------------------------------

def ensure_bin(media_pool: Any, parts: list[str]) -> Any:
    """The bin at root/parts..., created where missing (never a duplicate of a same-named bin)."""
    folder = media_pool.GetRootFolder()
    if folder is None:
        raise InsertError("Resolve gave no media pool root folder; open a project first")
    for name in parts:
        existing = next((f for f in (folder.GetSubFolderList() or []) if f.GetName() == name),
                        None)
        if existing is None:
            existing = media_pool.AddSubFolder(folder, name)
            if not existing:
                raise InsertError(f"Resolve refused to create the bin {'/'.join(parts)}")
        folder = existing
    return folder


def read_provenance(clip: Any) -> dict[str, str]:
    """genplate's record on a clip ({} for clips genplate did not make)."""
    try:
        data = clip.GetThirdPartyMetadata()
    except Exception:  # clips such as timelines or compound clips may not answer
        return {}
    if not isinstance(data, dict):
        return {}
    return {k[len(PROVENANCE_PREFIX):]: str(v) for k, v in data.items()
            if isinstance(k, str) and k.startswith(PROVENANCE_PREFIX)}


def _same_take(record: dict, take: dict) -> bool:
    return record.get("shot") == str(take["shot"]) and record.get("name") == str(take["name"])


def find_clip(folder: Any, take: dict) -> Any:
    """The clip already imported for this very version, if any (so a re-insert never duplicates)."""
    for clip in folder.GetClipList() or []:
        record = read_provenance(clip)
        if _same_take(record, take) and record.get("version") == str(take["version"]):
            return clip
    return None


def tag_clip(clip: Any, take: dict) -> dict:
    """Provenance into third-party metadata (checked), editor-facing fields into metadata."""
    record = provenance(take)
    if not clip.SetThirdPartyMetadata(record):
        raise InsertError("Resolve refused the clip's third-party metadata (genplate's "
                          "provenance record); Resolve 18.5 or newer is required")
    back = read_provenance(clip)
    if back.get("version") != str(take["version"]) or back.get("shot") != str(take["shot"]):
        raise InsertError("the clip's provenance did not read back as written")
    warnings = []
    fields = standard_metadata(take)
    if not clip.SetMetadata(fields):
        for key, value in fields.items():
            if not clip.SetMetadata(key, value):
                warnings.append(f"Resolve refused the metadata field {key!r}")
    return {"provenance": sorted(record), "warnings": warnings}


def import_take(media_pool: Any, take: dict) -> tuple[Any, Any, bool]:
    """(clip, bin, created): the take's sequence as ONE clip in genplate/<shot>."""
    facts = check_take(take)
    folder = ensure_bin(media_pool, bin_path(take))
    clip = find_clip(folder, take)
    if clip is not None:
        return clip, folder, False
    previous = media_pool.GetCurrentFolder()
    if not media_pool.SetCurrentFolder(folder):
        raise InsertError(f"Resolve would not open the bin {'/'.join(bin_path(take))}")
    try:
        items = media_pool.ImportMedia([import_clip_info(take)]) or []
    finally:
        if previous is not None:
            media_pool.SetCurrentFolder(previous)
    if not items:
        raise InsertError(f"Resolve imported nothing from {facts['pattern']} frames "
                          f"{facts['first']}-{facts['last']}; check that Resolve can read "
                          f"that folder (mounted, same path on this machine)")
    if len(items) != 1:
        media_pool.DeleteClips(list(items))
        raise InsertError(f"Resolve imported {len(items)} clips instead of one sequence; turn "
                          f"off 'Show Individual Frames' in the media pool's options and insert "
                          f"again")
    clip = items[0]
    frames = _int(clip.GetClipProperty("Frames"))
    if frames is not None and frames != facts["count"]:
        media_pool.DeleteClips([clip])
        raise InsertError(f"Resolve read {frames} frames of {facts['pattern']}, the take has "
                          f"{facts['count']} ({facts['first']}-{facts['last']})")
    return clip, folder, True


def recolour_versions(folder: Any, take: dict) -> dict[str, str]:
    """Latest version green, older versions orange, among this take name's clips in the bin."""
    clips = []
    for clip in folder.GetClipList() or []:
        record = read_provenance(clip)
        if _same_take(record, take) and _int(record.get("version")) is not None:
            clips.append((_int(record["version"]), clip))
    if not clips:
        return {}
    newest = max(v for v, _c in clips)
    colours = {}
    for version, clip in clips:
        latest = version == newest and (version != int(take["version"]) or
                                        bool(take.get("latest", True)))
        colour = clip_colour(latest)
        if clip.GetClipColor() != colour and not clip.SetClipColor(colour):
            raise InsertError(f"Resolve refused the clip colour {colour!r}")
        colours[f"v{version:03d}"] = colour
    return colours


# -- timeline --------------------------------------------------------------------------------

def timeline_rate(project: Any, timeline: Any) -> tuple[float, bool]:
    """(fps, drop frame) of the timeline (its own setting, else the project's)."""
    value = timeline.GetSetting("timelineFrameRate") or project.GetSetting("timelineFrameRate")
    fps, drop = parse_rate(value or 24)
    flag = timeline.GetSetting("timelineDropFrameTimecode")
    if str(flag).strip() in ("1", "true", "True"):
        drop = True
    return fps, drop


def playhead_frame(project: Any, timeline: Any) -> int:
    """The absolute frame under the playhead (Cut/Edit/Color/Fairlight/Deliver pages only)."""
    tc = timeline.GetCurrentTimecode()
    if not tc:
        raise PlacementError("Resolve gave no playhead position; open the Edit or Color page "
                             "with the timeline, or choose a record frame")
    fps, drop = timeline_rate(project, timeline)
    return timecode_to_frame(tc, fps, drop if ";" not in tc else True)


def _video_items(timeline: Any, index: int) -> list[Any]:
    return list(timeline.GetItemListInTrack("video", index) or [])


def occupancy(timeline: Any) -> tuple[dict[int, list[tuple[int, int]]], set[int]]:
    """({video track: [(start, end)]}, {locked tracks}) of the timeline."""
    occupied: dict[int, list[tuple[int, int]]] = {}
    locked: set[int] = set()
    for index in range(1, int(timeline.GetTrackCount("video") or 0) + 1):
        spans = []
        for item in _video_items(timeline, index):
            start, end = _int(item.GetStart(False)), _int(item.GetEnd(False))
            if start is not None and end is not None:
                spans.append((start, end))
        occupied[index] = spans
        if timeline.GetIsTrackLocked("video", index):
            locked.add(index)
    return occupied, locked


def source_range(clip: Any, count: int) -> tuple[int, int]:
    """The clip's own first and last source frame, as Resolve numbers them.

    Whether Resolve numbers an imported 1001-1121 sequence from 0 or from 1001 is open
    (hosts.md §8); its "Start"/"End" clip properties answer it, so they win when they agree
    with the take's length, else the extents are counted from 0.
    """
    start, end = _int(clip.GetClipProperty("Start")), _int(clip.GetClipProperty("End"))
    if start is not None and end is not None and end - start + 1 == count:
        return start, end
    return 0, count - 1


def place(project: Any, media_pool: Any, clip: Any, take: dict, *,
          track: Optional[int] = None, record_frame: Optional[int] = None) -> dict:
    """Put the clip on the current timeline at the playhead (or record_frame), verified.

    The track is ``track`` when given, else the lowest unlocked free video track, else a new
    one. Resolve can answer an occupied spot with an item whose getters return None, so the
    placement is confirmed by finding the clip at the record frame afterwards.
    """
    timeline = project.GetCurrentTimeline()
    if timeline is None:
        raise PlacementError("no timeline is open in Resolve; open one (or create it) and "
                             "insert again")
    count = int(take["last"]) - int(take["first"]) + 1
    record = playhead_frame(project, timeline) if record_frame is None else int(record_frame)
    occupied, locked = occupancy(timeline)
    if track is not None:
        if track not in occupied:
            raise PlacementError(f"the timeline has {len(occupied)} video tracks; there is no "
                                 f"V{track}")
        if track in locked:
            raise PlacementError(f"video track V{track} is locked; unlock it or choose another")
        if free_track({track: occupied[track]}, set(), record, count) is None:
            raise PlacementError(f"V{track} already has a clip between frames {record} and "
                                 f"{record + count - 1}; choose a free track or move the "
                                 f"playhead")
        target = track
    else:
        target = free_track(occupied, locked, record, count)
        if target is None:
            before = len(occupied)
            if not timeline.AddTrack("video", {}) or \
                    int(timeline.GetTrackCount("video") or 0) != before + 1:
                raise PlacementError("every video track is busy at the playhead and Resolve "
                                     "would not add one; free a track or choose a record frame")
            target = before + 1
    start, end = source_range(clip, count)
    info = {"mediaPoolItem": clip, "startFrame": start, "endFrame": end, "mediaType": 1,
            "trackIndex": target, "recordFrame": record}
    made = media_pool.AppendToTimeline([info]) or []
    placed = next((item for item in _video_items(timeline, target)
                   if _int(item.GetStart(False)) == record and _same_clip(item.GetMediaPoolItem(), clip)),
                  None)
    if placed is None:
        raise PlacementError(
            f"Resolve did not place {take['shot']}/{take['name']} {version_label(take)} on V{target} "
            f"at frame {record} ({len(made)} item(s) returned); the spot may be taken or the "
            f"track locked: move the playhead or choose another track")
    warnings = []
    fps, _drop = timeline_rate(project, timeline)
    take_fps = _float(take.get("fps"))
    if take_fps and abs(take_fps - fps) > 0.01:
        warnings.append(f"the take is {take_fps:g} fps and the timeline {fps:g} fps: Resolve "
                        f"plays its frames at the timeline's rate")
    duration = _int(placed.GetDuration(False))
    if duration is not None and duration != count:
        warnings.append(f"the timeline clip is {duration} frames long, the take {count}")
    return {"timeline": timeline.GetName(), "track": target, "record_frame": record,
            "item": placed, "warnings": warnings}


def _same_clip(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    return a.GetUniqueId() == b.GetUniqueId()


def find_stack(timeline: Any, take: dict) -> Any:
    """A timeline item showing another version of this take (its current clip or a take)."""
    for index in range(1, int(timeline.GetTrackCount("video") or 0) + 1):
        for item in _video_items(timeline, index):
            clip = item.GetMediaPoolItem()
            if clip is not None and _same_take(read_provenance(clip), take):
                return item
    return None


def stack_take(item: Any, clip: Any, take: dict) -> dict:
    """Add the clip as a take on the item (a take selector) and select it, verified."""
    count = int(take["last"]) - int(take["first"]) + 1
    existing = int(item.GetTakesCount() or 0)
    for index in range(1, existing + 1):
        info = item.GetTakeByIndex(index) or {}
        if _same_clip(info.get("mediaPoolItem"), clip):
            if not item.SelectTakeByIndex(index):
                raise InsertError(f"Resolve would not select take {index} of the timeline clip")
            return {"take_index": index, "takes": existing, "added": False}
    if existing == 0 and _same_clip(item.GetMediaPoolItem(), clip):
        return {"take_index": 0, "takes": 0, "added": False}
    start, end = source_range(clip, count)
    if not item.AddTake(clip, start, end):
        raise InsertError(f"Resolve refused to add {version_label(take)} as a take on the "
                          f"timeline clip {item.GetName()!r}")
    total = int(item.GetTakesCount() or 0)
    info = item.GetTakeByIndex(total) or {}
    if total < 2 or not _same_clip(info.get("mediaPoolItem"), clip):
        raise InsertError("Resolve reported the take added but it is not in the take selector")
    if not item.SelectTakeByIndex(total) or int(item.GetSelectedTakeIndex() or 0) != total:
        raise InsertError(f"Resolve would not select the new take {total} on "
                          f"{item.GetName()!r}")
    return {"take_index": total, "takes": total, "added": True}


# -- the whole insertion ---------------------------------------------------------------------

def insert_take(project: Any, take: dict, *, track: Optional[int] = None,
                record_frame: Optional[int] = None, on_timeline: bool = True,
                stack: bool = True) -> dict:
    """Bin, clip, colour space, provenance, clip colours, then the timeline (a clip or a take).

    Returns a JSON-able summary (no Resolve objects). Raises InsertError/PlacementError or
    ColourSpaceError with a message for the artist.
    """
    media_pool = project.GetMediaPool()
    if media_pool is None:
        raise InsertError("Resolve gave no media pool; open a project first")
    clip, folder, created = import_take(media_pool, take)
    result: dict[str, Any] = {"bin": "/".join(bin_path(take)), "clip": clip.GetName(),
                              "imported": created, "warnings": []}
    tagged = tag_clip(clip, take)
    result["warnings"] += tagged["warnings"]
    if take.get("colorspace"):
        result["colour"] = set_input_colour_space(project, clip, str(take["colorspace"]))
    else:
        result["warnings"].append("the take names no colour space; the clip keeps Resolve's default")
    result["clip_colours"] = recolour_versions(folder, take)
    if not on_timeline:
        return result
    timeline = project.GetCurrentTimeline()
    existing = find_stack(timeline, take) if (stack and timeline is not None) else None
    if existing is not None:
        stacked = stack_take(existing, clip, take)
        existing.SetClipColor(clip_colour(bool(take.get("latest", True))))
        # takes == 0: this very clip already is the timeline clip (no take selector needed).
        mode = "take" if stacked["takes"] else "already"
        result["timeline"] = {"timeline": timeline.GetName(), "mode": mode, **stacked,
                              "record_frame": _int(existing.GetStart(False))}
        return result
    placed = place(project, media_pool, clip, take, track=track, record_frame=record_frame)
    item = placed.pop("item")
    item.SetClipColor(clip_colour(bool(take.get("latest", True))))
    result["warnings"] += placed.pop("warnings")
    result["timeline"] = {"mode": "clip", **placed}
    return result


# -- a set of takes as a new timeline (OTIO) -------------------------------------------------

def export_otio(takes: list[dict], timeline_name: str, *,
                run_json: Optional[Callable[[list[str]], dict]] = None,
                directory: Optional[str] = None) -> str:
    """Write the takes as an .otio through the engine (`genplate export otio`); its path.

    Runs a subprocess and waits: call it off the GUI thread.
    """
    if run_json is None:
        from genplate.panel.commands import run_json as engine_json
        run_json = engine_json
    fd, out = tempfile.mkstemp(prefix="genplate_", suffix=".otio", dir=directory)
    os.close(fd)
    answer = run_json(otio_export_args(takes, out, timeline_name))
    path = str(answer.get("path") or out)
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise InsertError(f"`genplate export otio` wrote no timeline file ({path})")
    return path


def unique_timeline_name(project: Any, name: str) -> str:
    taken = set()
    for index in range(1, int(project.GetTimelineCount() or 0) + 1):
        timeline = project.GetTimelineByIndex(index)
        if timeline is not None:
            taken.add(timeline.GetName())
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"


def import_otio_timeline(project: Any, otio_path: str, takes: list[dict],
                         timeline_name: str) -> dict:
    """A new timeline from the .otio, its clips in genplate/<shot> bins, tagged and coloured."""
    media_pool = project.GetMediaPool()
    name = unique_timeline_name(project, timeline_name)
    folder = ensure_bin(media_pool, [GENPLATE_BIN, "timelines"])
    previous = media_pool.GetCurrentFolder()
    media_pool.SetCurrentFolder(folder)
    try:
        timeline = media_pool.ImportTimelineFromFile(
            otio_path, {"timelineName": name, "importSourceClips": True})
    finally:
        if previous is not None:
            media_pool.SetCurrentFolder(previous)
    if not timeline:
        raise InsertError(f"Resolve could not import {otio_path} as a timeline (OTIO import "
                          f"needs Resolve 18.5 or newer)")
    by_path = {os.path.normpath(str(t["pattern"])): t for t in takes}
    by_dir = {os.path.normpath(str(t.get("dir") or Path(str(t["pattern"])).parent)): t
              for t in takes}
    tagged, warnings = 0, []
    seen: set[str] = set()
    for index in range(1, int(timeline.GetTrackCount("video") or 0) + 1):
        for item in _video_items(timeline, index):
            clip = item.GetMediaPoolItem()
            if clip is None or clip.GetUniqueId() in seen:
                continue
            seen.add(clip.GetUniqueId())
            take = _take_for_clip(clip, by_path, by_dir)
            if take is None:
                warnings.append(f"timeline clip {item.GetName()!r} matches none of the takes")
                continue
            tag_clip(clip, take)
            if take.get("colorspace"):
                set_input_colour_space(project, clip, str(take["colorspace"]))
            clip.SetClipColor(clip_colour(bool(take.get("latest", True))))
            tagged += 1
    return {"timeline": timeline.GetName(), "otio": otio_path, "clips_tagged": tagged,
            "takes": len(takes), "warnings": warnings}


def _take_for_clip(clip: Any, by_path: dict, by_dir: dict) -> Optional[dict]:
    path = str(clip.GetClipProperty("File Path") or "")
    if not path:
        return None
    norm = os.path.normpath(path)
    if norm in by_path:
        return by_path[norm]
    return by_dir.get(os.path.dirname(norm))


def _float(value: Any) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> Optional[int]:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


__all__ = ["InsertError", "PlacementError", "GENPLATE_BIN", "LATEST_COLOUR", "OLDER_COLOUR",
           "check_take", "frame_path", "import_clip_info", "bin_path", "provenance",
           "standard_metadata", "clip_colour", "free_track", "otio_export_args", "ensure_bin",
           "read_provenance", "find_clip", "tag_clip", "import_take", "recolour_versions",
           "timeline_rate", "playhead_frame", "occupancy", "source_range", "place",
           "find_stack", "stack_take", "insert_take", "export_otio", "unique_timeline_name",
           "import_otio_timeline"]
