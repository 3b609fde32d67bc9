"""Clips onto a Resolve timeline, where asked and as long as the take, read back after each call.

Resolve answers most failures with a False, a None or an item whose getters return None rather
than an exception (hosts.md §3.5), and the meaning of one argument changed between releases:
AppendToTimeline's clipInfo ``endFrame`` is exclusive from Resolve 19 (the item lasts
``endFrame - startFrame`` frames; measured on Studio 21.0, davinci-resolve-mcp issue #82) and
inclusive in 18 (nakano000/Resolve_Script PR #23, hosts.md §9). So the end frame is chosen from
``resolve.GetVersion()``, the placed item's length is read back, and a length one frame off is
taken as the other counting: the item is removed and appended again with the other end.
"""
from __future__ import annotations

from typing import Any, Optional

from .timecode import parse_rate, timecode_to_frame

EXCLUSIVE, INCLUSIVE = "exclusive", "inclusive"


class InsertError(RuntimeError):
    """The take could not be brought into Resolve; the message says what to change."""


class PlacementError(InsertError):
    """Resolve did not put the clip where we asked (an occupied or locked track, no timeline)."""


def as_int(value: Any) -> Optional[int]:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _label(take: dict) -> str:
    return f"{take['shot']}/{take['name']} v{int(take['version']):03d}"


# -- the timeline as it is -------------------------------------------------------------------

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


def video_items(timeline: Any, index: int) -> list[Any]:
    return list(timeline.GetItemListInTrack("video", index) or [])


def occupancy(timeline: Any) -> tuple[dict[int, list[tuple[int, int]]], set[int]]:
    """({video track: [(start, end)]}, {locked tracks}) of the timeline."""
    occupied: dict[int, list[tuple[int, int]]] = {}
    locked: set[int] = set()
    for index in range(1, int(timeline.GetTrackCount("video") or 0) + 1):
        spans = []
        for item in video_items(timeline, index):
            start, end = as_int(item.GetStart(False)), as_int(item.GetEnd(False))
            if start is not None and end is not None:
                spans.append((start, end))
        occupied[index] = spans
        if timeline.GetIsTrackLocked("video", index):
            locked.add(index)
    return occupied, locked


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


def source_range(clip: Any, count: int) -> tuple[int, int]:
    """The clip's own first and last source frame, as Resolve numbers them.

    Whether Resolve numbers an imported 1001-1121 sequence from 0 or from 1001 is open
    (hosts.md §8); its "Start"/"End" clip properties answer it, so they win when they agree
    with the take's length, else the extents are counted from 0.
    """
    start, end = as_int(clip.GetClipProperty("Start")), as_int(clip.GetClipProperty("End"))
    if start is not None and end is not None and end - start + 1 == count:
        return start, end
    return 0, count - 1


