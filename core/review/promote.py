"""Promotion: a master made from a chosen draft.

The API has no draft-to-master upgrade (luma-agents-api.md, last section), so genplate asks
again at master quality (720p or 1080p, HDR, EXR) with the draft's prompt and inputs, and pins
frames of the draft as keyframes so its composition and motion carry over. The frames are taken
from the draft's published EXRs (working space) through the OCIO config's display and view, as
8-bit PNGs, the way the artist saw them.

How the draft's own inputs travel (the API does not take keyframes together with a start or end
frame): a start frame becomes the keyframe at index 0 and an end frame the keyframe at the last
slot; the draft's keyframes keep their indexes; the artist's inputs win wherever an exported
frame would land on the same index. ``extend_from`` and ``loop`` are SDR-only features and are
dropped (the pinned frames carry the continuation), each with a note. A reframe cannot be HDR,
so it cannot be promoted to a master.

The master's take name is the draft's without its ``_dNN`` batch suffix, plus ``_master``
(``lighthouse_d03`` -> ``lighthouse_master``); its provenance (take.json "parent") names the
draft: shot, name, version, its folder, job id and remote id.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from ..request import (FPS, MASTER_RESOLUTIONS, MAX_KEYFRAMES, EditOptions, Keyframe, MediaRef,
                       ShotRequest)

DRAFT_SUFFIX = re.compile(r"_d\d{2,3}$")
DEFAULT_KEYFRAMES = 3


class PromoteError(RuntimeError):
    """A draft that cannot become a master as asked (the message says what to change)."""


@dataclass
class Promotion:
    request: ShotRequest
    parent: dict
    name: str
    shot: str
    root: str
    first_frame: int
    pinned: list[tuple[int, int, Path]] = field(default_factory=list)  # (index, draft frame, png)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"name": self.name, "shot": self.shot, "root": self.root, "parent": self.parent,
                "request": self.request.to_json(), "estimate_usd": self.request.estimate().usd,
                "keyframes": [{"index": i, "draft_frame": f, "path": str(p)}
                              for i, f, p in self.pinned],
                "notes": list(self.notes)}


def master_name(draft_name: str) -> str:
    return DRAFT_SUFFIX.sub("", draft_name) + "_master"


def pinned_indexes(count: int, duration: str = "5s") -> list[int]:
    """``count`` indexes evenly spaced on the 24 fps grid, the first and last slots included
    (one alone is the middle: the composition)."""
    last = int(duration.rstrip("s")) * FPS
    if count <= 0:
        return []
    if count == 1:
        return [last // 2]
    count = min(count, last + 1)
    return sorted({round(last * k / (count - 1)) for k in range(count)})


def draft_frame(index: int, first: int, frame_count: int, duration: str = "5s") -> int:
    """The draft's frame number shown at grid ``index`` (scaled if the draft is short)."""
    last_slot = int(duration.rstrip("s")) * FPS
    if frame_count <= 1:
        return first
    return first + round(index * (frame_count - 1) / last_slot)


def plan(take, *, resolution: str = "1080p", keyframes: int = DEFAULT_KEYFRAMES,
         exr: bool = True, inputs_dir: Path, name: Optional[str] = None,
         shot: Optional[str] = None, root: Optional[str] = None) -> Promotion:
    """The master request for ``take`` (a takes.Take) and the PNGs it pins (written now)."""
    from .contact_sheet import config_of, exr_to_png
    from ..takes.take import frame_paths

    if resolution not in MASTER_RESOLUTIONS:
        raise PromoteError(f"--resolution {resolution}: a master is {' or '.join(MASTER_RESOLUTIONS)}")
    if keyframes < 0 or keyframes > MAX_KEYFRAMES:
        raise PromoteError(f"--keyframes {keyframes}: pin between 0 and {MAX_KEYFRAMES} frames")
    record = take.record
    try:
        draft = ShotRequest.from_json(record.get("request") or {})
    except Exception as exc:
        raise PromoteError(f"{take.dir}: take.json's request cannot be read ({exc})") from exc
    if draft.type == "video_reframe":
        raise PromoteError(f"{take.shot}/{take.name} is a reframe, and a reframe cannot be HDR: "
                           f"ask for a 1080p SDR reframe with `genplate generate --type "
                           f"video_reframe --resolution 1080p` instead")
    notes: list[str] = []
    changes: dict = {}
    if draft.extend_from:
        changes["extend_from"] = None
        changes["extend_direction"] = "forward"
        notes.append(f"extend_from {draft.extend_from} dropped (extending is SDR only); the "
                     f"pinned draft frames carry the continuation")
    if draft.loop:
        changes["loop"] = False
        notes.append("loop dropped (a loop cannot be HDR)")

    # The artist's own inputs, by grid index; they win over exported frames.
    last_slot = draft.frame_count - 1
    given: dict[int, MediaRef] = {}
    existing = draft.edit.keyframes if draft.type == "video_edit" and draft.edit else draft.keyframes
    for kf in existing:
        given[kf.index] = kf.image
    indexes = pinned_indexes(keyframes, draft.duration)
    if indexes and draft.type == "video":
        for slot, ref_name in ((0, "start_frame"), (last_slot, "end_frame")):
            ref = getattr(draft, ref_name)
            if ref is None:
                continue
            changes[ref_name] = None
            if ref.generation_id:
                notes.append(f"{ref_name} (generation {ref.generation_id}) dropped: keyframes "
                             f"cannot be combined with it; the draft's frame is pinned instead")
                continue
            given[slot] = ref
            notes.append(f"{ref_name} pinned as the keyframe at index {slot} (the API takes "
                         f"keyframes or start/end frames, not both)")

    paths = frame_paths(take.dir, record)
    if indexes and not paths:
        raise PromoteError(f"{take.dir}: no EXR frames to pin; use --keyframes 0 to promote "
                           f"with the prompt and inputs alone")
    colour = record.get("colour") or {}
    frames = record.get("frames") or {}
    first = int(frames.get("first", 1001))
    out_dir = Path(inputs_dir) / f"{take.shot}_{take.name}_v{take.version:03d}"
    pinned: list[tuple[int, int, Path]] = []
    for index in indexes:
        if index in given:
            continue
        position = draft_frame(index, 0, len(paths), draft.duration)
        png = out_dir / f"{take.name}_v{take.version:03d}_kf{index:03d}.png"
        exr_to_png(paths[position], png, colour.get("working_space"), config_of(colour))
        pinned.append((index, first + position, png))
        given[index] = MediaRef(path=str(png.resolve()))
    all_keyframes = tuple(Keyframe(i, given[i]) for i in sorted(given))

    if draft.type == "video_edit":
        edit = draft.edit or EditOptions()
        changes["edit"] = replace(edit, keyframes=all_keyframes)
    else:
        changes["keyframes"] = all_keyframes
    master = replace(draft, **changes, resolution=resolution, hdr=True, exr_export=exr)
    master.validate()
    parent = {"shot": take.shot, "name": take.name, "version": take.version,
              "dir": str(take.dir), "job_id": record.get("job_id"),
              "remote_id": record.get("remote_id"), "kind": record.get("kind"),
              "pinned": [{"index": i, "frame": f} for i, f, _ in pinned]}
    return Promotion(request=master, parent=parent, name=name or master_name(take.name),
                     shot=shot or take.shot, root=root or str(take.dir.parent.parent.parent),
                     first_frame=first, pinned=pinned, notes=notes)


__all__ = ["Promotion", "PromoteError", "plan", "pinned_indexes", "draft_frame", "master_name"]
