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
from typing import Any, Optional

from .colour import set_input_colour_space
from .placement import InsertError, PlacementError, as_int, place, stack_take, video_items

GENPLATE_BIN = "genplate"
LATEST_COLOUR = "Green"
OLDER_COLOUR = "Orange"
PROVENANCE_PREFIX = "genplate."
_PRINTF = re.compile(r"%0?(\d*)d")


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
    frames = as_int(clip.GetClipProperty("Frames"))
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
        if _same_take(record, take) and as_int(record.get("version")) is not None:
            clips.append((as_int(record["version"]), clip))
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


# -- the timeline ----------------------------------------------------------------------

def find_stack(timeline: Any, take: dict) -> Any:
    """A timeline item showing another version of this take (its current clip or a take)."""
    for index in range(1, int(timeline.GetTrackCount("video") or 0) + 1):
        for item in video_items(timeline, index):
            clip = item.GetMediaPoolItem()
            if clip is not None and _same_take(read_provenance(clip), take):
                return item
    return None


# -- the whole insertion ---------------------------------------------------------------------

def insert_take(project: Any, take: dict, *, track: Optional[int] = None,
                record_frame: Optional[int] = None, on_timeline: bool = True,
                stack: bool = True, resolve_version: Any = None) -> dict:
    """Bin, clip, colour space, provenance, clip colours, then the timeline (a clip or a take).

    ``resolve_version`` is resolve.GetVersion(): it decides how AppendToTimeline's endFrame is
    counted (placement.py). Returns a JSON-able summary (no Resolve objects). Raises
    InsertError/PlacementError or ColourSpaceError with a message for the artist.
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
                              "record_frame": as_int(existing.GetStart(False))}
        return result
    placed = place(project, media_pool, clip, take, track=track, record_frame=record_frame,
                   version=resolve_version)
    item = placed.pop("item")
    item.SetClipColor(clip_colour(bool(take.get("latest", True))))
    result["warnings"] += placed.pop("warnings")
    result["timeline"] = {"mode": "clip", **placed}
    return result


__all__ = ["InsertError", "PlacementError", "GENPLATE_BIN", "LATEST_COLOUR", "OLDER_COLOUR",
           "check_take", "frame_path", "import_clip_info", "bin_path", "provenance",
           "standard_metadata", "clip_colour", "ensure_bin", "read_provenance", "find_clip",
           "tag_clip", "import_take", "recolour_versions", "find_stack", "insert_take"]
