"""SDR display-match beyond the view's range: what becomes of codes outside 16-235.

The inverse of an SDR view only knows display values 0-1: R'G'B' above 1 comes back as if it
were 1 and below 0 as if it were 0, so super-whites (Y' 236-254 all give the view's white, 128
under ACES 2.0) and sub-blacks (Y' 1-15 all give 0) lose the detail a camera or encoder put
there. ``BeyondRange`` (the ``extend`` SDR range, the default) keeps it, adding only light that
the view itself does not show, so the plate still looks like the MP4 through the view:

    above: when every channel is above 1 (the monitor shows white), by how much the least one
           is, u = min(x) - 1: white light W * ((1 + u)^g - 1), W the view's white (the inverse
           of display white), g the display's own EOTF continued past white (BT.1886's 2.4
           power, or sRGB's): a grey Y' 254 (x = 1.087) becomes 128 x 1.087^2.4 = 156
    below: when every channel is below 0 (the monitor shows black), the inverse view mirrored
           about black at the most one, v = max(x): minus the light a grey of level -v gets;
           Y' 1 becomes minus what Y' 31 becomes
    else:  exactly the inverse view

It is continuous (nothing is added at the edges) and monotonic in every channel (min and max
are), and it adds only neutral light where the view gives exactly white or black: an ACES view
shows more white as white and negative black as black. A coloured overshoot (one channel past
1 or 0, as saturated colours and chroma edges give) is left as the view gives it: a view does
not show extra light on a colour as the same colour (it paths to white), so any extension there
would change the plate's look through the view, by up to tens of code values (measured).

It runs on Y'CbCr code triples after the OCIO processor (``apply``), so the memo table and the
direct processor give bit-identical frames: both call it on the same triples and values.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import PyOpenColorIO as ocio

from .config import ConfigInfo, find_space
from .errors import ConfigError
from .sources import DISPLAY_MATCH, LINEAR_REC709, SDR_EXTEND, SDR_KINDS, SDR_SRGB, InputTransform
from .ycbcr import YCbCrCoding, coefficients


def wanted(transform: InputTransform) -> bool:
    """Whether this transform extends beyond the view's range."""
    return (transform.mode == DISPLAY_MATCH and transform.source_kind in SDR_KINDS
            and transform.sdr_range == SDR_EXTEND)


def eotf(x: np.ndarray, source_kind: str) -> np.ndarray:
    """The display EOTF (0-1 relative) for codes at or above 0: BT.1886 with a zero black level
    (the 2.4 power), or the sRGB piecewise curve."""
    x = np.asarray(x, np.float64)
    if source_kind == SDR_SRGB:
        return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    return x ** 2.4


class BeyondRange:
    """The extension for one clip's transform and Y'CbCr coding (see the module's docstring)."""

    def __init__(self, info: ConfigInfo, transform: InputTransform, coding: YCbCrCoding) -> None:
        self.source_kind = transform.source_kind
        m, off = coefficients(coding)
        self._m = np.asarray(m, np.float64)
        self._off = np.asarray(off, np.float64)
        config = info.config
        try:
            self._inverse = config.getProcessor(transform.transform()).getDefaultCPUProcessor()
        except Exception as exc:
            raise ConfigError(f"OCIO cannot build {transform.describe()}: {exc}") from None
        linear = find_space(config, *LINEAR_REC709)
        if linear is None:
            raise ConfigError("extending SDR beyond the view's range needs a linear Rec.709 space "
                              "in the OCIO config; use --sdr-range clip")
        to_working = config.getProcessor(linear, transform.dst_space).getDefaultCPUProcessor()
        probe = np.ascontiguousarray(np.eye(3, dtype=np.float32))
        to_working.applyRGB(probe)
        # display white, as linear light of the display's primaries, in the working space
        self._white_light = probe.astype(np.float64).sum(axis=0)
        self.white = float(self._grey(np.array([1.0]))[0])

    def _grey(self, levels: np.ndarray) -> np.ndarray:
        """The inverse view of greys at these display levels (0-1), the green channel."""
        pixels = np.ascontiguousarray(np.repeat(levels.astype(np.float32)[:, None], 3, axis=1))
        if pixels.size:
            self._inverse.applyRGB(pixels)
        return pixels[:, 1].astype(np.float64)

    def signal(self, y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
        """R'G'B' (n, 3) of code triples, unclipped: the matrix the OCIO processor applies."""
        codes = np.stack([np.ravel(y), np.ravel(cb), np.ravel(cr)], axis=-1).astype(np.float64)
        codes -= self._off
        return codes @ self._m.T

    def apply(self, y: np.ndarray, cb: np.ndarray, cr: np.ndarray, out: np.ndarray) -> int:
        """Extend ``out`` (the processor's result for these planes, ``(..., 3)``, float16 or
        float32) where every channel of a triple's R'G'B' is above 1 or below 0, in place;
        returns how many pixels."""
        x = self.signal(y, cb, cr)
        least, most = x.min(axis=1), x.max(axis=1)
        index = np.flatnonzero((least > 1.0) | (most < 0.0))
        if index.size == 0:
            return 0
        least, most = least[index], most[index]
        amount = self.white * (eotf(np.maximum(least, 1.0), self.source_kind) - 1.0)
        below = most < 0.0
        amount[below] = -self._grey(-most[below])
        flat = out.reshape(-1, 3)
        scene = flat[index].astype(np.float64) + amount[:, None] * self._white_light
        flat[index] = scene.astype(out.dtype)
        return int(index.size)


def beyond_range(info: ConfigInfo, transform: InputTransform,
                 coding: YCbCrCoding) -> Optional[BeyondRange]:
    """The extension this transform asks for, or None (texture, HDR, the ``clip`` range)."""
    return BeyondRange(info, transform, coding) if wanted(transform) else None
