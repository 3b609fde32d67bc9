"""What the network may send, bounded before it is trusted: where from, how much, how fast.

A generation's outputs come from URLs the service hands out, so a misbehaving or hostile
answer could point at a local file, send an endless body, drip a byte at a time or deliver an
archive or an EXR header that asks for more memory than the machine has. Every bound here is
derived from what was asked (``budget_for(request)``) or, for footage that did not come from a
request (`genplate ingest`), from the largest delivery genplate knows of (``budget_for_files``);
fetch, unpack and ingest all check the same ``Budget``. Each bound has a ``GENPLATE_*`` setting
(README, "Limits").

The byte budget of a request, for N frame slots (121 for 5 s, 241 for 10 s) of W x H pixels:

    video  N x W x H x 1 byte         8 bits a pixel: above ProRes 422 HQ; Ray3's H.264/HEVC
                                      MP4s are a small fraction of it
    EXR    N x (W x H x 4 x 2 + 64 KiB)   with exr_export: RGBA half, uncompressed (Luma sends
                                      DWAB, a quarter or less of it), plus headers
    total  (16 MiB + video + EXR) x GENPLATE_DELIVERY_BUDGET_SCALE

A 1080p 16:9 10 s HDR+EXR master is 241 x 2.07 MP: 0.5 GB of video and 4.0 GB of EXR, 4.5 GB
in all; a 360p 5 s draft is 44 MB.
"""
from __future__ import annotations

import collections
import ipaddress
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional
from urllib.parse import urlsplit
from urllib.request import url2pathname

if TYPE_CHECKING:
    from ..request import ShotRequest

MIB = 1024 ** 2
GIB = 1024 ** 3

SCALE_ENV = "GENPLATE_DELIVERY_BUDGET_SCALE"
RATIO_ENV = "GENPLATE_UNPACK_MAX_RATIO"
DEADLINE_ENV = "GENPLATE_FETCH_DEADLINE"
MIN_RATE_ENV = "GENPLATE_FETCH_MIN_RATE_KIB"
WINDOW_ENV = "GENPLATE_FETCH_RATE_WINDOW"
BASE_URL_ENV = "LUMA_BASE_URL"  # the service's address (the Luma backend reads it too)

FLOOR_BYTES = 16 * MIB  # small outputs (an image, a sidecar) fit whatever was asked
VIDEO_BYTES_PER_PIXEL = 1
EXR_CHANNELS = 4  # RGBA: Luma documents RGB half; an alpha would not be a surprise
EXR_BYTES_PER_SAMPLE = 2  # half float (luma-agents-api.md, "What is delivered")
EXR_FRAME_OVERHEAD = 64 * 1024
MAX_ASPECT = 21 / 9  # the widest aspect the API takes
SIZE_TOLERANCE = 0.05  # the service's exact pixel sizes per aspect are not documented
SIZE_SLACK = 16  # pixels: codec alignment (1080 -> 1088) and rounding of the long side

# Footage that comes with no request (`genplate ingest`, a still): a sanity bound instead of
# the request's size. Luma's app exports 4K; plates from elsewhere may be larger still.
FILES_BYTES = 64 * GIB
FILES_MAX_ENTRIES = 20000
MAX_SIDE = 16384
MAX_PIXELS = 8192 * 8192
MAX_CHANNELS = 64
MAX_FRAME_READ_BYTES = 2 * GIB  # what one frame's read may allocate (channels read x bytes)

DEFAULT_RATIO = 100.0  # DWAB frames zip at ~1:1; deflate tops out near 1000:1 (a bomb)
DEFAULT_DEADLINE = 2 * 3600.0
DEFAULT_MIN_RATE_KIB = 16.0
DEFAULT_WINDOW = 60.0


class FetchError(RuntimeError):
    """An output could not be downloaded; the message names the output and never a signature."""


class LimitError(FetchError):
    """A GENPLATE_* limit setting that is not a usable value (the job waits, resumable, until
    it is fixed)."""


