"""OCIO CPU processors, built once per clip and shared by every worker thread.

Building an ACES 2.0 processor takes up to ~30 ms (color.md §1.6), so a lock-guarded dict keeps
them, keyed by (config cache ID, mode, source display or space, view, destination space,
Y'CbCr matrix, range, bit depths) (§5). A CPUProcessor is immutable and safe to apply from
several threads at once; ``apply`` releases the GIL, which is what lets workers overlap.

``OPTIMIZATION_DEFAULT`` (with its fast log/exp/pow) differs from LOSSLESS by at most 2.6e-5
relative, far below half float's resolution, and is 3x faster on the gamma path (§1.6).
"""
from __future__ import annotations

import threading
from typing import Callable, Optional

import PyOpenColorIO as ocio

from .config import ConfigInfo, default_display_view
from .errors import ColourError
from .sources import InputTransform
from .ycbcr import YCbCrCoding, bit_depth, matrix_transform

F16 = ocio.BIT_DEPTH_F16
F32 = ocio.BIT_DEPTH_F32
UINT8 = ocio.BIT_DEPTH_UINT8
UINT16 = ocio.BIT_DEPTH_UINT16


class ProcessorCache:
    """CPUProcessors by key; each is built once, under the lock, and then shared."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple, object] = {}
        self.builds = 0  # how many were built (tests check reuse)

    def get(self, key: tuple, build: Callable[[], object]):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                item = build()
                self._items[key] = item
                self.builds += 1
            return item

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


PROCESSORS = ProcessorCache()
"""The process-wide cache (one engine process ingests many clips with few configs)."""


def cpu_processor(info: ConfigInfo, group: ocio.Transform, in_depth, out_depth):
    """The optimised CPU processor of ``group``; OCIO's failure as a ColourError naming the
    config."""
    try:
        processor = info.config.getProcessor(group)
        return processor.getOptimizedCPUProcessor(in_depth, out_depth, ocio.OPTIMIZATION_DEFAULT)
    except Exception as exc:  # OCIO's own exception names the missing piece
        raise ColourError(f"OCIO cannot build the processor in {info.label}: {exc}") from None


def video_key(info: ConfigInfo, transform: InputTransform, coding: YCbCrCoding, *,
              out_depth=F16) -> tuple:
    """What identifies a clip's fused processor (and its exact memo table)."""
    return ("video", info.cache_id, *transform.key(), *coding.key(),
            int(bit_depth(coding.plane_bits)), int(out_depth))


def video_processor(info: ConfigInfo, transform: InputTransform, coding: YCbCrCoding, *,
                    out_depth=F16, cache: Optional[ProcessorCache] = None):
    """Y'CbCr planes (4:4:4, 8- or 16-bit) -> the working space, one fused processor."""
    cache = PROCESSORS if cache is None else cache
    in_depth = bit_depth(coding.plane_bits)
    key = video_key(info, transform, coding, out_depth=out_depth)

    def build():
        group = ocio.GroupTransform()
        group.appendTransform(matrix_transform(coding))
        group.appendTransform(transform.transform())
        return cpu_processor(info, group, in_depth, out_depth)

    return cache.get(key, build)


def image_processor(info: ConfigInfo, transform: InputTransform, *, in_depth=F16, out_depth=F16,
                    cache: Optional[ProcessorCache] = None):
    """RGB images (EXR frames) -> the working space."""
    cache = PROCESSORS if cache is None else cache
    key = ("image", info.cache_id, *transform.key(), int(in_depth), int(out_depth))
    return cache.get(key, lambda: cpu_processor(info, transform.transform(), in_depth, out_depth))


def display_processor(info: ConfigInfo, src_space: str, display: Optional[str] = None,
                      view: Optional[str] = None, *, in_depth=F32, out_depth=F32,
                      cache: Optional[ProcessorCache] = None):
    """A scene space through a display/view (the config's default ones unless named)."""
    cache = PROCESSORS if cache is None else cache
    if display is None or view is None:
        display, view = default_display_view(info.config)
    key = ("display", info.cache_id, src_space, display, view, int(in_depth), int(out_depth))

    def build():
        t = ocio.DisplayViewTransform(src=src_space, display=display, view=view)
        return cpu_processor(info, t, in_depth, out_depth)

    return cache.get(key, build)


def space_processor(info: ConfigInfo, src_space: str, dst_space: str, *, in_depth=F32,
                    out_depth=F32, cache: Optional[ProcessorCache] = None):
    """One colour space to another (outputs in other spaces, tests)."""
    cache = PROCESSORS if cache is None else cache
    key = ("space", info.cache_id, src_space, dst_space, int(in_depth), int(out_depth))
    return cache.get(key, lambda: cpu_processor(info, ocio.ColorSpaceTransform(src_space, dst_space),
                                       in_depth, out_depth))
