"""Takes as an OpenTimelineIO timeline, for OTIO tools that read image sequences.

Each take becomes one clip on a single video track, in the order given, its media an
ImageSequenceReference to the EXR frames, so the importer sees one clip per take rather than a
still per frame. take.json's essentials travel in the clip's metadata under "genplate".

Resolve and NukeStudio do not import ImageSequenceReference (ynput/ayon-core PR #44;
docs/hosts.md §9): genplate's Resolve panel builds its timelines of takes through Resolve's
scripting API instead (genplate.resolve.takes_timeline).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional

import opentimelineio as otio

from ..atomic import write_text_atomically
from .layout import TakeError
from .take import Take

TIMELINE_RATE = 24  # Ray3's frame grid (request.FPS); every take is published at it


def take_clip(take: Take) -> otio.schema.Clip:
    """One clip playing the whole take, its frames named by an image sequence reference."""
    rate = float(take.fps or TIMELINE_RATE)
    available = otio.opentime.TimeRange(
        start_time=otio.opentime.RationalTime(take.first, rate),
        duration=otio.opentime.RationalTime(take.count, rate))
    # Percent-encoded (RFC 3986) file URL: otio.url_utils.url_from_filepath leaves spaces and
    # "#" raw, and a "#" then reads back as a URL fragment, cutting the path short.
    base = Path(take.dir).as_uri()
    reference = otio.schema.ImageSequenceReference(
        target_url_base=base if base.endswith("/") else base + "/",
        name_prefix=f"{take.basename}.",
        name_suffix=".exr",
        start_frame=take.first,
        frame_step=1,
        rate=rate,
        frame_zero_padding=4,
        missing_frame_policy=otio.schema.ImageSequenceReference.MissingFramePolicy.error,
        available_range=available,
    )
    return otio.schema.Clip(
        name=f"{take.shot}_{take.name}_{take.label}",
        media_reference=reference,
        source_range=available,
        metadata={"genplate": take.provenance()},
    )


def takes_timeline(takes: Iterable[Take], name: Optional[str] = None) -> otio.schema.Timeline:
    takes = list(takes)
    if not takes:
        raise TakeError("no takes to export: name at least one take")
    shots = {t.shot for t in takes}
    title = name or (f"{takes[0].shot} takes" if len(shots) == 1 else "genplate takes")
    track = otio.schema.Track(name="genplate", kind=otio.schema.TrackKind.Video)
    for take in takes:
        track.append(take_clip(take))
    timeline = otio.schema.Timeline(name=title)
    timeline.tracks.append(track)
    return timeline


def write_otio(takes: Iterable[Take], path: os.PathLike | str, name: Optional[str] = None) -> Path:
    """Write the takes' timeline to ``path`` (.otio JSON), atomically."""
    timeline = takes_timeline(takes, name)
    text = otio.adapters.write_to_string(timeline, adapter_name="otio_json")
    return write_text_atomically(path, text)


__all__ = ["write_otio", "takes_timeline", "take_clip", "TIMELINE_RATE"]
