"""SDR display-match beyond the view's range: what becomes of codes outside 16-235.

The inverse of an SDR view only knows display values 0-1: every R'G'B' above 1 (Y' 236-254,
and saturated colours whose chroma overshoots) comes back as the view's white (~128 under
ACES 2.0), every one below 0 (Y' 1-15) as black, so the detail a camera or encoder put there is
lost. ``BeyondRange`` (the ``extend`` SDR range, the default) keeps it with an extension that is
continuous at the edges and monotonic in each channel:

    scene = inverse(clip(x, 0, 1)) + M . e(x),  per display channel i:
      e_i = W * (EOTF(x_i) - 1)   above 1: the display's own EOTF (BT.1886's 2.4 power, or sRGB)
                                  continued, scaled so display white meets the view's white W
      e_i = -inverse_grey(-x_i)   below 0: the inverse view mirrored about black
      e_i = 0                     inside 0-1: exactly the inverse view

with M the display primaries (linear Rec.709) in the working space, so an overshoot adds light
of its own primary. A grey Y' 254 (x = 1.087) becomes 128 x 1.221 = 156 under ACES 2.0; Y' 1
becomes minus the inverse of 0.068. No forward view shows any of it (above its white a view
shows white), so the plate still looks like the MP4 through the view, and a grade that brings
highlights down finds the detail. The ``clip`` SDR range leaves the inverse view as it is.

It runs on Y'CbCr code triples after the OCIO processor (``apply``), so the memo table and the
direct processor give bit-identical frames: both call it on the same triples.
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
        self.white = float(self._grey(np.array([1.0]))[0])
        linear = find_space(config, *LINEAR_REC709)
        if linear is None:
            raise ConfigError("extending SDR beyond the view's range needs a linear Rec.709 space "
                              "in the OCIO config; use --sdr-range clip")
        to_working = config.getProcessor(linear, transform.dst_space).getDefaultCPUProcessor()
        probe = np.ascontiguousarray(np.eye(3, dtype=np.float32))
        to_working.applyRGB(probe)
        self._primaries = probe.astype(np.float64)  # row i: display primary i in the working space

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
        """Add the extension to ``out`` (the processor's result for these planes, ``(..., 3)``,
        float16 or float32) where a triple's R'G'B' leaves 0-1; returns how many pixels."""
        x = self.signal(y, cb, cr)
        outside = ((x < 0.0) | (x > 1.0)).any(axis=1)
        index = np.flatnonzero(outside)
        if index.size == 0:
            return 0
        xs = x[index]
        extra = np.zeros_like(xs)
        above = xs > 1.0
        extra[above] = self.white * (eotf(xs[above], self.source_kind) - 1.0)
        below = xs < 0.0
        extra[below] = -self._grey(-xs[below])
        flat = out.reshape(-1, 3)
        flat[index] = (flat[index].astype(np.float64) + extra @ self._primaries).astype(out.dtype)
        return int(index.size)


def beyond_range(info: ConfigInfo, transform: InputTransform,
                 coding: YCbCrCoding) -> Optional[BeyondRange]:
    """The extension this transform asks for, or None (texture, HDR, the ``clip`` range)."""
    return BeyondRange(info, transform, coding) if wanted(transform) else None
