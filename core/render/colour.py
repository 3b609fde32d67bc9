"""Colour for the offline renderer: scene-linear ACEScg frames to what Ray3 delivers, and back.

The renderer draws in ACEScg. What it delivers goes through the built-in ACES config's own
display/view transforms, so a plate made from our MP4 in display-match mode (color.md §1.5)
lands back where it was drawn.

Speed over exactness, on purpose: this is test footage. The ACES 2.0 output transforms cost
~2 MP/s per core on the CPU (color.md §1.7), which would make a 360p draft take ~15 s. Each
transform is therefore BAKED once per process into a 65³ 3D LUT on an ACEScct shaper (the log
encoding keeps the LUT's cells even across the tens of stops we render) and applied by OCIO's
own LUT op (tetrahedral, GIL released). The forward SDR/PQ views are smooth, so the bake is
close (within about a code value); the inverse (for input images and source videos) is steep
near display white, so its near-white error is larger (color.md §1.8 b). Neither matters for
footage whose job is to exercise the pipeline.

Y'CbCr is computed here in numpy, not by swscale: swscale scales white by 255/256 and falls
back to BT.601 when untagged (color.md §2.3), and the point of this footage is that its tags
and its numbers agree exactly.
"""
from __future__ import annotations

import threading
from typing import Optional

import numpy as np
import PyOpenColorIO as ocio

from genplate.ocio.builtin import BUILTIN_CONFIG

SDR_DISPLAY = "Rec.1886 Rec.709 - Display"
SDR_VIEW = "ACES 2.0 - SDR 100 nits (Rec.709)"
PQ_DISPLAY = "Rec.2100-PQ - Display"
# P3 D65-limited, like most HDR masters; the PQ container is still Rec.2020 (and tagged so).
PQ_VIEW = "ACES 2.0 - HDR 1000 nits (P3 D65)"
SCENE = "ACEScg"
SHAPER = "ACEScct"
GRID = 65

# Y'CbCr luma weights (Kr, Kb).
KR_KB = {"709": (0.2126, 0.0722), "2020": (0.2627, 0.0593), "601": (0.299, 0.114)}

_lock = threading.Lock()
_config: Optional[ocio.Config] = None
_cache: dict[str, ocio.CPUProcessor] = {}


def config() -> ocio.Config:
    global _config
    with _lock:
        if _config is None:
            _config = ocio.Config.CreateFromFile(BUILTIN_CONFIG)
        return _config


def _bake(exact: ocio.CPUProcessor) -> ocio.Lut3DTransform:
    axis = np.linspace(0.0, 1.0, GRID, dtype=np.float32)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")  # OCIO wants R slowest, B fastest
    grid = np.ascontiguousarray(np.stack([r, g, b], axis=-1).reshape(-1, 3))
    exact.applyRGB(grid)
    lut = ocio.Lut3DTransform(GRID)
    lut.setInterpolation(ocio.INTERP_TETRAHEDRAL)
    lut.setData(np.ascontiguousarray(grid, dtype=np.float32).ravel())
    return lut


def _processor(key: str) -> ocio.CPUProcessor:
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    cfg = config()
    kind, _, direction = key.partition(":")
    display, view = (SDR_DISPLAY, SDR_VIEW) if kind == "sdr" else (PQ_DISPLAY, PQ_VIEW)
    group = ocio.GroupTransform()
    if direction == "forward":
        exact = cfg.getProcessor(ocio.DisplayViewTransform(
            src=SHAPER, display=display, view=view)).getDefaultCPUProcessor()
        group.appendTransform(ocio.ColorSpaceTransform(src=SCENE, dst=SHAPER))
        group.appendTransform(_bake(exact))
    else:
        exact = cfg.getProcessor(ocio.DisplayViewTransform(
            src=SHAPER, display=display, view=view,
            direction=ocio.TRANSFORM_DIR_INVERSE)).getDefaultCPUProcessor()
        group.appendTransform(_bake(exact))
        group.appendTransform(ocio.ColorSpaceTransform(src=SHAPER, dst=SCENE))
    cpu = cfg.getProcessor(group).getDefaultCPUProcessor()
    with _lock:
        _cache.setdefault(key, cpu)
        return _cache[key]


