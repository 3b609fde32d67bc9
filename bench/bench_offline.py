"""How fast the offline renderer makes a generation, against the floor of just encoding it.

    .venv/bin/python bench/bench_offline.py [--quick]

Cases (each a full ``genplate.core.render.render``: scene, keyframe-free compose, baked display
transform, Y'CbCr in numpy, encode, and for the master the ACES EXR zip):
  draft   360p 5 s SDR MP4            (what the test suite renders over and over)
  sdr     1080p 5 s SDR MP4
  master  1080p 5 s HDR MP4 + EXR zip

Baselines, measured in the same run on the same frames:
  encode floor   PyAV encoding the already-computed Y'CbCr planes alone (libx264 / libx265,
                 the renderer's own settings), plus for the master writing the already-computed
                 ACES2065-1 half frames as DWAB EXRs into a zip. The master's floor cycles the
                 first 24 frames to 121 (holding 121 1080p float frames would take 2 GB).
The ratio "render / floor" says how much the picture itself costs on top of the delivery.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from genplate.core.render import Inputs, colour, compose, media, render
from genplate.core.render.scene import build_scene
from genplate.core.request import ShotRequest

PROMPT = "a red balloon drifting over a harbour at noon, slow push in"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def time_render(request: ShotRequest, work: Path, stem: str) -> float:
    out = work / stem
    t0 = time.perf_counter()
    render(request, out, stem=stem, generation_frame=lambda *a: None)
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"  {stem:<7} {request.resolution} {request.duration} {'HDR+EXR' if request.exr_export else 'SDR'}: "
          f"{seconds:6.2f} s  {request.frame_count / seconds:6.1f} fps  ({size / 1e6:.1f} MB delivered)")
    return seconds


def frames_for(request: ShotRequest, count: int):
    w, h = request.frame_size()
    scene = build_scene(request.prompt, request.seed, w, h, request.frame_count, loop=request.loop)
    for i in range(count):
        yield compose(scene, request, Inputs(), i, None)


def floor_sdr(request: ShotRequest, work: Path) -> float:
    w, h = request.frame_size()
    planes = [colour.rgb_to_yuv420(colour.to_display(f)) for f in frames_for(request, request.frame_count)]
    t0 = time.perf_counter()
    writer = media.Mp4Writer(work / "floor_sdr.mp4", w, h, hdr=False)
    for p in planes:
        writer.write(p)
    writer.close()
    return time.perf_counter() - t0


def floor_master(request: ShotRequest, work: Path) -> float:
    w, h = request.frame_size()
    cycle = [(colour.rgb_to_yuv420(colour.to_display(f.copy(), "pq"), matrix="2020", bits=10),
              colour.to_aces2065_half(f)) for f in frames_for(request, 24)]
    t0 = time.perf_counter()
    writer = media.Mp4Writer(work / "floor_hdr.mp4", w, h, hdr=True)
    exr = media.ExrZipWriter(work / "floor_exr.zip", "floor")
    for i in range(request.frame_count):
        planes, aces = cycle[i % len(cycle)]
        writer.write(planes)
        exr.write(i, aces)
    writer.close()
    exr.close()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 360p draft only")
    args = parser.parse_args()
    nproc = os.cpu_count()
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    print(f"offline renderer bench: nproc={nproc}, CPU {cpu_model()}, load average "
          f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} at start")
    work = Path(tempfile.mkdtemp(prefix="bench_offline_"))
    try:
        colour.to_display(np.zeros((2, 2, 3), np.float32))  # bake the LUTs outside the timings
        colour.to_display(np.zeros((2, 2, 3), np.float32), "pq")
        draft = ShotRequest.draft(PROMPT, seed=1)
        print("renders:")
        t_draft = time_render(draft, work, "draft")
        f_draft = floor_sdr(draft, work)
        rows = [("draft 360p SDR", t_draft, f_draft, draft.frame_count)]
        if not args.quick:
            sdr = ShotRequest(PROMPT, resolution="1080p", seed=1)
            t_sdr = time_render(sdr, work, "sdr")
            f_sdr = floor_sdr(sdr, work)
            master = ShotRequest.master(PROMPT, resolution="1080p", seed=1)
            t_master = time_render(master, work, "master")
            f_master = floor_master(master, work)
            rows += [("1080p SDR MP4", t_sdr, f_sdr, sdr.frame_count),
                     ("1080p HDR MP4 + EXR zip", t_master, f_master, master.frame_count)]
        print("against the encode floor (PyAV encode [+ EXR zip] of precomputed frames):")
        for name, t, floor, n in rows:
            print(f"  {name:<24} render {t:6.2f} s ({n / t:5.1f} fps)   floor {floor:6.2f} s "
                  f"({n / floor:5.1f} fps)   render/floor {t / floor:4.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
