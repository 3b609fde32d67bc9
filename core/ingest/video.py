"""Video deliveries: what the stream's tags say it is, and its frames as raw Y'CbCr planes.

The source kind comes from the container's colour tags (transfer, primaries, matrix, range,
bit depth), never from file names. Tags a file lacks are filled from an explicit default
(``DEFAULT_ASSUME``: SDR BT.709, limited range) and each filled tag is reported, so an untagged
file is never silently decoded as BT.601 the way swscale would (color.md §2.2).

Frames leave here as 4:4:4 planes: swscale only upsamples the chroma (``yuv444p`` or
``yuv444p16le``, bilinear, matrix-free); the matrix and range are OCIO's job.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional

import av
import numpy as np

from genplate.ocio import sources as S
from genplate.ocio.ycbcr import YCbCrCoding

# AVCOL_* numbering (FFmpeg pixfmt.h), as PyAV reports it.
TRC_NAMES = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
             13: "srgb", 14: "bt2020-10", 15: "bt2020-12", 16: "pq", 18: "hlg"}
PRIMARIES_NAMES = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020", 11: "dci-p3",
                   12: "p3-d65"}
MATRIX_NAMES = {0: "rgb", 1: "bt709", 4: "fcc", 5: "bt601", 6: "bt601", 7: "smpte240m",
                9: "bt2020nc", 10: "bt2020c"}
UNSPECIFIED = 2

DEFAULT_ASSUME = "bt709 limited bt1886"
"""What a tag the file lacks is taken to be (documented in the README, overridable): an SDR
BT.709 limited-range video, which is what H.264 from a web service almost always is."""

_WORDS = {
    # transfer
    "bt1886": ("trc", S.SDR_REC709), "rec709": ("trc", S.SDR_REC709),
    "srgb": ("trc", S.SDR_SRGB), "pq": ("trc", S.HDR_PQ), "st2084": ("trc", S.HDR_PQ),
    "hlg": ("trc", S.HDR_HLG),
    # matrix
    "bt709": ("matrix", "bt709"), "bt601": ("matrix", "bt601"),
    "bt2020nc": ("matrix", "bt2020nc"), "bt2020": ("matrix", "bt2020nc"),
    # range
    "limited": ("range", False), "full": ("range", True),
}


class VideoTagError(ValueError):
    """The stream's tags describe something genplate does not convert (the message says how
    to override)."""


def parse_tags(text: str) -> dict:
    """"bt709 limited bt1886" -> {"matrix": "bt709", "range": False, "trc": "sdr-rec709"}."""
    out: dict = {}
    for word in text.replace(",", " ").split():
        key = word.strip().lower()
        if key not in _WORDS:
            raise VideoTagError(
                f"unknown colour tag {word!r}: use words from {', '.join(sorted(_WORDS))} "
                f"(e.g. \"bt709 limited bt1886\", \"bt2020 limited pq\")")
        slot, value = _WORDS[key]
        out[slot] = value
    return out


def hdr_metadata(frame) -> dict:
    """HDR10 static metadata from a decoded frame's side data (HEVC SEI): the mastering
    display's peak (cd/m2) and MaxCLL / MaxFALL, whichever are present."""
    import struct

    out: dict = {}
    for sd in getattr(frame, "side_data", ()) or ():
        name = getattr(sd.type, "name", str(sd.type))
        try:
            raw = bytes(memoryview(sd))
        except TypeError:
            continue
        if name == "MASTERING_DISPLAY_METADATA" and len(raw) >= 88:
            v = struct.unpack("<22i", raw[:88])
            # AVMasteringDisplayMetadata: primaries, white point, min and max luminance
            # (AVRationals), has_primaries, has_luminance
            if v[21] and v[19]:
                out["mastering_max_nits"] = v[18] / v[19]
                out["mastering_min_nits"] = v[16] / v[17] if v[17] else 0.0
        elif name == "CONTENT_LIGHT_LEVEL" and len(raw) >= 8:
            max_cll, max_fall = struct.unpack("<2I", raw[:8])
            if max_cll:
                out["max_cll"] = max_cll
            if max_fall:
                out["max_fall"] = max_fall
    return out


