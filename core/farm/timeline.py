"""A shot list from an edit: an OpenTimelineIO timeline (what Resolve's File > Export >
Timeline writes as .otio) whose markers, or named gaps, are the shots still to be made.

- A **marker** (on the timeline, or on a clip or gap of a video track) names a shot: its name
  is the shot, its note the prompt (OTIO's ``comment``, or Resolve's
  ``metadata["Resolve_OTIO"]["Note"]``), its length the shot's duration.
- A **named gap** in a video track is a hole in the cut waiting for its shot: the gap's name is
  the shot, its length the duration, and the note of a marker inside it the prompt. Unnamed
  gaps are plain gaps and are skipped.

A length picks the shortest Ray3 duration that covers it (up to 5 s: ``5s``; up to 10 s:
``10s``); a marker of one frame or less leaves the duration to the command line. Anything
else a shot list column can say goes in ``metadata["genplate"]`` (``{"drafts": 4}``), for
pipeline tools that write the timeline themselves. The shots come out in timeline order.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import opentimelineio as otio

from .rows import (REQUIRED, BadValue, ShotListError, ShotRow, check_columns, column_name,
                       row_from_cells)

# A marker this short (or shorter) marks a point, not a length.
_POINT_FRAMES = 1.0
_LONGEST_SECONDS = 10.0
_SLACK_SECONDS = 1e-6


def read_timeline(path: Path) -> list[ShotRow]:
    try:
        timeline = otio.adapters.read_from_file(str(path))
    except Exception as exc:  # OTIO raises its own and json's errors alike
        raise ShotListError([f"{path.name}: not a readable OTIO timeline ({exc})"]) from None
    if not isinstance(timeline, otio.schema.Timeline):
        raise ShotListError([f"{path.name}: holds a {type(timeline).__name__}, not a timeline"])
    offset = timeline.global_start_time
    found: list[tuple[float, str, dict[str, Any]]] = []
    problems: list[str] = []

    def add(kind: str, name: str, at: otio.opentime.RationalTime, cells: dict[str, Any]) -> None:
        where = f"{path.name} {kind} {name!r} at {_timecode(at, offset)}"
        try:
            extra = _genplate_metadata(cells.pop("__metadata__", None))
        except BadValue as exc:
            problems.append(f"{where}: {exc}")
            return
        cells = {**extra, **{k: v for k, v in cells.items() if v is not None}}
        found.append((at.to_seconds(), where, cells))

    for marker in timeline.tracks.markers:
        add("marker", marker.name, marker.marked_range.start_time, _marker_cells(marker, problems,
                                                                                 path.name))
    for track in timeline.video_tracks():
        for item in track:
            if not isinstance(item, otio.core.Item):
                continue  # transitions
            placed = track.range_of_child(item)
            if isinstance(item, otio.schema.Gap) and item.name.strip():
                add("gap", item.name, placed.start_time, _gap_cells(item, placed, problems,
                                                                     path.name))
                continue
            trimmed_start = item.trimmed_range().start_time
            for marker in item.markers:
                at = placed.start_time + (marker.marked_range.start_time - trimmed_start)
                add("marker", marker.name, at, _marker_cells(marker, problems, path.name))
    if problems:
        raise ShotListError(problems)
    found.sort(key=lambda entry: entry[0])
    rows = []
    for _, where, cells in found:
        rows.append(row_from_cells(where, cells, path.parent, problems))
    if problems:
        raise ShotListError(problems)
    return rows


def _marker_cells(marker: otio.schema.Marker, problems: list[str], source: str) -> dict:
    return {"shot": marker.name.strip(), "prompt": _note(marker),
            "duration": _duration(marker.marked_range.duration, marker.name, problems, source),
            "__metadata__": marker.metadata.get("genplate")}


def _gap_cells(gap: otio.schema.Gap, placed: otio.opentime.TimeRange, problems: list[str],
               source: str) -> dict:
    notes = [n for n in (_note(m) for m in gap.markers) if n]
    return {"shot": gap.name.strip(), "prompt": notes[0] if notes else None,
            "duration": _duration(placed.duration, gap.name, problems, source),
            "__metadata__": gap.metadata.get("genplate")}


def _note(marker: otio.schema.Marker) -> Optional[str]:
    comment = (getattr(marker, "comment", "") or "").strip()
    if comment:
        return comment
    resolve = marker.metadata.get("Resolve_OTIO")
    note = resolve.get("Note") if hasattr(resolve, "get") else None
    return note.strip() if isinstance(note, str) and note.strip() else None


def _duration(length: otio.opentime.RationalTime, name: str, problems: list[str],
              source: str) -> Optional[str]:
    if length.value <= _POINT_FRAMES:
        return None
    seconds = length.to_seconds()
    if seconds <= 5.0 + _SLACK_SECONDS:
        return "5s"
    if seconds <= _LONGEST_SECONDS + _SLACK_SECONDS:
        return "10s"
    problems.append(f"{source} {name!r}: {seconds:.2f} s long; Ray3 makes 5 s or 10 s shots "
                    f"(shorten it to 10 s or less, or split the shot)")
    return None


def _genplate_metadata(meta: Any) -> dict[str, Any]:
    """Shot list columns a pipeline tool put in ``metadata["genplate"]``."""
    if meta is None:
        return {}
    if not hasattr(meta, "items"):
        raise BadValue('metadata["genplate"] is an object of shot list columns, e.g. {"drafts": 4}')
    cells = {column_name(str(k)): (dict(v) if hasattr(v, "items") else
                                   list(v) if isinstance(v, (list, tuple)) or
                                   type(v).__name__ == "AnyVector" else v)
             for k, v in meta.items()}
    problems = check_columns(list(dict.fromkeys([*cells, *REQUIRED])), 'metadata["genplate"]')
    if problems:
        raise BadValue("; ".join(problems))
    return cells


def _timecode(at: otio.opentime.RationalTime, offset: Optional[otio.opentime.RationalTime]) -> str:
    when = at + offset.rescaled_to(at.rate) if offset is not None else at
    try:
        return otio.opentime.to_timecode(when, when.rate)
    except Exception:  # a rate timecode cannot express (e.g. 23.976 drop-frame questions)
        return f"{when.to_seconds():.2f} s"


__all__ = ["read_timeline"]
