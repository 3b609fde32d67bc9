"""HDR display-match through a 3D LUT baked from the exact processor, and the exact processor
for the colours where the LUT is not close enough (issue #18).

The inverse ACES 2.0 HDR output transform runs at ~1.6 MP/s a core: a 1080p PQ frame costs
1.2 s of CPU. Natural footage defeats a memo of its Y'CbCr triples (grain makes most of a
frame's ~2 M triples new), so the exact path is ~9x the write floor on it. Here the same
processor is sampled once per clip on a grid over the R'G'B' signal and applied as OCIO's own
tetrahedral Lut3D (~50 ms of CPU a 1080p frame), with two guards that keep it honest:

- The domain. PQ views clamp each channel at the view's peak code (and at 0) before anything
  else, so a grid over [0, peak code] with the LUT's own clamp is the processor everywhere; this
  is checked at bake time on random signals well outside that range. A transform that does not
  clamp that way (HLG through the PQ view, some views' gamut limits) gets a grid that reaches
  beyond [0, top] by ``MARGIN`` and every pixel outside the grid goes through the exact processor.
- The cells. Near the view's gamut boundary and its peak the inverse bends too fast for a grid:
  every cell is checked at six points (``PROBES``), through the view back to the signal, and a
  cell whose error at any of them exceeds ``CELL_TOLERANCE`` 10-bit codes is marked, with the
  cells around it. Pixels in a marked cell go through the exact processor, pixel by pixel
  (through a memo of their triples, which highlights repeat).

So the error is bounded by the check rather than by hope: measured against the exact processor
on natural content and on signals spread uniformly over the domain, in tests/test_baked.py.
`--exact` (IngestOptions.exact) keeps the exact processor for every pixel.

Output values are interpolated in the processor's own neutral-axis encoding (GreyShaper),
because the inverse's output spans 2^-10 to a few hundred: interpolating those linearly would
be coarse at the dark end, and a generic log curve leaves the tone scale's bend in the grid.
"""
from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np
import PyOpenColorIO as ocio

from .config import ConfigInfo
from .memo import TABLES, ExactCache
from .processors import cpu_processor
from .ycbcr import YCbCrCoding, bit_depth, matrix_transform

GRID = 65  # nodes along each axis over [0, top]: 65^3 samples, ~0.5 s of baking
MAX_GRID = 129  # OCIO's largest Lut3D
MARGIN = 0.08  # how far a non-clamping grid reaches beyond [0, top] (limited-range excursions)
CELL_TOLERANCE = 0.8  # 10-bit codes at any probe of a cell; the bound to keep is 1 code
CODE = 1023.0
# Where each cell is checked: one point inside each of the six tetrahedra the interpolation
# splits a cube into (the centre lies on the diagonal they share, where the interpolation is
# a 1D one and looks better than the cell is).
PROBES = ((.25, .5, .75), (.25, .75, .5), (.5, .25, .75),
          (.5, .75, .25), (.75, .25, .5), (.75, .5, .25))


class GreyShaper:
    """The encoding the LUT's values are stored in: per channel, the signal on the neutral axis
    that the processor takes to that value. Along grey the LUT then holds the identity, exact
    at any grid size, and near it a gently bent function; beyond the neutral curve's ends it
    continues mirrored below 0 and exponentially above ``top``, so every value has a code."""

    SAMPLES = 1 << 16

    def __init__(self, top: float, curve: np.ndarray) -> None:
        self.lo, self.hi = -top, 1.5 * top
        self.codes = self.domain(top)
        self.curve = curve

    @classmethod
    def domain(cls, top: float) -> np.ndarray:
        """The codes the curve is sampled at: a mirror of the neutral range below 0, half of
        it again above ``top``."""
        return np.linspace(-top, 1.5 * top, cls.SAMPLES)

    @classmethod
    def of(cls, exact_rgb, top: float) -> "GreyShaper":
        ramp = np.linspace(0.0, top, 4097)
        grey = _rows(exact_rgb, np.repeat(ramp[:, None], 3, axis=1)).astype(np.float64)
        codes = cls.domain(top)
        curve = np.empty((cls.SAMPLES, 3))
        inside, below, above = (codes >= 0) & (codes <= top), codes < 0, codes > top
        for ch in range(3):
            g = grey[:, ch]
            curve[inside, ch] = np.interp(codes[inside], ramp, g)
            curve[below, ch] = 2 * g[0] - np.interp(-codes[below], ramp, g)
            rate = (g[-1] - g[-65]) / (ramp[-1] - ramp[-65]) / max(g[-1], 1e-6)
            curve[above, ch] = g[-1] * np.exp(np.minimum(rate * (codes[above] - top), 60.0))
        return cls(top, np.maximum.accumulate(np.minimum(curve, 1e30), axis=0))

    def encode(self, values: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(values[:, ch], self.curve[:, ch], self.codes)
                         for ch in range(3)], axis=1).astype(np.float32)

    def decode(self) -> list:
        lut = ocio.Lut1DTransform(length=self.SAMPLES)
        lut.setData(self.curve.astype(np.float32).reshape(-1))
        return [_scale(self.lo, self.hi), lut]


