"""The exact memo table of 8-bit Y'CbCr triples: bit-identical to the exact processor."""
from __future__ import annotations

import threading

import numpy as np
import PyOpenColorIO as ocio
import pytest

from genplate.ocio import BUILTIN_CONFIG
from genplate.ocio import config as C
from genplate.ocio import memo as M
from genplate.ocio import processors as P
from genplate.ocio import sources as S
from genplate.ocio.ycbcr import YCbCrCoding


def _frames(n, h=96, w=160, seed=0):
    """Photo-like planes: gradients, a bright area near white, grain; moving a little each frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        y = 16 + 240 * ((xx + 5 * i) % w) / w * (0.6 + 0.4 * np.sin(yy / 9.0))
        y = np.clip(y + rng.normal(0, 4, (h, w)), 0, 255).astype(np.uint8)
        cb = np.clip(128 + 50 * np.sin(xx / 17.0 + i) + rng.normal(0, 3, (h, w)), 0, 255)
        cr = np.clip(128 + 50 * np.cos(yy / 11.0) + rng.normal(0, 3, (h, w)), 0, 255)
        cb, cr = cb.astype(np.uint8), cr.astype(np.uint8)
        y[:4] = 230 + xx[:4] % 26  # a near-white strip: the steep top of the inverse
        cb[:4] = cr[:4] = 128
        out.append((y, cb, cr))
    return out


def _exact(cpu, planes, dtype):
    y, cb, cr = planes
    h, w = y.shape
    out = np.empty((h, w, 3), dtype)
    size = np.dtype(dtype).itemsize
    depth = ocio.BIT_DEPTH_F16 if dtype == np.float16 else ocio.BIT_DEPTH_F32
    cpu.apply(ocio.PlanarImageDesc(y, cb, cr, w, h, ocio.BIT_DEPTH_UINT8, 1, w),
              ocio.PackedImageDesc(out, w, h, 3, depth, size, 3 * size, 3 * size * w))
    return out


@pytest.fixture(scope="module")
def display_match():
    info = C.load_config(BUILTIN_CONFIG)
    t = S.input_transform(info.config, S.SDR_REC709, S.DISPLAY_MATCH, "ACEScg")
    return info, t, YCbCrCoding("bt709", False, 8, 8)


@pytest.mark.parametrize("dtype,depth", [(np.float16, P.F16), (np.float32, P.F32)])
def test_table_is_bit_identical_to_the_exact_processor(display_match, dtype, depth):
    info, t, coding = display_match
    cpu = P.video_processor(info, t, coding, out_depth=depth)
    table = M.ExactTable(cpu, dtype=dtype, threads=2)
    bits = np.uint16 if dtype == np.float16 else np.uint32
    for planes in _frames(3):
        out = np.empty(planes[0].shape + (3,), dtype)
        table.apply(*planes, out)
        assert np.array_equal(out.view(bits), _exact(cpu, planes, dtype).view(bits))
    assert out.max() > 60.0  # the steep top of the inverse is in there


def test_known_triples_are_not_computed_again(display_match):
    info, t, coding = display_match
    table = M.ExactTable(P.video_processor(info, t, coding), threads=1)
    planes = _frames(1)[0]
    out = np.empty(planes[0].shape + (3,), np.float16)
    table.apply(*planes, out)
    unique = len(np.unique(M.ExactTable.keys(*planes)))
    assert table.computed == unique
    again = np.empty_like(out)
    table.apply(*planes, again)
    assert table.computed == unique
    assert np.array_equal(out.view(np.uint16), again.view(np.uint16))


def test_strided_plane_views_and_concurrent_workers(display_match):
    info, t, coding = display_match
    cpu = P.video_processor(info, t, coding)
    table = M.ExactTable(cpu, threads=2)
    frames = _frames(6, seed=3)
    results = {}

    def work(i):
        # planes as swscale leaves them: rows padded beyond the width
        padded = [np.pad(p, ((0, 0), (0, 32))) for p in frames[i]]
        views = [p[:, :frames[i][0].shape[1]] for p in padded]
        out = np.empty(frames[i][0].shape + (3,), np.float16)
        table.apply(*views, out)
        results[i] = out

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for i, planes in enumerate(frames):
        assert np.array_equal(results[i].view(np.uint16), _exact(cpu, planes, np.float16).view(np.uint16))


def test_a_table_is_shared_per_processor_key(display_match):
    info, t, coding = display_match
    cache = M.TableCache(keep=1)
    cpu = P.video_processor(info, t, coding)
    key = P.video_key(info, t, coding)
    a = M.exact_table(key, cpu, cache=cache)
    assert M.exact_table(key, cpu, cache=cache) is a
    other = P.video_key(info, t, YCbCrCoding("bt709", True, 8, 8))
    assert M.exact_table(other, cpu, cache=cache) is not a
    assert M.exact_table(key, cpu, cache=cache) is not a  # only one kept: memory stays bounded


# -- 10-bit video: the cache of recent triples ------------------------------------------------------

def _frames16(n, h=64, w=128, seed=1):
    """10-bit codes as swscale hands them over (<<6), chroma interpolated to 16-bit values."""
    out = []
    for y, cb, cr in _frames(n, h, w, seed):
        out.append((y.astype(np.uint16) << 8 | 0x40, cb.astype(np.uint16) * 257,
                    cr.astype(np.uint16) * 256 + 17))
    return out


def _exact16(cpu, planes):
    y, cb, cr = (np.ascontiguousarray(p) for p in planes)
    h, w = y.shape
    out = np.empty((h, w, 3), np.float16)
    cpu.apply(ocio.PlanarImageDesc(y, cb, cr, w, h, ocio.BIT_DEPTH_UINT16, 2, 2 * w),
              ocio.PackedImageDesc(out, w, h, 3, ocio.BIT_DEPTH_F16, 2, 6, 6 * w))
    return out


@pytest.fixture(scope="module")
def pq_display_match():
    info = C.load_config(BUILTIN_CONFIG)
    t = S.input_transform(info.config, S.HDR_PQ, S.DISPLAY_MATCH, "ACEScg")
    return P.video_processor(info, t, YCbCrCoding("bt2020nc", False, 10, 16))


@pytest.mark.parametrize("direct_above", [0.5, 1.1, 0.0])
def test_cache_is_bit_identical_on_every_path(pq_display_match, direct_above, monkeypatch):
    cpu = pq_display_match
    cache = M.ExactCache(cpu, slots_log2=12)  # small: collisions and evictions happen
    monkeypatch.setattr(cache, "DIRECT_ABOVE", direct_above)
    for planes in _frames16(4) + _frames16(1):
        out = np.empty(planes[0].shape + (3,), np.float16)
        cache.apply(*planes, out)
        assert np.array_equal(out.view(np.uint16), _exact16(cpu, planes).view(np.uint16))
    if direct_above == 0.0:
        assert cache.direct_frames == 5
    if direct_above == 1.1:
        assert cache.direct_frames == 0


def test_cache_remembers_what_it_computed(pq_display_match):
    cache = M.ExactCache(pq_display_match)
    planes = _frames16(1)[0]
    out = np.empty(planes[0].shape + (3,), np.float16)
    cache.apply(*planes, out)
    first = cache.computed
    assert 0 < first <= planes[0].size
    cache.apply(*planes, out)
    assert cache.computed == first


def test_cache_shared_by_threads(pq_display_match):
    cpu = pq_display_match
    cache = M.ExactCache(cpu, slots_log2=10)
    frames = _frames16(6, seed=4)
    results = {}

    def work(i):
        out = np.empty(frames[i][0].shape + (3,), np.float16)
        cache.apply(*frames[i], out)
        results[i] = out

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for i, planes in enumerate(frames):
        assert np.array_equal(results[i].view(np.uint16), _exact16(cpu, planes).view(np.uint16))


def test_a_discarded_processors_tables_are_forgotten(display_match):
    info, t, coding = display_match
    cache = M.TableCache(keep=3)
    cpu = P.video_processor(info, t, coding)
    key = P.video_key(info, t, coding)
    other = P.video_key(info, t, YCbCrCoding("bt709", True, 8, 8))
    a = M.exact_table(key, cpu, cache=cache)
    b = M.exact_table(other, cpu, cache=cache)
    cache.discard(key)
    assert M.exact_table(other, cpu, cache=cache) is b
    assert M.exact_table(key, cpu, cache=cache) is not a