@dataclass
class VideoProbe:
    """What the first decoded frame and the stream say about a video delivery."""

    path: Path
    codec: str
    pix_fmt: str
    width: int
    height: int
    bits: int
    fps: Fraction
    frames: int  # from the container, 0 when unknown
    tags: dict  # raw AVCOL numbers: colorspace, color_primaries, color_trc, color_range
    source_kind: str
    coding: YCbCrCoding
    assumed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    hdr_metadata: dict = field(default_factory=dict)

    @property
    def hdr(self) -> bool:
        return self.source_kind in (S.HDR_PQ, S.HDR_HLG)

    def record(self) -> dict:
        return {"codec": self.codec, "pix_fmt": self.pix_fmt, "bits": self.bits,
                "tags": {k: _tag_name(k, v) for k, v in self.tags.items()},
                "decode": {"matrix": self.coding.matrix,
                           "range": "full" if self.coding.full_range else "limited",
                           "bits": self.coding.code_bits},
                "hdr_metadata": self.hdr_metadata or None}


def _tag_name(key: str, value: int) -> str:
    table = {"color_trc": TRC_NAMES, "color_primaries": PRIMARIES_NAMES,
             "colorspace": MATRIX_NAMES}.get(key)
    if key == "color_range":
        return {0: "unspecified", 1: "limited", 2: "full"}.get(value, str(value))
    if value == UNSPECIFIED or table is None:
        return "unspecified" if value == UNSPECIFIED else str(value)
    return table.get(value, str(value))


def open_video(path: Path) -> "av.container.InputContainer":
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise VideoTagError(f"{path}: not a video FFmpeg can open ({exc})") from None
    if not container.streams.video:
        container.close()
        raise VideoTagError(f"{path}: the file has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container


def probe_video(path: Path, *, assume: str = DEFAULT_ASSUME,
                override: Optional[str] = None) -> VideoProbe:
    """Open the video, decode its first frame and decide its source kind and Y'CbCr coding."""
    with open_video(path) as container:
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream))
        except StopIteration:
            raise VideoTagError(f"{path}: the video stream has no frames") from None
        except av.error.FFmpegError as exc:
            raise VideoTagError(f"{path}: cannot decode the video ({exc})") from None
        return describe_stream(path, stream, first, assume=assume, override=override)


def describe_stream(path: Path, stream, frame, *, assume: str = DEFAULT_ASSUME,
                    override: Optional[str] = None) -> VideoProbe:
    cc = stream.codec_context
    tags = {}
    for key in ("colorspace", "color_primaries", "color_trc", "color_range"):
        unset = 0 if key == "color_range" else UNSPECIFIED
        value = getattr(frame, key, None)
        if value is None or int(value) == unset:
            value = getattr(cc, key, None)
        tags[key] = int(value) if value is not None else unset
    pix_fmt = frame.format.name
    bits = int(frame.format.components[0].bits)
    fps = Fraction(stream.average_rate) if stream.average_rate else None
    assumed: list[str] = []
    warnings: list[str] = []
    if not fps:
        fps = Fraction(24)
        assumed.append("fps: the stream has no frame rate; 24 assumed")
    defaults = parse_tags(assume)
    forced = parse_tags(override) if override else {}

    # Transfer -> source kind.
    trc = tags["color_trc"]
    kind_by_trc = {1: S.SDR_REC709, 6: S.SDR_REC709, 14: S.SDR_REC709, 15: S.SDR_REC709,
                   13: S.SDR_SRGB, 16: S.HDR_PQ, 18: S.HDR_HLG}
    if "trc" in forced:
        kind = forced["trc"]
    elif trc in kind_by_trc:
        kind = kind_by_trc[trc]
    elif trc == UNSPECIFIED:
        kind = defaults.get("trc", S.SDR_REC709)
        assumed.append(f"transfer: untagged; {kind} assumed")
    else:
        raise VideoTagError(
            f"{path}: transfer {_tag_name('color_trc', trc)} is not one genplate converts "
            f"(BT.709/BT.1886, sRGB, PQ, HLG); if the tag is wrong, override it "
            f"(e.g. --source-tags \"bt709 limited bt1886\")")

    # Primaries: SDR kinds are Rec.709 displays, PQ/HLG are Rec.2020 (color.md §1.5).
    prim = tags["color_primaries"]
    want = 9 if kind in (S.HDR_PQ, S.HDR_HLG) else 1
    if "trc" not in forced and prim != want:
        if prim == UNSPECIFIED:
            assumed.append(f"primaries: untagged; {PRIMARIES_NAMES[want]} assumed")
        elif want == 1 and prim in (5, 6):
            warnings.append(f"primaries {PRIMARIES_NAMES[prim]} (SD) read as BT.709")
        else:
            raise VideoTagError(
                f"{path}: {kind} with {_tag_name('color_primaries', prim)} primaries is not a "
                f"combination genplate converts; override the tags if they are wrong")

    # Matrix.
    spc = tags["colorspace"]
    if "matrix" in forced:
        matrix = forced["matrix"]
    elif spc in (1, 5, 6, 9):
        matrix = MATRIX_NAMES[spc]
    elif spc == 10:
        raise VideoTagError(f"{path}: BT.2020 constant-luminance Y'CbCr is not a matrix "
                            f"genplate can apply; transcode to BT.2020 non-constant luminance")
    elif spc == 0 or pix_fmt.startswith(("gbr", "rgb", "bgr")):
        raise VideoTagError(f"{path}: RGB-coded video ({pix_fmt}) is not supported; deliver "
                            f"Y'CbCr (or EXR frames)")
    else:
        matrix = "bt2020nc" if kind in (S.HDR_PQ, S.HDR_HLG) else defaults.get("matrix", "bt709")
        assumed.append(f"matrix: {_tag_name('colorspace', spc)}; {matrix} assumed")

    # Range: yuvj* formats are full range by definition.
    rng = tags["color_range"]
    if "range" in forced:
        full = forced["range"]
    elif rng in (1, 2):
        full = rng == 2
    elif pix_fmt.startswith("yuvj"):
        full = True
    else:
        full = defaults.get("range", False)
        assumed.append(f"range: untagged; {'full' if full else 'limited'} assumed")

    if not pix_fmt.startswith(("yuv", "yuvj")):
        raise VideoTagError(f"{path}: pixel format {pix_fmt} is not planar Y'CbCr")
    if bits > 16:
        raise VideoTagError(f"{path}: {bits}-bit video is not supported")
    plane_bits = 8 if bits <= 8 else 16
    if forced:
        assumed.append(f"tags overridden by the user: {override}")
    coding = YCbCrCoding(matrix=matrix, full_range=full, code_bits=bits, plane_bits=plane_bits)
    return VideoProbe(path=path, codec=cc.name, pix_fmt=pix_fmt, width=frame.width,
                      height=frame.height, bits=bits, fps=fps, frames=int(stream.frames or 0),
                      tags=tags, source_kind=kind, coding=coding, assumed=assumed,
                      warnings=warnings,
                      hdr_metadata=hdr_metadata(frame) if kind in (S.HDR_PQ, S.HDR_HLG) else {})