@dataclass(frozen=True)
class Budget:
    """What one delivery may hold; ``basis`` says what it was derived from (for messages)."""

    bytes: int  # all outputs of the generation together, and any archive's contents
    files: int  # entries in one archive
    ratio: float  # an archive's contents over its own size
    basis: str
    frames: Optional[int] = None  # frame slots asked for (None: not known)
    width: Optional[int] = None  # the frame size asked for (None: any within the bounds)
    height: Optional[int] = None
    short_side: Optional[int] = None  # video_edit keeps its source's aspect: the short side only
    channels: int = MAX_CHANNELS
    pixel_types: tuple[str, ...] = ("half", "float", "uint8", "uint16", "uint32")
    max_side: int = MAX_SIDE
    max_pixels: int = MAX_PIXELS
    frame_read_bytes: int = MAX_FRAME_READ_BYTES

    def frame_problem(self, width: int, height: int) -> Optional[str]:
        """Why a frame (from its header alone) of ``width`` x ``height`` does not belong, or None."""
        if width <= 0 or height <= 0:
            return f"{width}x{height} is not a frame size"
        if self.width is not None and self.height is not None:
            if not (_near(width, self.width) and _near(height, self.height)):
                return (f"{width}x{height}, the request asked for {self.width}x{self.height} "
                        f"({self.basis})")
            return None
        if self.short_side is not None:
            short, long = min(width, height), max(width, height)
            if not _near(short, self.short_side) or long > _upper(self.short_side * MAX_ASPECT):
                return (f"{width}x{height}, the request asked for a {self.short_side}p frame "
                        f"({self.basis})")
            return None
        if max(width, height) > self.max_side or width * height > self.max_pixels:
            return (f"{width}x{height}, over the {self.max_side}-pixel side / "
                    f"{self.max_pixels / 1e6:.0f}-megapixel bound for footage of unknown size")
        return None


@dataclass(frozen=True)
class Pace:
    """How long a fetch may take, and how slowly bytes may come."""

    deadline: float  # seconds for the whole fetch of a generation's outputs
    min_rate: float  # bytes a second, averaged over ``window``
    window: float  # seconds


def budget_for(request: "ShotRequest", *, scale: Optional[float] = None,
               ratio: Optional[float] = None) -> Budget:
    """The budget of a delivery for ``request`` (the formula in this module's docstring)."""
    scale = setting(SCALE_ENV, 1.0, minimum=1e-6) if scale is None else scale
    ratio = setting(RATIO_ENV, DEFAULT_RATIO, minimum=1.0) if ratio is None else ratio
    frames = request.frame_count
    short = int(request.resolution.rstrip("p"))
    edit = request.type == "video_edit"
    if edit:  # an edit keeps its source's frame (luma-agents-api.md): bound it by the widest
        width, height = 2 * math.ceil(short * MAX_ASPECT / 2), short
    else:
        width, height = request.frame_size()
    pixels = width * height
    video = frames * pixels * VIDEO_BYTES_PER_PIXEL
    exr = frames * (pixels * EXR_CHANNELS * EXR_BYTES_PER_SAMPLE + EXR_FRAME_OVERHEAD) \
        if request.exr_export else 0
    total = int((FLOOR_BYTES + video + exr) * scale)
    basis = (f"{request.resolution} {request.duration} {'HDR+EXR' if request.exr_export else 'HDR' if request.hdr else 'SDR'}"
             f"{'' if edit else ' ' + request.aspect_ratio}")
    return Budget(bytes=total, files=2 * frames + 16, ratio=ratio, basis=basis, frames=frames,
                  width=None if edit else width, height=None if edit else height,
                  short_side=short if edit else None, channels=EXR_CHANNELS,
                  pixel_types=("half",))


def budget_for_files(*, scale: Optional[float] = None, ratio: Optional[float] = None) -> Budget:
    """The budget of footage that came with no request: sanity bounds, not the request's."""
    scale = setting(SCALE_ENV, 1.0, minimum=1e-6) if scale is None else scale
    ratio = setting(RATIO_ENV, DEFAULT_RATIO, minimum=1.0) if ratio is None else ratio
    return Budget(bytes=int(FILES_BYTES * scale), files=FILES_MAX_ENTRIES, ratio=ratio,
                  basis="footage of unknown size")