def same_clip(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    return a.GetUniqueId() == b.GetUniqueId()


# -- endFrame, counted the way this Resolve counts it ------------------------------------------

def end_frame_rule(version: Any) -> str:
    """EXCLUSIVE from Resolve 19 (and when the version is unknown: the current releases),
    INCLUSIVE before. ``version`` is resolve.GetVersion(): [major, minor, patch, build, suffix]."""
    major = as_int(version[0]) if isinstance(version, (list, tuple)) and version else None
    return INCLUSIVE if major is not None and major < 19 else EXCLUSIVE


def end_frame(start: int, count: int, rule: str) -> int:
    return start + count if rule == EXCLUSIVE else start + count - 1


def append_verified(media_pool: Any, timeline: Any, clip: Any, *, count: int, track: int,
                    record: int, version: Any = None) -> tuple[Any, dict]:
    """AppendToTimeline one clip at (track, record), its whole ``count`` frames; the placed
    item (or None when Resolve did not place it) and {"rule", "expected", "corrected"}."""
    expected = end_frame_rule(version)
    other = INCLUSIVE if expected == EXCLUSIVE else EXCLUSIVE
    start, _end = source_range(clip, count)
    for rule in (expected, other):
        info = {"mediaPoolItem": clip, "startFrame": start,
                "endFrame": end_frame(start, count, rule), "mediaType": 1,
                "trackIndex": track, "recordFrame": record}
        media_pool.AppendToTimeline([info])
        placed = next((item for item in video_items(timeline, track)
                       if as_int(item.GetStart(False)) == record
                       and same_clip(item.GetMediaPoolItem(), clip)), None)
        outcome = {"rule": rule, "expected": expected, "corrected": rule != expected}
        if placed is None:
            # An end past the media may be refused outright by a Resolve counting the other
            # way: the other counting is tried before giving up.
            continue
        duration = as_int(placed.GetDuration(False))
        if rule == other or duration is None or abs(duration - count) != 1:
            return placed, outcome
        # One frame off: this Resolve counts endFrame the other way; place it again.
        if not timeline.DeleteClips([placed], False):
            return placed, outcome
    return None, {"rule": expected, "expected": expected, "corrected": False}


def place(project: Any, media_pool: Any, clip: Any, take: dict, *,
          track: Optional[int] = None, record_frame: Optional[int] = None,
          version: Any = None) -> dict:
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
    placed, ends = append_verified(media_pool, timeline, clip, count=count, track=target,
                                   record=record, version=version)
    if placed is None:
        raise PlacementError(
            f"Resolve did not place {_label(take)} on V{target} at frame {record}; the spot "
            f"may be taken or the track locked: move the playhead or choose another track")
    warnings = []
    fps, _drop = timeline_rate(project, timeline)
    take_fps = _float(take.get("fps"))
    if take_fps and abs(take_fps - fps) > 0.01:
        warnings.append(f"the take is {take_fps:g} fps and the timeline {fps:g} fps: Resolve "
                        f"plays its frames at the timeline's rate")
    duration = as_int(placed.GetDuration(False))
    if duration is not None and duration != count:
        warnings.append(f"the timeline clip is {duration} frames long, the take {count}")
    return {"timeline": timeline.GetName(), "track": target, "record_frame": record,
            "item": placed, "end_frame": ends, "warnings": warnings}


def stack_take(item: Any, clip: Any, take: dict) -> dict:
    """Add the clip as a take on the item (a take selector) and select it, verified.

    AddTake is given no range: "by default, the full clip extents is added" (README), so
    whether its endFrame counts like AppendToTimeline's (open, hosts.md §9) never matters.
    """
    existing = int(item.GetTakesCount() or 0)
    for index in range(1, existing + 1):
        info = item.GetTakeByIndex(index) or {}
        if same_clip(info.get("mediaPoolItem"), clip):
            if not item.SelectTakeByIndex(index):
                raise InsertError(f"Resolve would not select take {index} of the timeline clip")
            return {"take_index": index, "takes": existing, "added": False}
    if existing == 0 and same_clip(item.GetMediaPoolItem(), clip):
        return {"take_index": 0, "takes": 0, "added": False}
    if not item.AddTake(clip):
        raise InsertError(f"Resolve refused to add v{int(take['version']):03d} as a take on "
                          f"the timeline clip {item.GetName()!r}")
    total = int(item.GetTakesCount() or 0)
    info = item.GetTakeByIndex(total) or {}
    if total < 2 or not same_clip(info.get("mediaPoolItem"), clip):
        raise InsertError("Resolve reported the take added but it is not in the take selector")
    if not item.SelectTakeByIndex(total) or int(item.GetSelectedTakeIndex() or 0) != total:
        raise InsertError(f"Resolve would not select the new take {total} on "
                          f"{item.GetName()!r}")
    return {"take_index": total, "takes": total, "added": True}


__all__ = ["InsertError", "PlacementError", "EXCLUSIVE", "INCLUSIVE", "as_int", "timeline_rate",
           "playhead_frame", "video_items", "occupancy", "free_track", "source_range",
           "same_clip", "end_frame_rule", "end_frame", "append_verified", "place", "stack_take"]