def planes_444(frame, plane_bits: int) -> tuple:
    """The frame's chroma upsampled to 4:4:4 (swscale, bilinear, matrix-free) as three plane
    views sharing one row stride, plus that stride in bytes, and the frame keeping them alive."""
    fmt = "yuv444p" if plane_bits == 8 else "yuv444p16le"
    if frame.format.name != fmt:
        frame = frame.reformat(format=fmt, interpolation="BILINEAR")
    dtype = np.uint8 if plane_bits == 8 else np.dtype("<u2")
    itemsize = np.dtype(dtype).itemsize
    strides = {p.line_size for p in frame.planes}
    h = frame.height
    if len(strides) == 1:
        stride = strides.pop()
        views = [np.frombuffer(p, dtype=dtype, count=h * stride // itemsize)
                 .reshape(h, stride // itemsize) for p in frame.planes[:3]]
    else:  # never seen for 4:4:4, but a single row stride is what OCIO accepts
        w = frame.width
        views = [np.ascontiguousarray(np.frombuffer(p, dtype=dtype).reshape(
            h, p.line_size // itemsize)[:, :w]) for p in frame.planes[:3]]
        stride = w * itemsize
    return views, stride, frame


def ycbcr_frame(planes, pix_fmt: str, *, tags: Optional[dict] = None, pts: int = 0):
    """An ``av.VideoFrame`` from Y, Cb, Cr code planes (the reverse of ``planes_444``), with
    the stream's colour tags on the frame: we write code values ourselves, never through
    swscale's RGB conversion."""
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane, values in zip(frame.planes, planes):
        view = np.frombuffer(plane, dtype=np.dtype(values.dtype)).reshape(plane.height, -1)
        view[:, :values.shape[1]] = values
    for key, value in (tags or {}).items():
        setattr(frame, key, value)
    frame.pts = pts
    return frame


def iter_frames(path: Path) -> Iterator:
    """Every decoded frame of the first video stream, in order."""
    with open_video(path) as container:
        stream = container.streams.video[0]
        yield from container.decode(stream)