def pace_from_env() -> Pace:
    return Pace(deadline=setting(DEADLINE_ENV, DEFAULT_DEADLINE, minimum=1.0),
                min_rate=setting(MIN_RATE_ENV, DEFAULT_MIN_RATE_KIB, minimum=0.0) * 1024,
                window=setting(WINDOW_ENV, DEFAULT_WINDOW, minimum=0.1))


def setting(name: str, default: float, *, minimum: float) -> float:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise LimitError(f"{name}={raw!r} is not a number (default {default:g})") from None
    if not math.isfinite(value) or value < minimum:
        raise LimitError(f"{name}={raw!r} must be a number of at least {minimum:g} "
                         f"(default {default:g})")
    return value


class Speed:
    """Bytes received over a sliding window; ``observe`` answers the rate when it is too slow."""

    def __init__(self, pace: Pace) -> None:
        self.pace = pace
        self.started = time.monotonic()
        self.samples: collections.deque = collections.deque([(self.started, 0)])

    def observe(self, received: int) -> Optional[float]:
        now = time.monotonic()
        window = self.pace.window
        # A sample every 1/50 of a window is enough to measure it, and bounds their number
        # however small the reads of a fast link are.
        if now - self.samples[-1][0] >= window / 50:
            self.samples.append((now, received))
        # Keep the newest sample at least a window old as the window's start.
        while len(self.samples) > 1 and self.samples[1][0] <= now - window:
            self.samples.popleft()
        if now - self.started < window:
            return None
        since, base = self.samples[0]
        rate = (received - base) / max(now - since, 1e-9)
        return rate if rate < self.pace.min_rate else None


def size_text(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


# -- where outputs may come from ---------------------------------------------------------------

def is_loopback(host: Optional[str]) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plain_http_allowed(base_url: Optional[str] = None) -> bool:
    """Plain http outputs only while the service itself is on this machine (a local emulator):
    ``base_url``, else ``LUMA_BASE_URL``, is an http URL of a loopback address."""
    url = os.environ.get(BASE_URL_ENV, "") if base_url is None else base_url
    parts = urlsplit((url or "").strip())
    return parts.scheme.lower() == "http" and is_loopback(parts.hostname)


def url_problem(url: str, *, plain_http: bool, local_root: Optional[Path]) -> Optional[str]:
    """Why an output URL must not be fetched, or None. Only https; http only to this machine
    when ``plain_http``; file only inside ``local_root`` (the offline backend's own store)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return None
    if scheme == "http" and parts.hostname:
        if plain_http and is_loopback(parts.hostname):
            return None
        return ("a plain http URL: outputs are fetched over https only (http only from this "
                "machine, while LUMA_BASE_URL points at a local emulator)")
    if scheme == "file":
        if local_root is None:
            return ("a file URL: the service named a file on this machine; outputs are "
                    "fetched over https only")
        if parts.netloc not in ("", "localhost"):
            return "a file URL that names another machine"
        path = Path(os.path.realpath(url2pathname(parts.path)))
        root = Path(os.path.realpath(local_root))
        if path != root and root not in path.parents:
            return f"a file URL outside the backend's own store {root}"
        return None
    return f"a {scheme or 'scheme-less'} URL: outputs are fetched over https only"


def _near(actual: int, asked: int) -> bool:
    return abs(actual - asked) <= max(SIZE_SLACK, asked * SIZE_TOLERANCE)


def _upper(asked: float) -> float:
    return asked + max(SIZE_SLACK, asked * SIZE_TOLERANCE)


__all__ = ["Budget", "Pace", "FetchError", "LimitError", "budget_for", "budget_for_files", "pace_from_env",
           "plain_http_allowed", "url_problem", "is_loopback", "setting", "Speed", "size_text"]
