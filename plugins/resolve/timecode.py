"""Timecode and frame numbers on a Resolve timeline (standard library only, no Resolve).

Resolve hands the playhead over as a timecode string (``Timeline.GetCurrentTimecode``) while
timeline items and ``AppendToTimeline`` speak absolute frame numbers (``Timeline.GetStartFrame``
is the frame of the timeline's start timecode, 86400 for 01:00:00:00 at 24 fps). Converting
between the two must respect drop-frame counting at 29.97/59.94, or a take lands a few frames
off after ten minutes of timeline.
"""
from __future__ import annotations

import re
from fractions import Fraction

_TC = re.compile(r"^(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.])(\d{2,3})$")


class TimecodeError(ValueError):
    """A timecode or frame rate Resolve gave us that we cannot read."""


def parse_rate(value) -> tuple[float, bool]:
    """(frames per second, drop frame) from a Resolve rate such as "24", "23.976", "29.97 DF"."""
    text = str(value).strip()
    drop = text.upper().endswith("DF")
    if drop:
        text = text[:-2].strip()
    try:
        fps = float(text)
    except ValueError:
        raise TimecodeError(f"unreadable frame rate {value!r}") from None
    if fps <= 0:
        raise TimecodeError(f"frame rate must be positive, got {value!r}")
    return fps, drop


def nominal_rate(fps: float) -> int:
    """The integer frame count per timecode second (24 for 23.976, 30 for 29.97)."""
    return int(round(fps))


def _drop_frames_per_minute(fps: float) -> int:
    base = nominal_rate(fps)
    if base % 30 != 0:
        raise TimecodeError(f"drop-frame timecode exists only for 29.97 and 59.94, not {fps}")
    return 2 * (base // 30)


def timecode_to_frame(tc: str, fps: float, drop: bool | None = None) -> int:
    """Absolute frame number of a timecode; a ';' before the frames means drop frame."""
    m = _TC.match(str(tc).strip())
    if not m:
        raise TimecodeError(f"unreadable timecode {tc!r} (expected HH:MM:SS:FF)")
    hh, mm, ss, sep, ff = m.groups()
    h, mi, s, f = int(hh), int(mm), int(ss), int(ff)
    base = nominal_rate(fps)
    if mi > 59 or s > 59 or f >= base:
        raise TimecodeError(f"timecode {tc!r} is out of range at {fps:g} fps")
    if drop is None:
        drop = sep == ";"
    total_minutes = 60 * h + mi
    frames = ((total_minutes * 60) + s) * base + f
    if drop:
        dpm = _drop_frames_per_minute(fps)
        frames -= dpm * (total_minutes - total_minutes // 10)
    return frames


def frame_to_timecode(frame: int, fps: float, drop: bool = False) -> str:
    """The timecode of an absolute frame number (';' before the frames when drop frame)."""
    if frame < 0:
        raise TimecodeError(f"frame {frame} is before 00:00:00:00")
    base = nominal_rate(fps)
    if drop:
        dpm = _drop_frames_per_minute(fps)
        per_10min = base * 600 - dpm * 9
        per_min = base * 60 - dpm
        tens, rest = divmod(frame, per_10min)
        extra = 0 if rest < dpm else dpm * ((rest - dpm) // per_min)
        frame = frame + dpm * 9 * tens + extra
    f = frame % base
    s = (frame // base) % 60
    m = (frame // (base * 60)) % 60
    h = frame // (base * 3600)
    return f"{h:02d}:{m:02d}:{s:02d}{';' if drop else ':'}{f:02d}"


def rate_fraction(fps: float) -> Fraction:
    """23.976 -> 24000/1001 (the exact NTSC rates), else the rate as a fraction."""
    for exact in (Fraction(24000, 1001), Fraction(30000, 1001), Fraction(48000, 1001),
                  Fraction(60000, 1001)):
        if abs(float(exact) - fps) < 0.001:
            return exact
    return Fraction(fps).limit_denominator(1001)


__all__ = ["TimecodeError", "parse_rate", "nominal_rate", "timecode_to_frame",
           "frame_to_timecode", "rate_fraction"]