def _scale(lo: float, hi: float, units: float = 1.0, shift: float = 0.0) -> ocio.MatrixTransform:
    """[lo, hi] -> [shift, shift + units] on each channel."""
    s = units / (hi - lo)
    return ocio.MatrixTransform(matrix=[s, 0, 0, 0, 0, s, 0, 0, 0, 0, s, 0, 0, 0, 0, 1],
                                offset=[shift - lo * s] * 3 + [0.0])


def _cpu(info: ConfigInfo, transforms, in_depth, out_depth, *, inverse: bool = False):
    group = ocio.GroupTransform()
    for t in transforms:
        group.appendTransform(t)
    if inverse:
        group.setDirection(ocio.TRANSFORM_DIR_INVERSE)
    return cpu_processor(info, group, in_depth, out_depth)


def _rows(cpu, rgb: np.ndarray) -> np.ndarray:
    """The processor on a list of RGB triples, split across the cores (OCIO's apply releases
    the GIL): the bake's million-point passes take half the wall time on two cores."""
    out = np.ascontiguousarray(rgb, np.float32).copy()
    parts = min(os.cpu_count() or 1, max(1, len(out) // 65536))
    if parts == 1:
        cpu.applyRGB(out)
        return out
    with ThreadPoolExecutor(parts, thread_name_prefix="bake") as pool:
        list(pool.map(cpu.applyRGB, np.array_split(out, parts)))
    return out


def clamp_top(exact_rgb, probes: int = 200_000, seed: int = 7) -> tuple[float, bool]:
    """(top, clamps): the lowest signal at which neutral grey stops changing (1.0 if it never
    does), and whether clamping each channel to [0, top] gives exactly what the processor gives
    for signals far outside it."""
    white = _rows(exact_rgb, np.ones((1, 3)))
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if np.array_equal(_rows(exact_rgb, np.full((1, 3), mid)), white):
            hi = mid
        else:
            lo = mid
    top = hi
    wild = np.random.default_rng(seed).uniform(-0.25, 1.5, (probes, 3)).astype(np.float32)
    clamps = np.array_equal(_rows(exact_rgb, wild), _rows(exact_rgb, np.clip(wild, 0.0, top)))
    return top, clamps


class BakedInverse:
    """``apply(y, cb, cr, out)`` like the memo caches: planes (h, w) uint16 -> ``out``."""

    def __init__(self, info: ConfigInfo, transform: ocio.Transform, coding: YCbCrCoding,
                 exact_planar, *, dtype=np.float16, grid: int = GRID,
                 ident: Optional[str] = None) -> None:
        if coding.plane_bits != 16:
            raise ValueError("the baked inverse is for 16-bit planes (10- and 12-bit video)")
        self.dtype = np.dtype(dtype)
        self.fallback_pixels = 0
        self.pixels = 0
        self._count = threading.Lock()
        self._local = threading.local()
        self._building = threading.Lock()
        self._recipe = (info, transform, coding, exact_planar, grid)
        self._built = False
        # names everything the bake depends on, for the bakes kept on disk (None: not kept)
        self.ident = None if ident is None else f"{FORMAT}|{ocio.__version__}|{grid}|{ident}"
        self.loaded = False

    def build(self) -> "BakedInverse":
        """Bake (once; a few seconds of CPU). Deferred to the first frame, so a clip that a
        brighter first frame moves to a larger view never bakes the smaller one."""
        with self._building:
            if not self._built:
                self._build(*self._recipe)
                self._built = True
        return self

    def _build(self, info, transform, coding, exact_planar, grid) -> None:
        F32 = ocio.BIT_DEPTH_F32
        # the clip's own processor for the marked pixels, through a memo of their triples: the
        # marked ones cluster (highlights, saturated colours) and repeat from frame to frame
        self.exact = ExactCache(exact_planar, dtype=self.dtype, slots_log2=20)
        self._depth = ocio.BIT_DEPTH_F16 if self.dtype == np.float16 else F32
        saved = _load(self.ident)
        if saved is not None:
            self._adopt(info, coding, saved)
            self.loaded = True
            return
        exact_rgb = _cpu(info, [transform], F32, F32)
        back = _cpu(info, [transform], F32, F32, inverse=True)
        top, clamps = clamp_top(exact_rgb)
        step = top / (grid - 1)
        extra = 0 if clamps else math.ceil(MARGIN / step)
        size = min(grid + 2 * extra, MAX_GRID)
        extra = (size - grid) // 2
        lo = -extra * step
        nodes = (lo + step * np.arange(size)).astype(np.float32)
        axes = np.meshgrid(nodes, nodes, nodes, indexing="ij")  # red slowest, as Lut3D wants
        values = _rows(exact_rgb, np.stack(axes, -1).reshape(-1, 3))
        shaper = GreyShaper.of(exact_rgb, top)
        bake = {"top": top, "clamps": clamps, "size": size, "lo": lo,
                "hi": lo + (size - 1) * step, "lut": shaper.encode(values),
                "curve": shaper.curve}
        self._adopt(info, coding, bake)
        self.marked = bake["marked"] = self._mark(exact_rgb, back)
        _save(self.ident, bake)

    def _adopt(self, info, coding, bake: dict) -> None:
        """The processors of a bake, made now or read back from disk."""
        F32 = ocio.BIT_DEPTH_F32
        self.top, self.clamps = float(bake["top"]), bool(bake["clamps"])
        self.size, self.lo, self.hi = int(bake["size"]), float(bake["lo"]), float(bake["hi"])
        lut = ocio.Lut3DTransform(gridSize=self.size)
        lut.setInterpolation(ocio.INTERP_TETRAHEDRAL)
        lut.setData(np.ascontiguousarray(bake["lut"], np.float32).reshape(-1))
        shaper = GreyShaper(self.top, np.asarray(bake["curve"]))
        baked = [_scale(self.lo, self.hi), lut, *shaper.decode()]
        self.fast_rgb = _cpu(info, baked, F32, F32)
        depth = bit_depth(coding.plane_bits)
        self.fast = _cpu(info, [matrix_transform(coding), *baked], depth, self._depth)
        # grid units shifted by one: cell 0 is below the grid, cell size is above it
        self.coords = _cpu(info, [matrix_transform(coding),
                                    _scale(self.lo, self.hi, self.size - 1, 1.0)], depth, F32)
        if "marked" in bake:
            self.marked = np.asarray(bake["marked"], np.bool_).reshape(-1)

    def _mark(self, exact_rgb, back) -> np.ndarray:
        """Cells (size + 1)^3 whose pixels go to the exact processor."""
        cells = self.size - 1
        step = (self.hi - self.lo) / cells
        starts = self.lo + step * np.arange(cells)
        axes = np.meshgrid(starts, starts, starts, indexing="ij")
        corner = np.stack(axes, -1).reshape(-1, 3)
        worst = np.zeros(len(corner), np.float32)
        for probe in PROBES:
            point = (corner + step * np.asarray(probe)).astype(np.float32)
            err = np.abs(_rows(back, _rows(exact_rgb, point))
                         - _rows(back, _rows(self.fast_rgb, point))).max(axis=1)
            worst = np.fmax(worst, np.where(np.isnan(err), np.inf, err))
        bad = (worst * CODE > CELL_TOLERANCE).reshape(cells, cells, cells)
        near = np.zeros_like(bad)  # a kink between probes shows in the cells around it
        padded = np.pad(bad, 1)
        for dr in range(3):
            for dg in range(3):
                for db in range(3):
                    near |= padded[dr:dr + cells, dg:dg + cells, db:db + cells]
        # the border cells hold every pixel outside the grid: the same as the inner cell they
        # clamp to where the processor clamps there too, the exact processor otherwise
        if self.clamps:
            marked = np.pad(near, 1, mode="edge")
        else:
            marked = np.pad(near, 1, constant_values=True)
        return marked.reshape(-1)

    @property
    def marked_share(self) -> float:
        """The share of the grid's cells that go to the exact processor."""
        cells = (self.size - 1) ** 3
        inner = self.marked.reshape((self.size + 1,) * 3)[1:-1, 1:-1, 1:-1]
        return float(inner.sum()) / cells

    def apply(self, y: np.ndarray, cb: np.ndarray, cr: np.ndarray, out: np.ndarray) -> None:
        if not self._built:
            self.build()
        h, w = y.shape
        stride = y.strides[0]
        planes = ocio.PlanarImageDesc(y, cb, cr, w, h, ocio.BIT_DEPTH_UINT16, 2, stride)
        size = self.dtype.itemsize
        self.fast.apply(planes, ocio.PackedImageDesc(out, w, h, 3, self._depth, size, 3 * size,
                                                     3 * size * w))
        coords = getattr(self._local, "coords", None)
        if coords is None or coords.shape != (h, w, 3):
            coords = self._local.coords = np.empty((h, w, 3), np.float32)
        self.coords.apply(planes, ocio.PackedImageDesc(coords, w, h, 3, ocio.BIT_DEPTH_F32, 4,
                                                       12, 12 * w))
        np.clip(coords, 0.0, self.size + 0.5, out=coords)
        cell = coords.astype(np.int32)
        m = self.size + 1
        index = cell[..., 0]
        index *= m
        index += cell[..., 1]
        index *= m
        index += cell[..., 2]
        chosen = np.flatnonzero(np.take(self.marked, index))
        with self._count:
            self.pixels += h * w
            self.fallback_pixels += int(chosen.size)
        if chosen.size == 0:
            return
        rows, cols = np.divmod(chosen, w)
        exact = np.empty((1, chosen.size, 3), self.dtype)
        self.exact.apply(y[rows, cols][None], cb[rows, cols][None], cr[rows, cols][None], exact)
        out.reshape(-1, 3)[chosen] = exact[0]

    def record(self) -> dict:
        """What take.json says about how the clip was converted."""
        if not self._built:
            return {"grid": None, "pixels_exact": 0.0}
        share = self.fallback_pixels / self.pixels if self.pixels else 0.0
        return {"grid": self.size, "domain": [round(self.lo, 6), round(self.hi, 6)],
                "clamps": self.clamps, "cells_exact": round(self.marked_share, 5),
                "pixels_exact": round(share, 5)}


def baked_inverse(key: tuple, info: ConfigInfo, transform: ocio.Transform,
                  coding: YCbCrCoding, exact_planar, *, dtype=np.float16,
                  grid: int = GRID, cache=None) -> BakedInverse:
    """The baked inverse for ``key`` (which names everything it depends on), built once per
    process and kept on disk for the next one."""
    cache = TABLES if cache is None else cache
    return cache.get(("baked", key, np.dtype(dtype).str, grid),
                     lambda: BakedInverse(info, transform, coding, exact_planar, dtype=dtype,
                                          grid=grid, ident=repr(key)))


# -- bakes kept on disk -----------------------------------------------------------------------
# Every ingest runs in a process of its own (a job's worker, a farm task), so a bake kept only
# in memory would be paid again by every clip. The file is named by a hash of everything the
# bake depends on (this format, OCIO's version, the config's cache id, the transform, the
# coding, the grid, the tolerance); a file that cannot be read is baked again and replaced.

FORMAT = f"genplate.baked/1|{CELL_TOLERANCE}|{PROBES}|{MARGIN}"
CACHE_DIR_ENV = "GENPLATE_CACHE_DIR"
_ARRAYS = ("lut", "curve", "marked")
_SCALARS = ("top", "clamps", "size", "lo", "hi")


def cache_dir() -> Path:
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser() / "baked"
    import platformdirs

    return Path(platformdirs.user_cache_dir("genplate", appauthor=False)) / "baked"


def _path(ident: str) -> Path:
    return cache_dir() / (hashlib.sha256(ident.encode()).hexdigest()[:32] + ".npz")


def _load(ident: Optional[str]) -> Optional[dict]:
    if ident is None:
        return None
    path = _path(ident)
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["ident"]) != ident:  # a hash collision, however unlikely
                return None
            return {k: data[k] for k in _ARRAYS + _SCALARS}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # absent, unreadable or from an older layout: bake again


def _save(ident: Optional[str], bake: dict) -> None:
    """Written whole under a temporary name, then renamed; a cache that cannot be written
    (read-only home, full disk) costs the next clip a bake, nothing else."""
    if ident is None:
        return
    path = _path(ident)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".baked-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, ident=np.array(ident), **{k: bake[k] for k in _ARRAYS},
                         **{k: np.array(bake[k]) for k in _SCALARS})
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass


__all__ = ["BakedInverse", "baked_inverse", "clamp_top", "cache_dir", "GRID", "CELL_TOLERANCE",
           "CACHE_DIR_ENV"]
