"""Exact memoisation of the display-match processor: a table for 8-bit video (color.md §1.8 a)
and a cache of recent triples for 10/12-bit video. Both return what the processor returns.

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

A ``post`` step (the SDR extension beyond the view's range) runs on every computed triple, in
the table and on frames processed directly alike, so it is memoised with the processor.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numpy as np
import PyOpenColorIO as ocio

Post = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], object]
"""What runs after the processor on the same triples, ``post(y, cb, cr, values)`` in place (the
SDR extension beyond the view's range, genplate.ocio.extend): part of the memoised result."""

SIZE = 1 << 24
_SENTINEL16 = np.uint16(0x7E01)  # a quiet NaN, payload 1 (OCIO's own NaNs are 0x7E00)
_SENTINEL32 = np.uint32(0x7FC00001)
_FILL_CHUNK = 1 << 16


class ExactTable:
    """Memoised ``cpu`` (UINT8 planar Y'CbCr -> packed F16/F32 RGB) over every 8-bit triple."""

    def __init__(self, cpu, *, dtype=np.float16, threads: int = 1,
                 post: Optional[Post] = None) -> None:
        self.cpu = cpu
        self.post = post
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
            self._fill(_distinct(key[missing]))
            # gathering the whole frame again is one row copy per pixel (~6 ms at 1080p);
            # fancy-indexing only the missing pixels' (n, 3) values cost ~15x that on a
            # clip's first frames, where nearly every pixel misses
            np.take(self._rows, key, out=rows)

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
        return _apply_rows(self.cpu, (keys & 0xFF).astype(np.uint8),
                           (keys >> 16).astype(np.uint8), ((keys >> 8) & 0xFF).astype(np.uint8),
                           self.dtype, self._depth, self.post)


_MARK_ABOVE = 1 << 16  # below it np.unique is as fast


def _distinct(keys: np.ndarray) -> np.ndarray:
    """``np.unique(keys)`` for table keys (< 2**24): the same sorted array. A clip's first
    frames miss most of their ~2 M keys, where marking them in a 16 MB byte map and reading it
    back in order is ~10x faster than numpy's hashing unique, on the ingest's serial start."""
    if keys.size < _MARK_ABOVE:
        return np.unique(keys)
    seen = np.zeros(SIZE, np.bool_)
    seen[keys] = True
    return np.flatnonzero(seen).astype(keys.dtype)


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

    def discard(self, key: tuple) -> None:
        """Forget the tables of a processor no longer wanted (an HDR view given up for a larger
        one), rather than keep 100 MB of them until they are the least recently used."""
        with self._lock:
            for item in [k for k in self._items if k[1] == key]:
                del self._items[item]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


TABLES = TableCache()


def exact_table(key: tuple, cpu, *, dtype=np.float16, threads: int = 1,
                cache: Optional[TableCache] = None, post: Optional[Post] = None) -> ExactTable:
    """The table for ``key``, which must name everything the values depend on, ``post`` too."""
    cache = TABLES if cache is None else cache
    return cache.get(("table", key, np.dtype(dtype).str),
                     lambda: ExactTable(cpu, dtype=dtype, threads=threads, post=post))


def exact_cache(key: tuple, cpu, *, dtype=np.float16, cache: Optional[TableCache] = None,
                post: Optional[Post] = None) -> "ExactCache":
    cache = TABLES if cache is None else cache
    return cache.get(("cache", key, np.dtype(dtype).str),
                     lambda: ExactCache(cpu, dtype=dtype, post=post))


class ExactCache:
    """Memoised ``cpu`` for 16-bit planes (10- and 12-bit video), where a full table of every
    triple would not fit (2**48 keys): a direct-mapped cache of the triples seen lately.

    Each frame looks its (Y, Cb, Cr) triples up by hash; only the misses, de-duplicated, go
    through the exact processor, and they replace whatever shared their slot. A slot is one
    record (key and value together), so a lookup can only ever return the exact answer for that
    very triple. A generated 1080p HDR frame holds ~10-50 % as many distinct triples as pixels
    and consecutive frames share most of them, which is where the time goes back. When most of
    a frame misses (a cut, heavy grain) the frame goes through the processor whole, as it would
    without the cache, and its triples are remembered for the next one.

    Lookups and inserts hold one lock; the exact computation, the expensive part, runs outside.
    """

    DIRECT_ABOVE = 0.5  # miss fraction above which the whole frame is processed directly

    def __init__(self, cpu, *, dtype=np.float16, slots_log2: int = 23,
                 post: Optional[Post] = None) -> None:
        self.cpu = cpu
        self.post = post
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float16, np.float32):
            raise ValueError(f"cache dtype {dtype}: float16 or float32")
        self._depth = ocio.BIT_DEPTH_F16 if self.dtype == np.float16 else ocio.BIT_DEPTH_F32
        self._shift = np.uint64(64 - slots_log2)
        self._record = np.dtype([("k", "<u8"), ("v", self.dtype, (3,))])
        self.entries = np.zeros(1 << slots_log2, self._record)
        self.entries["k"] = np.uint64(0xFFFFFFFFFFFFFFFF)  # no 16-bit triple has this key
        # numpy's fancy indexing of records copies field by field (~1 s a 1080p frame here);
        # take/put on the same bytes seen as opaque records is a plain memcpy each
        self._void = self.entries.view(f"V{self._record.itemsize}")
        self._lock = threading.Lock()
        self.computed = 0
        self.direct_frames = 0

    @staticmethod
    def keys(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
        key = y.astype(np.uint64)
        key <<= np.uint64(32)
        key |= cb.astype(np.uint64) << np.uint64(16)
        key |= cr
        return key

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((keys * np.uint64(0x9E3779B97F4A7C15)) >> self._shift).astype(np.intp)

    def _records(self, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
        rec = np.empty(keys.size, self._record)
        rec["k"] = keys
        rec["v"] = values
        return rec

    def apply(self, y: np.ndarray, cb: np.ndarray, cr: np.ndarray, out: np.ndarray) -> None:
        """``out`` (h, w, 3) <- the exact result for 16-bit planes (h, w)."""
        key = self.keys(y, cb, cr).reshape(-1)
        slot = self._slots(key)
        flat = out.reshape(-1, 3)
        with self._lock:
            found = np.take(self._void, slot).view(self._record)
        miss = np.flatnonzero(found["k"] != key)
        flat[...] = found["v"]
        del found
        if miss.size == 0:
            return
        if miss.size > self.DIRECT_ABOVE * key.size:
            self._direct(y, cb, cr, out)
            new = self._records(key[miss], flat[miss])
            with self._lock:
                np.put(self._void, slot[miss], new.view(self._void.dtype))
                self.computed += int(miss.size)
                self.direct_frames += 1
            return
        wanted, inverse = np.unique(key[miss], return_inverse=True)
        computed = self._compute(wanted)
        flat[miss] = computed[inverse.reshape(-1)]
        new = self._records(wanted, computed)
        with self._lock:
            np.put(self._void, self._slots(wanted), new.view(self._void.dtype))
            self.computed += int(wanted.size)

    def _direct(self, y, cb, cr, out) -> None:
        h, w = y.shape
        planes = [np.ascontiguousarray(p, dtype=np.uint16) for p in (y, cb, cr)]
        size = self.dtype.itemsize
        self.cpu.apply(ocio.PlanarImageDesc(*planes, w, h, ocio.BIT_DEPTH_UINT16, 2, 2 * w),
                       ocio.PackedImageDesc(out, w, h, 3, self._depth, size, 3 * size, 3 * size * w))
        if self.post is not None:
            self.post(*planes, out)

    def _compute(self, keys: np.ndarray) -> np.ndarray:
        return _apply_rows(self.cpu, (keys >> np.uint64(32)).astype(np.uint16),
                           ((keys >> np.uint64(16)) & np.uint64(0xFFFF)).astype(np.uint16),
                           (keys & np.uint64(0xFFFF)).astype(np.uint16), self.dtype, self._depth,
                           self.post)


_ROW = 1024


def _apply_rows(cpu, y: np.ndarray, cb: np.ndarray, cr: np.ndarray, dtype, depth,
                post: Optional[Post] = None) -> np.ndarray:
    """The processor on a list of triples, laid out as rows of 1024 pixels: OCIO works a row
    at a time through a row-wide float buffer, so one row of a million pixels would run out of
    cache (measured 2x slower than the same pixels as a frame)."""
    n = y.size
    rows = -(-n // _ROW)
    planes = []
    for plane in (y, cb, cr):
        block = np.zeros(rows * _ROW, plane.dtype)
        block[:n] = plane
        planes.append(block.reshape(rows, _ROW))
    size = np.dtype(dtype).itemsize
    in_size = planes[0].itemsize
    in_depth = ocio.BIT_DEPTH_UINT8 if in_size == 1 else ocio.BIT_DEPTH_UINT16
    out = np.empty((rows, _ROW, 3), dtype)
    cpu.apply(ocio.PlanarImageDesc(*planes, _ROW, rows, in_depth, in_size, in_size * _ROW),
              ocio.PackedImageDesc(out, _ROW, rows, 3, depth, size, 3 * size, 3 * size * _ROW))
    out = out.reshape(-1, 3)[:n]
    if post is not None:
        post(y, cb, cr, out)
    return out
