"""EXR frames in and out (OpenImageIO), the headers every frame carries, and the thumbnail.

Frames are written single-part, scanline, RGB, from a float16 array straight out of OCIO
(OIIO's own float->half pass costs ~40 ms a 1080p frame on this wheel, color.md §3.1), to a
hidden temporary name and renamed, so a frame file is whole or absent.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import OpenImageIO as oiio

# Default compression "zip:1": lossless and readable by every host; zip level 1 writes 1.5x
# faster than the default level 4 for ~3 % more size, and among interchange-safe lossless codecs
# only rle writes faster, compressing far less (color.md §3.2-3.3). "piz" is ~10 % smaller on
# grainy plates at the same speed; "dwaa:45" is lossy, for review only; "none" is for strict
# ST 2065-4 files; htj2k is not readable by the hosts yet.
DEFAULT_COMPRESSION = "zip:1"
COMPRESSIONS = ("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab",
                "htj2k32", "htj2k256")
PIXEL_TYPES = ("half", "float")
MAX_ATTRIBUTE_NAME = 31  # longer names make OpenEXR write the long-names version (1026)


class ExrError(ValueError):
    """An EXR cannot be read or written as asked."""


def check_compression(text: str) -> str:
    name, _, level = text.partition(":")
    if name not in COMPRESSIONS or (level and not level.isdigit()):
        raise ExrError(f"EXR compression {text!r}: use one of {', '.join(COMPRESSIONS)}, "
                       f"optionally with a level (zip:1, dwaa:45)")
    return text


def timecode(frame: int, fps: Fraction) -> tuple[int, str]:
    """SMPTE timecode of a frame number counted from 00:00:00:00 at the nominal rate.

    The frame number is the shot's frame (1001 at 24 fps -> 00:00:41:17), so a take's timecode
    lines up with the frame numbers in Nuke and Resolve. Non-integer rates (23.976) count at
    their nominal integer rate, non-drop, as SMPTE 12M does for 23.976.
    """
    base = max(1, round(float(fps)))
    frame = max(0, int(frame))
    ff = frame % base
    total = frame // base
    ss, mm, hh = total % 60, (total // 60) % 60, (total // 3600) % 24
    text = f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}"

    def bcd(v: int) -> int:
        return ((v // 10) << 4) | (v % 10)

    word = (bcd(hh) << 24) | (bcd(mm) << 16) | (bcd(ss) << 8) | bcd(ff)
    return word, text


def check_header(header: dict) -> dict[str, str]:
    for key, value in header.items():
        if not isinstance(key, str) or not key or len(key) > MAX_ATTRIBUTE_NAME:
            raise ExrError(f"EXR header name {key!r} is longer than {MAX_ATTRIBUTE_NAME} "
                           f"characters (or empty): shorten it")
    return {k: "" if v is None else str(v) for k, v in header.items()}


@dataclass
class FrameSpec:
    """Everything about a frame's header except its timecode, built once per take."""

    width: int
    height: int
    pixel_type: str
    compression: str
    fps: Fraction
    chromaticities: Optional[Sequence[float]]
    interop_id: Optional[str]
    attributes: dict[str, str]

    def spec_for(self, frame: int) -> "oiio.ImageSpec":
        spec = oiio.ImageSpec(self.width, self.height, 3, self.pixel_type)
        spec.channelnames = ("R", "G", "B")
        spec.attribute("compression", self.compression)
        spec.attribute("FramesPerSecond", oiio.TypeRational,
                       (self.fps.numerator, self.fps.denominator))
        word, _ = timecode(frame, self.fps)
        spec.attribute("smpte:TimeCode", oiio.TypeTimeCode, (word, 0))
        if self.chromaticities is not None:
            spec.attribute("chromaticities", oiio.TypeDesc("float[8]"),
                           tuple(float(v) for v in self.chromaticities))
            spec.attribute("adoptedNeutral", oiio.TypeDesc("float[2]"),
                           tuple(float(v) for v in self.chromaticities[6:8]))
        if self.interop_id:
            # OIIO writes this as colorInteropID; a config name here would not be portable.
            spec.attribute("oiio:ColorSpace", self.interop_id)
        for key, value in self.attributes.items():
            spec.attribute(key, value)
        return spec


def write_frame(path: Path, pixels: np.ndarray, spec: "oiio.ImageSpec") -> None:
    """Write one frame to a hidden temporary name beside ``path``, then rename it."""
    tmp = path.with_name(f".{path.name}.tmp")
    out = oiio.ImageOutput.create("openexr")
    if out is None:
        raise ExrError(f"OpenImageIO has no EXR writer: {oiio.geterror()}")
    try:
        if not out.open(str(tmp), spec):
            raise ExrError(f"cannot write {tmp}: {out.geterror()}")
        if not out.write_image(pixels):
            raise ExrError(f"cannot write {tmp}: {out.geterror()}")
        if not out.close():
            raise ExrError(f"cannot write {tmp}: {out.geterror()}")
    except BaseException:
        try:
            out.close()
        finally:
            tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


# -- reading ---------------------------------------------------------------------------------

@dataclass
class ExrProbe:
    path: Path
    width: int
    height: int
    channels: tuple[str, ...]
    rgb: tuple[int, int, int]  # channel indices of R, G, B
    pixel_type: str
    compression: str
    chromaticities: Optional[tuple[float, ...]]
    fps: Optional[Fraction]
    interop_id: Optional[str]


def probe_exr(path: Path) -> ExrProbe:
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise ExrError(f"{path}: not an EXR OpenImageIO can read ({oiio.geterror()})")
    try:
        return _probe_spec(path, inp.spec())
    finally:
        inp.close()


