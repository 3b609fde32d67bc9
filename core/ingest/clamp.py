"""Nothing written is inf or NaN: values beyond the written type's range are clamped at write
time, channel by channel, and counted (take.json ``colour.clamped``).

A half take holds at most ±65504. A scene-linear delivery can carry more (a float32 EXR with a
sun at 1e5), and the AP0 -> AP1 matrix can push a value past the limit; half rounds such values
to ±inf, and a later matrix or filter spreads inf into NaN. So every frame is checked before it
is written: cheaply (two integer reductions over the pixels' bits, ~2 ms a 1080p half frame)
and, only when something is out of range, fixed: +-inf becomes +-limit (its sign kept: that
channel is as far as the take goes), NaN becomes 0. Non-finite values in the delivery itself
(inf, NaN in an EXR) are replaced the same way before the colour transform, so one bad channel
does not take its pixel's other channels with it, and are counted apart (``non_finite``).
"""
from __future__ import annotations

import threading

import numpy as np

HALF_MAX = float(np.finfo(np.float16).max)  # 65504
FLOAT_MAX = float(np.finfo(np.float32).max)

# A float's bit pattern, read as an integer: +inf and +NaN are the largest signed values,
# -inf and -NaN the largest unsigned ones (the sign bit set, every exponent bit set).
_BITS = {np.dtype(np.float16): (np.int16, np.uint16, 0x7C00, 0xFC00),
         np.dtype(np.float32): (np.int32, np.uint32, 0x7F800000, 0xFF800000)}


def finite(pixels: np.ndarray) -> bool:
    """Whether every value of a float16 or float32 array is finite (without a float pass)."""
    signed, unsigned, pos, neg = _BITS[pixels.dtype]
    return int(pixels.view(signed).max()) < pos and int(pixels.view(unsigned).max()) < neg


class WriteGuard:
    """Clamps and counts for one take: thread-safe, shared by the ingest workers."""

    def __init__(self, pixel_type: str) -> None:
        self.limit = HALF_MAX if pixel_type == "half" else FLOAT_MAX
        self._lock = threading.Lock()
        self.values = 0  # channels beyond the limit, clamped to it
        self.non_finite = 0  # channels the delivery carried as inf or NaN
        self._frames: set[int] = set()

    def sanitize(self, pixels: np.ndarray, frame: int) -> int:
        """Replace the delivery's own inf/NaN in place (before the transform); how many."""
        bad = ~np.isfinite(pixels)
        count = int(bad.sum())
        if count:
            limit = min(self.limit, float(np.finfo(pixels.dtype).max))
            np.nan_to_num(pixels, copy=False, nan=0.0, posinf=limit, neginf=-limit)
            with self._lock:
                self.non_finite += count
                self._frames.add(frame)
        return count

    def fix(self, pixels: np.ndarray, frame: int) -> None:
        """Clamp what the transform left out of range, in place (call when not ``finite``)."""
        bad = ~np.isfinite(pixels)
        nan = int(np.isnan(pixels).sum())
        count = int(bad.sum()) - nan
        np.nan_to_num(pixels, copy=False, nan=0.0, posinf=self.limit, neginf=-self.limit)
        with self._lock:
            self.values += count
            self.non_finite += nan
            if count or nan:
                self._frames.add(frame)

    def check(self, pixels: np.ndarray, frame: int) -> None:
        """``pixels`` as they will be written: fixed in place if anything is out of range."""
        if not finite(pixels):
            self.fix(pixels, frame)

    def record(self) -> dict:
        with self._lock:
            return {"values": self.values, "non_finite": self.non_finite,
                    "frames": len(self._frames), "limit": self.limit}