def _apply(cpu: ocio.CPUProcessor, image: np.ndarray) -> np.ndarray:
    # apply(src, dst) with packed descriptors, not applyRGB: measured 3.5x faster here (the
    # ndarray overload of applyRGB costs more than the LUT itself).
    src = np.ascontiguousarray(image, dtype=np.float32)
    h, w = src.shape[:2]
    out = np.empty((h, w, 3), dtype=np.float32)
    cpu.apply(ocio.PackedImageDesc(src, w, h, 3), ocio.PackedImageDesc(out, w, h, 3))
    return out


def _planar(planes: np.ndarray) -> ocio.PlanarImageDesc:
    _, h, w = planes.shape
    return ocio.PlanarImageDesc(planes[0], planes[1], planes[2], w, h)


def planes_to_display(planes: np.ndarray, kind: str = "sdr") -> np.ndarray:
    """ACEScg planes (3, H, W) float32 (C-contiguous) -> display code planes (3, H, W)."""
    out = np.empty_like(planes)
    _processor(f"{kind}:forward").apply(_planar(planes), _planar(out))
    return out


def to_display(frame: np.ndarray, kind: str = "sdr") -> np.ndarray:
    """ACEScg (H, W, 3) float32 -> display code values 0..1 (Rec.709 BT.1886, or PQ)."""
    return _apply(_processor(f"{kind}:forward"), frame)


def from_display(code: np.ndarray, kind: str = "sdr") -> np.ndarray:
    """Display code values 0..1 -> ACEScg, through the inverse of the same view (display-match)."""
    return _apply(_processor(f"{kind}:inverse"), code)


def exact_to_display(frame: np.ndarray, kind: str = "sdr") -> np.ndarray:
    """The unbaked transform, for measuring the bake (tests); slow."""
    display, view = (SDR_DISPLAY, SDR_VIEW) if kind == "sdr" else (PQ_DISPLAY, PQ_VIEW)
    cpu = config().getProcessor(ocio.DisplayViewTransform(
        src=SCENE, display=display, view=view)).getDefaultCPUProcessor()
    out = np.ascontiguousarray(frame, dtype=np.float32).copy()
    cpu.applyRGB(out)
    return out


_AP1_TO_AP0: Optional[ocio.CPUProcessor] = None
_AP0_TO_AP1: Optional[ocio.CPUProcessor] = None


def to_aces2065_half(frame: np.ndarray) -> np.ndarray:
    """ACEScg float32 -> ACES2065-1 float16, in one OCIO pass (no separate half cast)."""
    global _AP1_TO_AP0
    if _AP1_TO_AP0 is None:
        _AP1_TO_AP0 = config().getProcessor(SCENE, "ACES2065-1").getOptimizedCPUProcessor(
            ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F16, ocio.OPTIMIZATION_DEFAULT)
    planar = frame.ndim == 3 and frame.shape[0] == 3 and frame.shape[2] != 3
    if planar:  # the renderer's (3, H, W) planes
        h, w = frame.shape[1:]
        src = _planar(frame)
    else:
        frame = np.ascontiguousarray(frame, dtype=np.float32)
        h, w = frame.shape[:2]
        src = ocio.PackedImageDesc(frame, w, h, 3)
    out = np.empty((h, w, 3), dtype=np.float16)
    _AP1_TO_AP0.apply(src, ocio.PackedImageDesc(out, w, h, 3, ocio.BIT_DEPTH_F16, 2, 6, 6 * w))
    return out


def aces2065_to_acescg(frame: np.ndarray) -> np.ndarray:
    global _AP0_TO_AP1
    if _AP0_TO_AP1 is None:
        _AP0_TO_AP1 = config().getProcessor("ACES2065-1", SCENE).getDefaultCPUProcessor()
    return _apply(_AP0_TO_AP1, frame)


