"""The request's own media, decoded and checked before anything is sent to any backend.

A keyframe, a start or end frame or an edit's keyframe must be an image the API takes (PNG,
JPEG or WebP, told by its first bytes, never its name), of a sane size, whose header is read
before its pixels and whose pixels then decode; an edit or reframe source must be a video
(MP4/MOV) whose stream header is sane and whose first frame decodes. ``ShotRequest.validate``
calls these for every local path, so the Luma backend never base64-sends ``/etc/passwd`` and
the offline renderer refuses the same files for the same reasons, before a job exists.

Nothing here knows the request: it answers ``MediaProblem`` with what a file must be, and
request.py names the field.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
# luma-agents-api.md: inputs over about 50 MB are refused (413).
MAX_IMAGE_BYTES = 50 * 1000 * 1000
MAX_VIDEO_BYTES = 5 * 1024 ** 3  # the Files API's limit
# Ray3 renders at most 1080p; a frame grab of any plate up to 8K still fits.
MAX_SIDE = 8192
STRIP = 256  # scanlines decoded at a time: checking a large image never holds all of it


class MediaProblem(ValueError):
    """What a file must be, and how this one falls short (for RequestError's ``allowed``)."""


@dataclass(frozen=True)
class MediaFacts:
    media_type: str
    width: int
    height: int
    seconds: Optional[float] = None  # videos


_cache: dict[tuple, MediaFacts] = {}
_lock = threading.Lock()


def image_kind(head: bytes) -> Optional[str]:
    """png, jpeg or webp by the first bytes, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def check_image(path: os.PathLike | str) -> MediaFacts:
    """The image's facts, or MediaProblem: not an image the API takes, too big, or broken."""
    return _cached(Path(path), _check_image)


def check_video(path: os.PathLike | str) -> MediaFacts:
    """The video's facts, or MediaProblem: not a video, too big, or its frames do not decode."""
    return _cached(Path(path), _check_video)


def _cached(path: Path, check) -> MediaFacts:
    try:
        stat = path.stat()
    except OSError as exc:
        raise MediaProblem(f"a readable file ({exc.strerror or exc})") from None
    # A request is validated when recorded and again before it is sent: decode a file once.
    key = (check.__name__, str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _cache:
            return _cache[key]
    facts = check(path, stat.st_size)
    with _lock:
        _cache[key] = facts
    return facts


def _check_image(path: Path, size: int) -> MediaFacts:
    import OpenImageIO as oiio

    if size > MAX_IMAGE_BYTES:
        raise MediaProblem(f"an image of at most {MAX_IMAGE_BYTES // 1000 // 1000} MB "
                           f"(this one is {size / 1e6:.1f} MB)")
    with open(path, "rb") as f:
        kind = image_kind(f.read(16))
    if kind is None:
        raise MediaProblem("a PNG, JPEG or WebP image (this file is none of them by its first "
                           "bytes)")
    inp = oiio.ImageInput.open(str(path))  # reads the header only
    if inp is None:
        raise MediaProblem(f"a {kind.upper()} image that can be decoded (its header cannot: "
                           f"{oiio.geterror() or 'unknown error'})")
    try:
        if inp.format_name() != _OIIO_FORMAT[kind]:
            raise MediaProblem(f"a {kind.upper()} image that can be decoded (OpenImageIO reads "
                               f"it as {inp.format_name()})")
        spec = inp.spec()
        width, height = spec.width, spec.height
        if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
            raise MediaProblem(f"an image of at most {MAX_SIDE} x {MAX_SIDE} pixels (its header "
                               f"says {width} x {height}; nothing of it was decoded)")
        for y in range(spec.y, spec.y + height, STRIP):
            strip = inp.read_scanlines(0, 0, y, min(y + STRIP, spec.y + height), 0, 0,
                                       spec.nchannels, "uint8")
            if strip is None:
                raise MediaProblem(f"a {kind.upper()} image that can be decoded (scanline {y} "
                                   f"cannot: {inp.geterror() or 'the file is damaged'})")
    finally:
        inp.close()
    return MediaFacts(IMAGE_TYPES[kind], width, height)


_OIIO_FORMAT = {"png": "png", "jpeg": "jpeg", "webp": "webp"}


def _check_video(path: Path, size: int) -> MediaFacts:
    import av

    if size > MAX_VIDEO_BYTES:
        raise MediaProblem(f"a video of at most 5 GiB (this one is {size / 2 ** 30:.1f} GiB)")
    with open(path, "rb") as f:
        head = f.read(12)
    if not (len(head) == 12 and head[4:8] == b"ftyp"):
        raise MediaProblem("an MP4 or MOV video (this file is neither by its first bytes)")
    try:
        container = av.open(str(path))
    except Exception as exc:  # PyAV raises a zoo of errors for a bad file
        raise MediaProblem(f"a video that can be decoded (it cannot be opened: {exc})") from None
    with container:
        if not container.streams.video:
            raise MediaProblem("a video (this file has no video stream)")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
            raise MediaProblem(f"a video of at most {MAX_SIDE} x {MAX_SIDE} pixels (its header "
                               f"says {width} x {height}; nothing of it was decoded)")
        try:
            next(container.decode(stream))
        except StopIteration:
            raise MediaProblem("a video with frames (its stream has none)") from None
        except Exception as exc:
            raise MediaProblem(f"a video that can be decoded (its first frame cannot: {exc})") \
                from None
        seconds = None
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / 1_000_000
    return MediaFacts("video/quicktime" if head[8:10] == b"qt" else "video/mp4", width, height,
                      seconds)


__all__ = ["MediaProblem", "MediaFacts", "check_image", "check_video", "image_kind",
           "IMAGE_TYPES", "MAX_IMAGE_BYTES", "MAX_SIDE"]
