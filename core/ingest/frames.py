"""Delivered frames checked before they are trusted, and never silently dropped.

Two guards around the decoders (``exr``, ``video``), both from what a file says about itself
before a pixel is read:

- a frame's header against the delivery's budget (genplate.core.delivery.limits): its size
  must be the request's (or, for footage of unknown size, within sanity bounds), its channels
  and pixel type what was asked, and what reading it allocates bounded; a header that declares
  30000 x 30000 is refused from the header alone;
- an EXR sequence's numbering: frames are placed by the number in their names, so a frame that
  is missing, empty or unreadable is a gap, never a reason to renumber the rest. A gap refuses
  the take, unless the artist asked for ``--allow-gaps``: then it is published with the gap
  kept in the numbering and recorded in take.json.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..delivery.limits import Budget
from . import exr as X
from .options import DeliveryDamaged, IngestError
from .result import SourceFile

_DIGITS = re.compile(r"(\d+)(?!.*\d)")
_BYTES = {"half": 2, "float": 4, "uint8": 1, "uint16": 2, "uint32": 4, "int8": 1, "int16": 2,
          "int32": 4, "double": 8}
GAPS_HINT = ("--allow-gaps (on generate or ingest) publishes it with the gap kept in the "
             "numbering and recorded in take.json")


# -- headers -----------------------------------------------------------------------------------

def check_exr_header(probe: X.ExrProbe, budget: Budget, read_type: str) -> None:
    """Refuse a frame from its header alone: size, channels, pixel type, what its read allocates."""
    problem = budget.frame_problem(probe.width, probe.height)
    if problem is not None:
        raise IngestError(f"{probe.path}: the frame is {problem}; refused from its header, "
                          f"nothing of it was read")
    if len(probe.channels) > budget.channels:
        raise IngestError(f"{probe.path}: {len(probe.channels)} channels "
                          f"({', '.join(probe.channels[:8])}{', ...' if len(probe.channels) > 8 else ''}); "
                          f"a {budget.basis} delivery has at most {budget.channels} "
                          f"(R, G, B{', A' if budget.channels >= 4 else ''})")
    if probe.pixel_type not in budget.pixel_types:
        raise IngestError(f"{probe.path}: pixel type {probe.pixel_type}; a {budget.basis} "
                          f"delivery is {' or '.join(budget.pixel_types)}")
    span = max(probe.rgb) - min(probe.rgb) + 1  # read_frame reads the channels from R to B
    need = probe.width * probe.height * span * _BYTES.get(read_type, 4)
    if need > budget.frame_read_bytes:
        raise IngestError(f"{probe.path}: reading its R, G, B would take {need / 2 ** 20:.0f} MiB, "
                          f"over the {budget.frame_read_bytes / 2 ** 20:.0f} MiB a frame may")


def check_video_header(path: Path, budget: Budget) -> None:
    """A delivered video's frame size from its stream header, before a frame is decoded; then
    its first frame, so a file that does not decode is known to be damaged."""
    import av

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise DeliveryDamaged(f"{path}: not a video FFmpeg can open ({exc}); the download may "
                              f"be damaged", [path]) from None
    with container:
        if not container.streams.video:
            raise IngestError(f"{path}: the file has no video stream")
        stream = container.streams.video[0]
        problem = budget.frame_problem(stream.codec_context.width, stream.codec_context.height)
        if problem is not None:
            raise IngestError(f"{path}: the video's frames are {problem}; refused from its "
                              f"header, nothing of it was decoded")
        try:
            next(container.decode(stream))
        except StopIteration:
            raise DeliveryDamaged(f"{path}: the video stream has no frames", [path]) from None
        except av.error.FFmpegError as exc:
            raise DeliveryDamaged(f"{path}: its first frame cannot be decoded ({exc}); the "
                                  f"download may be damaged", [path]) from None


# -- sequences ---------------------------------------------------------------------------------

@dataclass
class FrameSequence:
    """An EXR delivery laid out by frame number: ``slots[i]`` is the file of frame i (None for a
    gap); ``gaps`` say why, and grow while frames that will not decode are met."""

    slots: list[Optional[Path]]
    allow_gaps: bool
    gaps: list[dict] = field(default_factory=list)  # {"index", "file", "why"}
    warnings: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def present(self) -> list[tuple[int, Path]]:
        return [(i, p) for i, p in enumerate(self.slots) if p is not None]

    def middle(self) -> Optional[int]:
        """The present slot nearest the middle (the thumbnail's frame)."""
        return nearest(len(self.slots) // 2, {i for i, p in enumerate(self.slots) if p is None},
                       len(self.slots))

    def refuse_or_keep(self) -> None:
        """Refuse the take for the gaps found so far, unless gaps are allowed."""
        if not self.gaps or self.allow_gaps:
            return
        listed = "; ".join(f"frame {g['index']} ({g['file']}: {g['why']})" for g in self.gaps[:10])
        more = f" and {len(self.gaps) - 10} more" if len(self.gaps) > 10 else ""
        message = (f"the EXR delivery has {len(self.gaps)} missing, empty or unreadable "
                   f"frame(s): {listed}{more}. Nothing was published: the take would hide "
                   f"them. {GAPS_HINT}")
        damaged = [p for p in (g.get("path") for g in self.gaps) if p is not None]
        if damaged:  # files that came but do not decode: a second download may mend them
            raise DeliveryDamaged(message, damaged)
        raise IngestError(message)

    def unreadable(self, index: int, path: Path, error: Exception) -> None:
        """A frame whose header passed but whose pixels do not decode: a gap when allowed."""
        with self._lock:
            self.gaps.append({"index": index, "file": path.name, "path": path,
                              "why": f"unreadable ({error})"})
        if not self.allow_gaps:
            raise DeliveryDamaged(f"{path}: frame {index} of the EXR delivery cannot be "
                                  f"read ({error}); the download may be damaged. {GAPS_HINT}",
                                  [path])

    def record(self, first: int) -> list[dict]:
        """The gaps as take.json keeps them: the published frame number, the file and why."""
        return [{"frame": first + g["index"], "file": g["file"], "why": g["why"]}
                for g in sorted(self.gaps, key=lambda g: g["index"])]


def exr_sequence(chosen: Sequence[SourceFile], delivered: Sequence[SourceFile], *,
                 allow_gaps: bool, budget: Budget) -> FrameSequence:
    """The main EXR sequence among ``chosen`` laid out by frame number, with every file of the
    delivery that is named as one of its frames but is not an EXR (an empty or foreign file)
    and every number missing between the first and the last taken as gaps."""
    frames = X.main_sequence([f.path for f in chosen])
    folder, pattern, number = _key(frames[0])
    if number is None:  # names without frame numbers: their order is all there is
        return FrameSequence(slots=list(frames), allow_gaps=allow_gaps)
    in_main = set(frames)
    members: dict[int, list[SourceFile]] = {}
    for f in delivered:
        where, named, number = _key(f.path)
        if (where, named) != (folder, pattern) or number is None:
            continue
        if f.kind == "exr" and f.path not in in_main:
            continue
        members.setdefault(number, []).append(f)
    for number, files in members.items():
        if len(files) > 1:
            names = ", ".join(sorted(f.path.name for f in files))
            raise IngestError(f"the EXR delivery has two files for frame {number} ({names}); "
                              f"genplate cannot tell which one is the frame")
    low, high = min(members), max(members)
    seq = FrameSequence(slots=[], allow_gaps=allow_gaps)
    for number in range(low, high + 1):
        index = number - low
        found = members.get(number)
        if found is None:
            seq.slots.append(None)
            seq.gaps.append({"index": index, "file": _name(frames[0], number), "why": "missing"})
            continue
        f = found[0]
        if f.kind == "exr" and f.bytes > 0:
            seq.slots.append(f.path)
            continue
        seq.slots.append(None)
        why = "an empty file" if f.bytes == 0 else "not an EXR (by its first bytes)"
        seq.gaps.append({"index": index, "file": f.path.name, "path": f.path, "why": why})
    if budget.frames and len(seq.slots) != budget.frames:
        # How many frames Ray3 delivers for 5 s (120 or 121) is not documented: say so, but
        # a count alone does not show which frame would be missing.
        seq.warnings.append(f"the request asked for {budget.frames} frames; the EXR delivery "
                            f"is numbered {low}-{high} ({len(seq.slots)} frames)")
    return seq


def first_probe(seq: FrameSequence, budget: Budget, read_type: str) -> X.ExrProbe:
    """The header of the first frame that opens (the take's size and colour come from it),
    checked against the budget; frames before it that do not open are gaps, or refuse."""
    for index, path in seq.present:
        try:
            probe = X.probe_exr(path)
        except X.ExrError as exc:
            seq.unreadable(index, path, exc)
            seq.slots[index] = None
            continue
        check_exr_header(probe, budget, read_type)
        return probe
    raise IngestError("no frame of the EXR delivery can be read: "
                      + "; ".join(f"{g['file']}: {g['why']}" for g in seq.gaps[:5]))


def nearest(target: int, gaps: set[int], count: int) -> Optional[int]:
    """The slot nearest ``target`` that is not a gap, or None when every slot is one."""
    for step in range(count + 1):
        for candidate in (target - step, target + step):
            if 0 <= candidate < count and candidate not in gaps:
                return candidate
    return None


def _key(path: Path) -> tuple[str, str, Optional[int]]:
    """(folder, name with the frame number as #, the frame number) of a frame file."""
    stem = path.name[:-len(path.suffix)] if path.suffix else path.name
    match = _DIGITS.search(stem)
    if not match:
        return str(path.parent), stem + path.suffix.lower(), None
    pattern = stem[:match.start()] + "#" + stem[match.end():] + path.suffix.lower()
    return str(path.parent), pattern, int(match.group(1))


def _name(example: Path, number: int) -> str:
    """The name frame ``number`` would have, written like ``example``."""
    stem = example.name[:-len(example.suffix)]
    match = _DIGITS.search(stem)
    digits = f"{number:0{len(match.group(1))}d}"
    return stem[:match.start()] + digits + stem[match.end():] + example.suffix


__all__ = ["check_exr_header", "check_video_header", "exr_sequence", "first_probe", "nearest",
           "FrameSequence", "GAPS_HINT"]
