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
The ratio "render / floor" says how much the picture itself costs on top of the delivery; it
is given for wall time and for CPU time (this process, all threads), the latter being the
steadier figure on a machine shared with others.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from machine import cpu_model  # bench/machine.py (scripts run from bench/)
from genplate.core.render import Inputs, colour, compose, media, render
from genplate.core.render.scene import build_scene
from genplate.core.request import ShotRequest

PROMPT = "a red balloon drifting over a harbour at noon, slow push in"


class Clock:
    """Wall seconds, and CPU seconds of this process (all threads): on a shared machine the
    wall time swings with other people's load, the CPU time much less."""

    def __enter__(self) -> "Clock":
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def time_render(request: ShotRequest, work: Path, stem: str, repeat: int = 1) -> Clock:
    best = None
    for _ in range(repeat):
        out = work / stem
        shutil.rmtree(out, ignore_errors=True)
        with Clock() as clock:
            render(request, out, stem=stem, generation_frame=lambda *a: None)
        if best is None or clock.wall < best.wall:
            best = clock
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"  {stem:<7} {request.resolution} {request.duration} {'HDR+EXR' if request.exr_export else 'SDR'}: "
          f"{best.wall:6.2f} s wall  {request.frame_count / best.wall:6.1f} fps  "
          f"{best.cpu:6.2f} s CPU  ({size / 1e6:.1f} MB delivered)")
    return best


def frames_for(request: ShotRequest, count: int):
    w, h = request.frame_size()
    scene = build_scene(request.prompt, request.seed, w, h, request.frame_count, loop=request.loop)
    for i in range(count):
        yield compose(scene, request, Inputs(), i, None)


def floor_sdr(request: ShotRequest, work: Path, repeat: int = 1) -> Clock:
    w, h = request.frame_size()
    planes = [colour.rgb_to_yuv420(colour.to_display(f)) for f in frames_for(request, request.frame_count)]
    best = None
    for _ in range(repeat):
        with Clock() as clock:
            writer = media.Mp4Writer(work / "floor_sdr.mp4", w, h, hdr=False)
            for p in planes:
                writer.write(p)
            writer.close()
        if best is None or clock.wall < best.wall:
            best = clock
    return best


def floor_master(request: ShotRequest, work: Path) -> Clock:
    w, h = request.frame_size()
    cycle = [(colour.rgb_to_yuv420(colour.to_display(f.copy(), "pq"), matrix="2020", bits=10),
              colour.to_aces2065_half(f)) for f in frames_for(request, 24)]
    with Clock() as clock:
        writer = media.Mp4Writer(work / "floor_hdr.mp4", w, h, hdr=True)
        exr = media.ExrZipWriter(work / "floor_exr.zip", "floor")
        for i in range(request.frame_count):
            planes, aces = cycle[i % len(cycle)]
            writer.write(planes)
            exr.write(i, aces)
        writer.close()
        exr.close()
    return clock


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
        t_draft = time_render(draft, work, "draft", repeat=3)  # best of 3: it is short
        f_draft = floor_sdr(draft, work, repeat=3)
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
            print(f"  {name:<24} render {t.wall:6.2f} s ({n / t.wall:5.1f} fps)   floor {floor.wall:6.2f} s "
                  f"({n / floor.wall:5.1f} fps)   render/floor {t.wall / floor.wall:4.2f}x wall, "
                  f"{t.cpu / floor.cpu:4.2f}x CPU ({t.cpu:.1f} / {floor.cpu:.1f} s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
