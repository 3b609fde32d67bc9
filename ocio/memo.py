"""The exact memo table for 8-bit video (color.md §1.8 a).

With 8-bit planes every output pixel is a function of one (Y, Cb, Cr) triple, so there are at
most 2**24 different answers. The table keeps the exact processor's answer for every triple a
clip has shown so far; each frame pushes only its *new* triples through OCIO and gathers the
rest. It is the same processor on the same inputs, so the result is bit-identical to applying
it to the whole frame (tested), at a fraction of the cost of the ACES 2.0 inverse (~1.6 MP/s a
core): a 1080p frame is a 30-40 ms gather once the clip's colours are known.

Layout: ``values`` is float16 (or float32) [2**24, 3], indexed by Cb<<16 | Cr<<8 | Y so that
neighbouring pixels (similar chroma, varying luma) gather from nearby memory. A triple not yet
computed holds a NaN with a private payload in its red channel; a gather that meets it fills
those triples and gathers them again. A computed value that happens to be that very NaN is
just recomputed each time, so the sentinel can never make a result wrong.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numpy as np
import PyOpenColorIO as ocio

SIZE = 1 << 24
_SENTINEL16 = np.uint16(0x7E01)  # a quiet NaN, payload 1 (OCIO's own NaNs are 0x7E00)
_SENTINEL32 = np.uint32(0x7FC00001)
_FILL_CHUNK = 1 << 16


class ExactTable:
    """Memoised ``cpu`` (UINT8 planar Y'CbCr -> packed F16/F32 RGB) over every 8-bit triple."""

    def __init__(self, cpu, *, dtype=np.float16, threads: int = 1) -> None:
        self.cpu = cpu
        self.dtype = np.dtype(dtype)
        if self.dtype == np.float16:
            self._bits, self._sentinel, self._depth = np.uint16, _SENTINEL16, ocio.BIT_DEPTH_F16
        elif self.dtype == np.float32:
            self._bits, self._sentinel, self._depth = np.uint32, _SENTINEL32, ocio.BIT_DEPTH_F32
        else:
            raise ValueError(f"table dtype {dtype}: float16 or float32")
        self.values = np.zeros((SIZE, 3), self.dtype)
        self.values.view(self._bits)[:, 0] = self._sentinel
        self._rows = self.values.view(f"V{3 * self.dtype.itemsize}").reshape(SIZE)
        self._lock = threading.Lock()
        self.threads = max(1, threads)
        self.computed = 0  # triples pushed through the exact processor so far

    @staticmethod
    def keys(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
        key = cb.astype(np.uint32)
        key <<= 16
        key |= cr.astype(np.uint32) << 8
        key |= y
        return key

    def apply(self, y: np.ndarray, cb: np.ndarray, cr: np.ndarray, out: np.ndarray) -> None:
        """``out`` (h, w, 3) of the table's dtype <- the exact result for planes (h, w) uint8."""
        key = self.keys(y, cb, cr).reshape(-1)
        rows = out.view(self._rows.dtype).reshape(-1)
        np.take(self._rows, key, out=rows)
        flat = out.reshape(-1, 3)
        missing = flat.view(self._bits)[:, 0] == self._sentinel
        if missing.any():
            wanted = key[missing]
            self._fill(np.unique(wanted))
            flat[missing] = self.values[wanted]

    def _fill(self, keys: np.ndarray) -> None:
        with self._lock:  # one filler at a time; it uses every thread the table was given
            todo = keys[self.values.view(self._bits)[keys, 0] == self._sentinel]
            if todo.size == 0:
                return
            chunks = [todo[i:i + _FILL_CHUNK] for i in range(0, todo.size, _FILL_CHUNK)]
            if self.threads > 1 and len(chunks) > 1:
                with ThreadPoolExecutor(self.threads, thread_name_prefix="exact-table") as pool:
                    results = list(pool.map(self._compute, chunks))
            else:
                results = [self._compute(c) for c in chunks]
            for chunk, result in zip(chunks, results):
                self.values[chunk] = result
            self.computed += int(todo.size)

    def _compute(self, keys: np.ndarray) -> np.ndarray:
        n = keys.size
        y = np.ascontiguousarray((keys & 0xFF).astype(np.uint8)).reshape(1, n)
        cr = np.ascontiguousarray(((keys >> 8) & 0xFF).astype(np.uint8)).reshape(1, n)
        cb = np.ascontiguousarray((keys >> 16).astype(np.uint8)).reshape(1, n)
        out = np.empty((1, n, 3), self.dtype)
        size = self.dtype.itemsize
        self.cpu.apply(ocio.PlanarImageDesc(y, cb, cr, n, 1, ocio.BIT_DEPTH_UINT8, 1, n),
                       ocio.PackedImageDesc(out, n, 1, 3, self._depth, size, 3 * size, 3 * size * n))
        return out[0]


class TableCache:
    """A few tables kept per process (each is 100 MB in half, 200 MB in float), by the key of
    the processor they memoise; the least recently used one goes first."""

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._items: "OrderedDict[tuple, ExactTable]" = OrderedDict()

    def get(self, key: tuple, build: Callable[[], ExactTable]) -> ExactTable:
        with self._lock:
            table = self._items.get(key)
            if table is None:
                table = build()
                self._items[key] = table
                while len(self._items) > self.keep:
                    self._items.popitem(last=False)
            self._items.move_to_end(key)
            return table

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


TABLES = TableCache()


def exact_table(key: tuple, cpu, *, dtype=np.float16, threads: int = 1,
                cache: Optional[TableCache] = None) -> ExactTable:
    cache = TABLES if cache is None else cache
    return cache.get((key, np.dtype(dtype).str),
                     lambda: ExactTable(cpu, dtype=dtype, threads=threads))
