"""A new Resolve timeline from a set of takes, through the scripting API, checked afterwards.

Not through OTIO: Resolve does not import OTIO image-sequence references (ynput/ayon-core
PR #44, hosts.md §9), and a take is an EXR sequence, so an .otio of takes comes in offline or
not at all. Each take comes in the way a single insert brings it (one ImportMedia sequence
clip in genplate/<shot>, tagged, its colour space set), then the clips are appended one after
another onto a new timeline, each placement read back, and the finished track is compared with
the takes: the same clips, in order, each as long as its take.
"""
from __future__ import annotations

from typing import Any

from . import insert as I
from .colour import set_input_colour_space
from .placement import InsertError, PlacementError, append_verified, as_int, same_clip, video_items


def unique_timeline_name(project: Any, name: str) -> str:
    """``name``, or ``name (2)``...: Resolve refuses a second timeline of the same name."""
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


def timeline_from_takes(project: Any, takes: list[dict], name: str, *,
                        resolve_version: Any = None) -> dict:
    """A new current timeline holding the takes in order on V1; a JSON-able summary.

    Every take is checked before Resolve is touched; the timeline is made only once every
    clip is in the media pool with its colour space, so a refusal leaves no half timeline.
    """
    if not takes:
        raise InsertError("choose at least one take for the timeline")
    counts = [I.check_take(take)["count"] for take in takes]
    media_pool = project.GetMediaPool()
    if media_pool is None:
        raise InsertError("Resolve gave no media pool; open a project first")
    clips = []
    for take in takes:
        clip, folder, _created = I.import_take(media_pool, take)
        I.tag_clip(clip, take)
        if take.get("colorspace"):
            set_input_colour_space(project, clip, str(take["colorspace"]))
        I.recolour_versions(folder, take)
        clips.append(clip)
    title = unique_timeline_name(project, name)
    timeline = media_pool.CreateEmptyTimeline(title)
    if not timeline:
        raise InsertError(f"Resolve would not create the timeline {title!r}")
    # AppendToTimeline works on the current timeline (README).
    if not project.SetCurrentTimeline(timeline):
        raise InsertError(f"Resolve would not open the new timeline {title!r}")
    # recordFrame is absolute: the timeline starts at its start timecode's frame, not 0
    # (davinci-resolve-mcp issue #164).
    record = int(timeline.GetStartFrame() or 0)
    ends = []
    for take, clip, count in zip(takes, clips, counts):
        item, end = append_verified(media_pool, timeline, clip, count=count, track=1,
                                    record=record, version=resolve_version)
        if item is None:
            raise PlacementError(f"Resolve did not place {take['shot']}/{take['name']} "
                                 f"{I.version_label(take)} on the new timeline {title!r} at "
                                 f"frame {record}")
        item.SetClipColor(I.clip_colour(bool(take.get("latest", True))))
        ends.append(end)
        record += count
    return {"timeline": title, "takes": len(takes), "clips": len(clips),
            "end_frame": ends[0] if ends else {},
            "warnings": check_timeline(timeline, clips, counts)}


def check_timeline(timeline: Any, clips: list[Any], counts: list[int]) -> list[str]:
    """What came in, against what was asked: one item per take on V1, in order, full length."""
    items = video_items(timeline, 1)
    if len(items) != len(clips):
        return [f"the new timeline has {len(items)} clips on V1, the takes are {len(clips)}"]
    warnings = []
    for n, (item, clip, count) in enumerate(zip(items, clips, counts), 1):
        if not same_clip(item.GetMediaPoolItem(), clip):
            warnings.append(f"clip {n} of the new timeline is not the take asked for")
        duration = as_int(item.GetDuration(False))
        if duration != count:
            warnings.append(f"clip {n} of the new timeline is {duration} frames long, its "
                            f"take {count}")
    return warnings


__all__ = ["timeline_from_takes", "check_timeline", "unique_timeline_name"]