def _probe_spec(path: Path, spec) -> ExrProbe:
    names = tuple(spec.channelnames)
    index = {n: i for i, n in enumerate(names)}
    # Bare R,G,B, else the first layer that has all three (e.g. "rgba.R").
    rgb = None
    if all(c in index for c in "RGB"):
        rgb = (index["R"], index["G"], index["B"])
    else:
        for name in names:
            if name.endswith(".R"):
                layer = name[:-1]
                if layer + "G" in index and layer + "B" in index:
                    rgb = (index[name], index[layer + "G"], index[layer + "B"])
                    break
    if rgb is None:
        raise ExrError(f"{path}: no R, G, B channels (it has {', '.join(names)})")
    chroma = spec.getattribute("chromaticities")
    fps = spec.getattribute("FramesPerSecond")
    full_w = spec.full_width or spec.width
    full_h = spec.full_height or spec.height
    if (spec.x, spec.y, spec.width, spec.height) != (spec.full_x, spec.full_y, full_w, full_h):
        raise ExrError(f"{path}: its data window differs from its display window; genplate "
                       f"reads full-frame plates only")
    return ExrProbe(
        path=path, width=spec.width, height=spec.height, channels=names, rgb=rgb,
        pixel_type=str(spec.format), compression=str(spec.getattribute("compression") or ""),
        chromaticities=tuple(float(v) for v in chroma) if chroma else None,
        fps=Fraction(int(fps[0]), int(fps[1])) if fps and fps[1] else None,
        interop_id=spec.getattribute("colorInteropID") or None)


def read_rgb(path: Path, rgb: tuple[int, int, int], dtype: str = "half") -> np.ndarray:
    """The R, G, B channels of a frame as a contiguous (h, w, 3) array."""
    return read_frame(path, dtype, lambda p: rgb)[1]


def read_frame(path: Path, dtype: str, check) -> tuple[ExrProbe, np.ndarray]:
    """A frame's probe and its R, G, B pixels from one open of the file (a sequence's frames
    are each checked against the first, and a second open per frame costs a header parse);
    ``check(probe)`` raises if the frame does not belong and returns the R, G, B indices."""
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise ExrError(f"{path}: cannot read ({oiio.geterror()})")
    try:
        probe = _probe_spec(path, inp.spec())
        rgb = check(probe)
        lo, hi = min(rgb), max(rgb)
        if list(rgb) == list(range(lo, lo + 3)):
            pixels = inp.read_image(0, 0, lo, lo + 3, dtype)
        else:
            whole = inp.read_image(0, 0, lo, hi + 1, dtype)
            pixels = whole[..., [c - lo for c in rgb]]
        if pixels is None:
            raise ExrError(f"{path}: cannot read pixels ({inp.geterror()})")
        return probe, np.ascontiguousarray(pixels.reshape(pixels.shape[0], pixels.shape[1], 3))
    finally:
        inp.close()


_DIGITS = re.compile(r"(\d+)(?!.*\d)")


def sequence_order(paths: Sequence[Path]) -> list[Path]:
    """EXR files in frame order: by the last number in the name, then by name."""
    def key(p: Path):
        m = _DIGITS.search(p.stem)
        return (int(m.group(1)) if m else -1, p.name)
    return sorted(paths, key=key)


def main_sequence(paths: Sequence[Path]) -> list[Path]:
    """The frames of the longest sequence among ``paths`` (files named alike but for their
    frame number, in one folder), in frame order; a stray single EXR beside a sequence (a
    poster frame, a first/last frame still) is not one of its frames."""
    groups: dict[tuple, list[Path]] = {}
    for p in paths:
        m = _DIGITS.search(p.stem)
        pattern = p.stem[:m.start()] + "#" + p.stem[m.end():] if m else p.stem
        groups.setdefault((str(p.parent), pattern), []).append(p)
    best = max(groups.values(), key=len)
    return sequence_order(best)


# -- thumbnail -------------------------------------------------------------------------------

def write_thumbnail(frame_path: Path, png_path: Path, display_cpu, max_width: int = 480) -> None:
    """A frame through a display processor, as an 8-bit PNG at most ``max_width`` wide.

    The frame is shrunk by an integer factor with a box filter in scene-linear (averaging light,
    not display codes) before the display transform, which also keeps the costly ACES 2.0
    forward view to a few pixels.
    """
    probe = probe_exr(frame_path)
    thumbnail(read_rgb(frame_path, probe.rgb, "float"), png_path, display_cpu, max_width)


def thumbnail(pixels: np.ndarray, png_path: Path, display_cpu, max_width: int = 480) -> None:
    """``write_thumbnail`` from a frame's pixels in memory: the very values written to its EXR
    (float16 is widened exactly), so the PNG is the same as one made by reading it back."""
    pixels = np.asarray(pixels, dtype=np.float32)
    factor = max(1, -(-pixels.shape[1] // max_width))
    if factor > 1:
        h = pixels.shape[0] // factor * factor
        w = pixels.shape[1] // factor * factor
        pixels = pixels[:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean(axis=(1, 3))
    pixels = np.ascontiguousarray(np.nan_to_num(pixels, nan=0.0), dtype=np.float32)
    display_cpu.applyRGB(pixels)
    codes = np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)
    tmp = png_path.with_name(f".{png_path.name}.tmp")
    out = oiio.ImageOutput.create("png")
    spec8 = oiio.ImageSpec(codes.shape[1], codes.shape[0], 3, "uint8")
    if out is None or not out.open(str(tmp), spec8) or not out.write_image(codes) \
            or not out.close():
        tmp.unlink(missing_ok=True)
        raise ExrError(f"cannot write the thumbnail {png_path}: {oiio.geterror()}")
    os.replace(tmp, png_path)