# -- Y'CbCr --------------------------------------------------------------------------------

def _rgb_to_ycbcr_matrix(matrix: str) -> np.ndarray:
    kr, kb = KR_KB[matrix]
    kg = 1.0 - kr - kb
    return np.array([
        [kr, kg, kb],
        [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
        [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))],
    ], dtype=np.float32)


def rgb_to_yuv420(code: np.ndarray, *, matrix: str = "709", bits: int = 8) -> np.ndarray:
    """R'G'B' (H, W, 3) 0..1 -> limited-range Y'CbCr 4:2:0, see ``planes_to_yuv420``."""
    return planes_to_yuv420(code[..., 0], code[..., 1], code[..., 2], matrix=matrix, bits=bits)


def planes_to_yuv420(r: np.ndarray, g: np.ndarray, b: np.ndarray, *, matrix: str = "709",
                     bits: int = 8) -> np.ndarray:
    """R'G'B' planes 0..1 -> limited-range Y'CbCr 4:2:0 planes stacked as PyAV's
    ``from_ndarray`` wants them: shape (H*3/2, W), uint8 (8-bit) or uint16 (10-bit).

    Chroma is the 2x2 box average of R'G'B' (centre siting), matrixed after averaging: the
    matrix is linear, so that equals averaging Cb/Cr and costs a quarter of the work.
    """
    h, w = r.shape
    m = _rgb_to_ycbcr_matrix(matrix)
    scale = float(1 << (bits - 8))
    top = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    out = np.empty((h * 3 // 2, w), dtype=dtype)
    ky = m[0] * np.float32(219.0 * scale)
    y = r * ky[0]
    y += g * ky[1]
    y += b * ky[2]
    y += np.float32(16.0 * scale + 0.5)  # + 0.5: the cast below truncates, so this rounds
    np.clip(y, 0, top, out=y)
    out[:h] = y
    # Sum of the four quarters (a reshape-mean is 7x slower); the 1/4 is in the matrix.
    quads = []
    for plane in (r, g, b):
        q = plane[0::2, 0::2] + plane[1::2, 0::2]
        q += plane[0::2, 1::2]
        q += plane[1::2, 1::2]
        quads.append(q)
    n = (h // 2) * (w // 2)
    flat = out[h:].reshape(-1)
    for row, dest in ((1, flat[:n]), (2, flat[n:])):
        k = m[row] * np.float32(224.0 * scale / 4.0)
        c = quads[0] * k[0]
        c += quads[1] * k[1]
        c += quads[2] * k[2]
        c += np.float32(128.0 * scale + 0.5)
        np.clip(c, 0, top, out=c)
        dest[:] = c.ravel()
    return out


def ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, *, matrix: str, bits: int,
                 full_range: bool = False) -> np.ndarray:
    """4:4:4 Y'CbCr planes (integer code values of ``bits``) -> R'G'B' float32 0..1, unclipped."""
    kr, kb = KR_KB[matrix]
    kg = 1.0 - kr - kb
    scale = float(1 << (bits - 8))
    if full_range:
        yn = y.astype(np.float32) / ((1 << bits) - 1)
        cbn = (cb.astype(np.float32) - 128 * scale) / ((1 << bits) - 1)
        crn = (cr.astype(np.float32) - 128 * scale) / ((1 << bits) - 1)
    else:
        yn = (y.astype(np.float32) - 16 * scale) / (219 * scale)
        cbn = (cb.astype(np.float32) - 128 * scale) / (224 * scale)
        crn = (cr.astype(np.float32) - 128 * scale) / (224 * scale)
    r = yn + 2 * (1 - kr) * crn
    b = yn + 2 * (1 - kb) * cbn
    g = (yn - kr * r - kb * b) / kg
    return np.stack([r, g, b], axis=-1)
