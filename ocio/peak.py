"""How bright an HDR clip gets, and the HDR view that holds it.

An ACES HDR view inverts display light up to its peak and no further: through the 1000-nit
view everything above 1000 nits comes back as one value (512 in ACEScg), so the brighter half
of a 4000-nit master would be lost. The view is therefore chosen from the content: the
brightest R'G'B' signal of the clip, measured on the very code triples that are converted (the
4:4:4 planes after chroma upsampling), read as display light. HDR10 metadata (MaxCLL, the
mastering display's peak) is a claim about the content; the measure checks it.

PQ: the ST 2084 EOTF of the brightest channel is exactly that pixel's brightest display light
(the MaxCLL definition). HLG: the BT.2100 HLG EOTF of a 1000-nit display, whose OOTF scales each
pixel by its scene luminance to the power 0.2 (system gamma 1.2), so a saturated HLG code at
1.0 is dimmer than a neutral one; the peak is kept as the neutral signal of the same light.
"""
from __future__ import annotations

import math

import numpy as np

from .sources import HDR_HLG
from .ycbcr import YCbCrCoding, coefficients

HDR_VIEWS_NITS = (1000, 2000, 4000)
"""The peaks the ACES HDR views come in, smallest first (1000 nits is the floor: the HDR10
reference, and what the 1000-nit view of a dimmer clip inverts without loss)."""

HLG_DISPLAY_NITS = 1000.0  # the HLG system of the ACES configs' Rec.2100-HLG display
HLG_GAMMA = 1.2  # BT.2100 system gamma at 1000 nits
_TOLERANCE = 1.001  # a peak this close above a view's is its own (rounding of codes and nits)

# SMPTE ST 2084 constants
_M1, _M2 = 2610 / 16384, 2523 / 4096 * 128
_C1, _C2, _C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
# ARIB STD-B67 / BT.2100 HLG constants
_A = 0.17883277
_B = 1 - 4 * _A
_C = 0.5 - _A * math.log(4 * _A)


def pq_nits(signal: float) -> float:
    """Display light (cd/m2) of a PQ signal (0-1; above 1 is taken as 1)."""
    e = min(max(float(signal), 0.0), 1.0) ** (1 / _M2)
    return 10000.0 * (max(e - _C1, 0.0) / (_C2 - _C3 * e)) ** (1 / _M1)


def hlg_nits(signal: float) -> float:
    """Display light (cd/m2) of a neutral HLG signal on a 1000-nit display (super-whites
    above 1 follow the same curve)."""
    return HLG_DISPLAY_NITS * float(_hlg_scene(np.float64(signal))) ** HLG_GAMMA


def _hlg_scene(signal: np.ndarray) -> np.ndarray:
    """BT.2100 HLG inverse OETF (0-1 scene light; super-whites above 1 continue the curve)."""
    e = np.maximum(signal, 0.0)
    with np.errstate(over="ignore"):
        return np.where(e <= 0.5, e * e / 3, (np.exp((e - _C) / _A) + _B) / 12)


def _hlg_signal(scene: float) -> float:
    """BT.2100 HLG OETF (the inverse of ``_hlg_scene``)."""
    scene = max(scene, 0.0)
    return math.sqrt(3 * scene) if scene <= 1 / 12 else _A * math.log(12 * scene - _B) + _C


HLG_LUMA = np.array([0.2627, 0.6780, 0.0593])  # BT.2100 luminance of R, G, B


def hlg_neutral_signal(rgb: np.ndarray) -> float:
    """The neutral HLG signal as bright as the brightest display channel of these HLG R'G'B'
    pixels (n, 3) on a 1000-nit display (hlg_nits of it is that channel's light)."""
    scene = _hlg_scene(rgb)
    luma = np.maximum(scene @ HLG_LUMA, 0.0)
    light = luma ** (HLG_GAMMA - 1) * scene.max(axis=1)  # the OOTF, relative to the peak
    brightest = float(light.max())
    return _hlg_signal(brightest ** (1 / HLG_GAMMA)) if brightest > 0 else 0.0


def view_for(nits: float) -> int:
    """The smallest HDR view that holds this peak (the largest when none does)."""
    for view in HDR_VIEWS_NITS:
        if nits <= view * _TOLERANCE:
            return view
    return HDR_VIEWS_NITS[-1]


def holds(view_nits: int, nits: float) -> bool:
    return nits <= view_nits * _TOLERANCE


class SignalPeak:
    """The brightest R'G'B' signal of a clip so far (for HLG: as a neutral of the same light),
    fed one frame of Y'CbCr planes at a time.

    Exact, and cheap once the peak is known: each row of a frame is reduced to its largest luma
    and its chroma extremes first (a bound of every pixel in it), and only pixels of rows that
    could pass the peak so far, and whose luma could lift a channel above it, are converted to
    R'G'B' (on a typical clip, a few rows around the highlights after the first frame).
    """

    def __init__(self, coding: YCbCrCoding, source_kind: str) -> None:
        m, off = coefficients(coding)
        self._m = np.asarray(m, np.float64)
        self._off = np.asarray(off, np.float64)
        self._y_scale = self._m[0, 0]  # the same luma weight in every channel
        self.source_kind = source_kind
        self.signal = -math.inf

    @property
    def nits(self) -> float:
        if self.signal == -math.inf:
            return 0.0
        return (hlg_nits if self.source_kind == HDR_HLG else pq_nits)(self.signal)

    def _lift(self, cb_lo, cb_hi, cr_lo, cr_hi) -> np.ndarray:
        """The most any channel's chroma terms can add, per row, over the row's chroma range."""
        best = None
        for row in self._m:
            cb = np.maximum(row[1] * (cb_lo - self._off[1]), row[1] * (cb_hi - self._off[1]))
            cr = np.maximum(row[2] * (cr_lo - self._off[2]), row[2] * (cr_hi - self._off[2]))
            best = cb + cr if best is None else np.maximum(best, cb + cr)
        return best

    def frame(self, y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> float:
        """Take one frame's planes (h, w) into the peak; returns the peak signal so far."""
        # per row: the largest luma and the chroma extremes bound every pixel of the row
        lift = self._lift(*(f(p, axis=1).astype(np.float64)
                            for p in (cb, cr) for f in (np.min, np.max)))
        luma = self._y_scale * (np.max(y, axis=1) - self._off[0])
        if self.source_kind != HDR_HLG:
            # a pixel's brightest channel is at least its luma (a weighted mean of R'G'B'), so
            # the brightest luma is a floor of the peak: on a clip's first frame it spares
            # converting all but the rows and pixels that could beat it
            self.signal = max(self.signal, float(luma.max()))
        bound = luma + lift
        rows = np.flatnonzero(bound > self.signal)
        if rows.size == 0:
            return self.signal
        # in those rows, only pixels whose luma could lift a channel above the peak so far
        floor = (self._off[0] + (self.signal - lift[rows]) / self._y_scale)[:, None]
        band = [p[rows] for p in (y, cb, cr)]
        mask = band[0] >= floor
        planes = [p[mask] for p in band]
        if planes[0].size:
            y0, cb0, cr0 = (p.astype(np.float64) - o for p, o in zip(planes, self._off))
            rgb = [self._y_scale * y0 + row[1] * cb0 + row[2] * cr0 for row in self._m]
            if self.source_kind == HDR_HLG:
                # the neutral signal of the same light, never above the brightest channel's
                # signal, so the candidates above stay a superset
                top = hlg_neutral_signal(np.stack(rgb, axis=-1))
            else:
                top = max(float(c.max()) for c in rgb)
            self.signal = max(self.signal, top)
        return self.signal
