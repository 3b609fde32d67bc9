"""How fast ingest turns 1080p deliveries into ACES EXR takes, against oiiotool and the floor.

    .venv/bin/python bench/bench_ingest.py [--seconds 5] [--memory] [--exact] [--workdir DIR]

Deliveries (synthesised here, photo-like: 1/f noise octaves, a soft sun far above 1.0, grain,
a slow pan; encoded as a service would):
  sdr.mp4   H.264 8-bit 4:2:0 BT.709 limited, tagged, crf 18
  pq.mp4    HEVC Main10 4:2:0 BT.2020 PQ limited, tagged, qp 14
  hlg.mp4   HEVC Main10 4:2:0 BT.2020 HLG limited, tagged, qp 14
  exr.zip   ACES2065-1 half DWAB:45 frames in a ZIP (Luma's EXR export)

Cases (each ingest runs in its own fresh process, the way a job worker does; the clock covers
``ingest()`` only, not the interpreter start):
  sdr display-match   exact, through the 8-bit memo table (color.md §1.8)
  sdr texture         Gamma 2.4 Encoded Rec.709 -> ACEScg
  sdr display-match exact processor, no table   (--exact: ~1.5 fps, minutes)
  pq display-match    inverse ACES 2.0 HDR 4000 nits (Rec.2020) through the baked LUT
                      (genplate.ocio.baked), its bake paid in the run ("bake kept": read
                      back from disk, as every later clip of that view does; --exact: the
                      exact processor, the baseline in the same run): the clip's sun peaks
                      at ~4350 nits and carries no metadata, so ingest measures it and takes
                      the 4000-nit view (core/ingest/hdr.py); oiiotool inverts the same view
  hlg display-match   as PQ, through the 1000-nit PQ view (the route ingest takes for HLG)
  exr -> ACEScg       AP0 -> AP1, re-encoded zip:1

Baselines, in the same run, to the same output (half, zip:1, ACEScg, 1080p):
  oiiotool  the same conversion with OIIO's own oiiotool (its bundled OCIO 2.5.1 and the v4
            studio config, which gives results identical to v5 for these transforms, color.md
            §1.1), with --parallel-frames, from PNG frames decoded beforehand (oiiotool reads no
            MP4; PNG input spares it the Y'CbCr step, so the comparison flatters oiiotool)
            and from the same EXR frames.
  floor     writing the same half frames with the same compression and the same number of
            writer threads, and nothing else: what no converter can beat. It excludes input
            decode (video decode and chroma upsampling, or the EXR delivery's own decode) and
            the colour step, which any converter must also do.

  decode    decoding the delivery alone, as ingest decodes it (PyAV to 4:4:4 planes; the EXR
            zip extracted and its DWAB frames read by OIIO): with the floor, the CPU no ingest of
            that delivery can spend less than ("ours/(decode + write)" by CPU seconds).

Ratios against the floor compare ``ingest()``'s clock with the floor's write loop; ratios
against oiiotool compare whole processes (ours with its interpreter start and imports, as
oiiotool's wall time includes its own start and config load), so neither side is spared.

--memory also ingests a 10 s clip of each kind and reports peak RSS for 5 s and 10 s.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np

from genplate.core.ingest.video import ycbcr_frame
from machine import cpu_model  # bench/machine.py (scripts run from bench/)

HERE = Path(__file__).resolve()
W, H = 1920, 1080
CONFIG_OIIO = "ocio://studio-config-v4.0.0_aces-v2.0_ocio-v2.5"  # what OIIO's OCIO 2.5.1 knows
SDR_DISPLAY, SDR_VIEW = "Rec.1886 Rec.709 - Display", "ACES 2.0 - SDR 100 nits (Rec.709)"
PQ_DISPLAY, PQ_VIEW = "Rec.2100-PQ - Display", "ACES 2.0 - HDR 4000 nits (Rec.2020)"
HLG_DISPLAY, HLG_VIEW = "Rec.2100-HLG - Display", "ACES 2.0 - HDR 1000 nits (Rec.2020)"


# -- synthesising the deliveries ------------------------------------------------------------------

def scene(width: int, height: int, seed: int = 11) -> np.ndarray:
    """A photo-like scene-linear plate (float32, h x w x 3), wider than the frame for a pan."""
    rng = np.random.default_rng(seed)
    acc = np.zeros((height, width, 3), np.float32)
    for octave in range(1, 8):
        cells = 2 ** octave
        small = rng.normal(0, 1, (cells + 1, int(cells * width / height) + 1, 3)).astype(np.float32)
        ys = np.linspace(0, cells, height, dtype=np.float32)
        xs = np.linspace(0, small.shape[1] - 1, width, dtype=np.float32)
        y0, x0 = np.floor(ys).astype(int).clip(0, cells - 1), np.floor(xs).astype(int).clip(0, small.shape[1] - 2)
        fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
        layer = (small[y0][:, x0] * (1 - fy) * (1 - fx) + small[y0 + 1][:, x0] * fy * (1 - fx)
                 + small[y0][:, x0 + 1] * (1 - fy) * fx + small[y0 + 1][:, x0 + 1] * fy * fx)
        acc += layer / octave
    grey = acc.mean(axis=2, keepdims=True)
    acc = 0.6 * grey + 0.4 * acc  # mostly natural, not candy
    plate = 0.18 * np.exp(0.9 * acc)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    sun = np.exp(-(((xx - width * 0.3) ** 2 + (yy - height * 0.25) ** 2) / (2 * (height * 0.06) ** 2)))
    plate += (40.0 * sun)[..., None] * np.array([1.0, 0.9, 0.7], np.float32)
    return plate.astype(np.float32)


# Fresh grain each frame, as hard as a camera original: 12% on luminance and 4% on each
# channel in scene light, and then, on the delivered signal itself, the noise issue #18
# measured in a natural 10-bit PQ clip: ~14 codes of luma grain and noisy chroma (6 codes),
# scaled to 8-bit codes for SDR. Scene-light grain alone is only ~3 codes in the PQ shadows,
# where a frame shares 83% of its triples with the frame before; with the signal's grain,
# most of a frame's triples are new and no memo of them can flatter a path.
GRAIN = 0.12
CHROMA_NOISE = 0.04
SIGNAL_GRAIN_10BIT = 14.0
SIGNAL_CHROMA_10BIT = 6.0
_signal_noise = np.random.default_rng(23)


def frames(count: int, seed: int = 11):
    """Scene-linear frames: a slow pan across the plate plus fresh grain each frame."""
    plate = scene(W + 2 * count + 8, H, seed)
    rng = np.random.default_rng(seed + 1)
    for i in range(count):
        f = plate[:, 2 * i:2 * i + W]
        grain = rng.normal(1.0, GRAIN, (H, W, 1)).astype(np.float32)
        grain = grain * rng.normal(1.0, CHROMA_NOISE, (H, W, 3)).astype(np.float32)
        yield np.clip(f * grain, 0, None)


def _ycbcr(rgb: np.ndarray, kr: float, kb: float, bits: int) -> tuple:
    kg = 1 - kr - kb
    y = kr * rgb[..., 0] + kg * rgb[..., 1] + kb * rgb[..., 2]
    cb = (rgb[..., 2] - y) / (2 * (1 - kb))
    cr = (rgb[..., 0] - y) / (2 * (1 - kr))
    s = 2 ** (bits - 8)
    sub = lambda c: c.reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3))  # noqa: E731
    to_bits = 2.0 ** (bits - 10)
    noise = _signal_noise.normal
    Y = (16 + 219 * y) * s + noise(0, SIGNAL_GRAIN_10BIT * to_bits, y.shape)
    Cb = (128 + 224 * sub(cb)) * s + noise(0, SIGNAL_CHROMA_10BIT * to_bits, (H // 2, W // 2))
    Cr = (128 + 224 * sub(cr)) * s + noise(0, SIGNAL_CHROMA_10BIT * to_bits, (H // 2, W // 2))
    Y, Cb, Cr = (np.clip(np.rint(p), 0, 2 ** bits - 1) for p in (Y, Cb, Cr))
    dtype = np.uint8 if bits == 8 else np.uint16
    return Y.astype(dtype), Cb.astype(dtype), Cr.astype(dtype)


def sdr_planes(linear: np.ndarray) -> tuple:
    display = np.clip(linear / (linear + 0.6) * 1.15, 0, 1) ** (1 / 2.4)  # a simple S-curve look
    return _ycbcr(display, 0.2126, 0.0722, 8)


def pq_planes(linear: np.ndarray) -> tuple:
    nits = np.clip(linear * 100.0, 0, 10000) / 10000.0
    m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
    p = nits ** m1
    code = ((c1 + c2 * p) / (1 + c3 * p)) ** m2
    return _ycbcr(code, 0.2627, 0.0593, 10)


def hlg_planes(linear: np.ndarray) -> tuple:
    """BT.2100 HLG, scene light 1.0 = 10x the plate's grey card (the sun clips at the top)."""
    e = np.clip(linear / 10.0, 0, 1)
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    with np.errstate(invalid="ignore", divide="ignore"):
        code = np.where(e <= 1 / 12, np.sqrt(3 * e), a * np.log(np.maximum(12 * e - b, 1e-9)) + c)
    return _ycbcr(code, 0.2627, 0.0593, 10)


def encode(path: Path, count: int, planes_of, *, codec: str, pix_fmt: str, options: dict,
           tags: dict, seed: int = 11) -> Path:
    import av

    dtype = np.uint16 if "10" in pix_fmt else np.uint8
    part = path.with_name(path.name + ".part")  # a bench stopped mid-encode leaves no clip
    with av.open(str(part), "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        stream.options = options
        for k, v in tags.items():
            setattr(stream.codec_context, k, v)
        for i, linear in enumerate(frames(count, seed)):
            planes = [p.astype(dtype, copy=False) for p in planes_of(linear)]
            frame = ycbcr_frame(planes, pix_fmt, tags=tags, pts=i)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(part, path)
    return path


def exr_zip(path: Path, count: int, seed: int = 11) -> Path:
    import OpenImageIO as oiio

    ap0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)
    tmp = path.parent / (path.stem + "_frames")
    tmp.mkdir(exist_ok=True)
    part = path.with_name(path.name + ".part")
    with zipfile.ZipFile(part, "w", zipfile.ZIP_STORED) as archive:
        for i, linear in enumerate(frames(count, seed)):
            spec = oiio.ImageSpec(W, H, 3, "half")
            spec.attribute("compression", "dwab:45")
            spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), ap0)
            spec.attribute("FramesPerSecond", oiio.TypeRational, (24, 1))
            name = tmp / f"gen.{i:04d}.exr"
            out = oiio.ImageOutput.create(str(name))
            out.open(str(name), spec)
            out.write_image(linear.astype(np.float16))
            out.close()
            archive.write(name, f"exr/{name.name}")
    os.replace(part, path)
    return path


def png_sequence(video: Path, folder: Path, sixteen: bool) -> str:
    """Decode a video to PNGs for oiiotool (not timed)."""
    import av
    import OpenImageIO as oiio

    folder.mkdir(parents=True, exist_ok=True)
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            rgb = frame.to_ndarray(format="rgb48le" if sixteen else "rgb24",
                                   src_colorspace="ITU709" if not sixteen else None)
            spec = oiio.ImageSpec(W, H, 3, "uint16" if sixteen else "uint8")
            spec.attribute("png:compressionLevel", 1)
            out = oiio.ImageOutput.create(str(folder / f"f.{i + 1:04d}.png"))
            out.open(str(folder / f"f.{i + 1:04d}.png"), spec)
            out.write_image(rgb)
            out.close()
    return str(folder / "f.#.png")


def make_media(work: Path, seconds: int, kinds=("sdr", "pq", "hlg", "exr")) -> dict:
    count = 24 * seconds + 1
    sub = work / f"media{seconds}s"
    sub.mkdir(parents=True, exist_ok=True)
    media = {
        "sdr": sub / "sdr.mp4", "pq": sub / "pq.mp4", "hlg": sub / "hlg.mp4",
        "exr": sub / "exr.zip",
    }
    if "sdr" in kinds and not media["sdr"].exists():
        encode(media["sdr"], count, sdr_planes, codec="libx264", pix_fmt="yuv420p",
               options={"crf": "18", "preset": "veryfast"},
               tags=dict(colorspace=1, color_primaries=1, color_trc=1, color_range=1))
    if "pq" in kinds and not media["pq"].exists():
        # x265's crf modes smooth the grain away (~0.5 KB a frame); a fixed qp keeps it, as a
        # real HDR master's bitrate would (~20 KB a frame here)
        encode(media["pq"], count, pq_planes, codec="libx265", pix_fmt="yuv420p10le",
               options={"preset": "veryfast", "x265-params": "log-level=none:qp=14"},
               tags=dict(colorspace=9, color_primaries=9, color_trc=16, color_range=1))
    if "hlg" in kinds and not media["hlg"].exists():
        encode(media["hlg"], count, hlg_planes, codec="libx265", pix_fmt="yuv420p10le",
               options={"preset": "veryfast", "x265-params": "log-level=none:qp=14"},
               tags=dict(colorspace=9, color_primaries=9, color_trc=18, color_range=1))
    if "exr" in kinds and not media["exr"].exists():
        exr_zip(media["exr"], count)
    return {k: str(v) for k, v in media.items() if k in kinds}


# -- measuring ----------------------------------------------------------------------------------

def run_child(cmd: list[str], env: Optional[dict] = None) -> dict:
    """Run a process: its wall time, its CPU time (user + system, from wait4, so a loaded
    machine shows as wall > CPU / cores) and the JSON line it printed last."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                env=None if env is None else {**os.environ, **env})
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{cmd[:3]} failed: {err.read().decode()[-2000:]}")
    text = out.decode().strip().splitlines()
    data = json.loads(text[-1]) if text and text[-1].startswith("{") else {}
    data.setdefault("seconds", wall)
    data["wall"] = wall
    data["cpu"] = usage.ru_utime + usage.ru_stime
    return data


def peak_rss_mb() -> float:
    """This process's own high-water mark (VmHWM; ru_maxrss would include the parent's size
    at fork time, which Linux carries across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ingest(args) -> None:
    """(in the child) one ingest, timed, with its peak RSS."""
    sys.path.insert(0, str(HERE.parents[1] / "tests"))
    from genplate.core.ingest.convert import ingest
    from genplate.core.ingest.options import IngestOptions

    class Staging:
        def __init__(self, folder: Path) -> None:
            self.dir = folder
            folder.mkdir(parents=True, exist_ok=True)

        def frame_path(self, frame: int, ext: str = "exr") -> Path:
            return self.dir / f"out.{frame:04d}.{ext}"

        thumbnail_path = property(lambda self: self.dir / "thumbnail.png")

    options = IngestOptions(sdr_mode=args.mode, hdr_mode=args.mode,
                            exact_table=not args.no_table, compression=args.compression,
                            exact=args.exact_hdr)
    t0 = time.perf_counter()
    result = ingest([Path(args.child_ingest)], Staging(Path(args.out)), options, header={})
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "frames": result.count, "rss_mb": peak_rss_mb(),
                      "transform": result.transform.describe(),
                      "processing": result.colour_record()["source"].get("processing")}))


def child_floor(args) -> None:
    """(in the child) write the ingest's own output frames again, same spec, nothing else."""
    import threading

    import OpenImageIO as oiio

    from genplate.core.ingest import exr as X

    folder = Path(args.child_floor)
    paths = sorted(folder.glob("out.*.exr"))
    cached = [X.read_rgb(p, (0, 1, 2), "half") for p in paths[:24]]
    workers = os.cpu_count() or 1
    oiio.attribute("threads", workers)
    oiio.attribute("exr_threads", workers)
    spec = X.FrameSpec(W, H, "half", args.compression, Fraction(24), None, "lin_ap1_scene",
                       {"genplate:source_kind": "floor"})
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = list(range(len(paths)))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop(0)
            X.write_frame(out_dir / f"floor.{i:04d}.exr", cached[i % len(cached)], spec.spec_for(i))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"seconds": time.perf_counter() - t0, "frames": len(paths)}))


def child_decode(args) -> None:
    """(in the child) decode the delivery and nothing else, the way ingest decodes it: video
    to 4:4:4 planes (PyAV, swscale), EXR frames to pixels (OIIO, the delivery's DWAB)."""
    import OpenImageIO as oiio

    from genplate.core.ingest import exr as X
    from genplate.core.ingest import video as V

    path = Path(args.child_decode)
    workers = os.cpu_count() or 1
    t0 = time.perf_counter()
    count = 0
    if path.suffix == ".zip":
        folder = Path(tempfile.mkdtemp(prefix="bench-decode-"))
        with zipfile.ZipFile(path) as archive:
            archive.extractall(folder)  # ingest extracts too: timed alike
        oiio.attribute("threads", workers)
        oiio.attribute("exr_threads", workers)
        frames_in = sorted(folder.rglob("*.exr"))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            count = sum(1 for _ in pool.map(lambda f: X.read_rgb(f, (0, 1, 2), "half"),
                                            frames_in))
        shutil.rmtree(folder, ignore_errors=True)
    else:
        bits = V.probe_video(path).coding.plane_bits  # what ingest hands OCIO
        for frame in V.iter_frames(path):
            V.planes_444(frame, bits)
            count += 1
    print(json.dumps({"seconds": time.perf_counter() - t0, "frames": count}))


def decode_floor(media: str) -> dict:
    return run_child([sys.executable, str(HERE), "--child-decode", media])


def ours(media: str, out: Path, mode: str, *, table: bool = True, exact: bool = False,
         bakes: Optional[Path] = None, compression="zip:1") -> dict:
    """One ingest in a fresh process. ``bakes``: the folder of kept HDR bakes it may read
    (genplate.ocio.baked); by default an empty one, so the run pays for its bake."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, str(HERE), "--child-ingest", media, "--out", str(out), "--mode", mode,
           "--compression", compression] + ([] if table else ["--no-table"]) \
        + (["--exact-hdr"] if exact else [])
    with tempfile.TemporaryDirectory(prefix="bench-bakes-") as empty:
        return run_child(cmd, env={"GENPLATE_CACHE_DIR": str(bakes or empty)})


def floor(frames_dir: Path, out: Path, compression="zip:1") -> dict:
    shutil.rmtree(out, ignore_errors=True)
    data = run_child([sys.executable, str(HERE), "--child-floor", str(frames_dir), "--out",
                      str(out), "--compression", compression])
    shutil.rmtree(out, ignore_errors=True)
    return data


def oiiotool(inputs: str, out: Path, convert: list[str], count: int, first: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    tool = str(Path(sys.executable).parent / "oiiotool")
    cmd = [tool, "--colorconfig", CONFIG_OIIO, "--parallel-frames",
           "--frames", f"{first}-{first + count - 1}", inputs, *convert,
           "-d", "half", "--compression", "zip:1", "-o", str(out / "o.#.exr")]
    data = run_child(cmd)
    data["frames"] = len(list(out.glob("o.*.exr")))
    shutil.rmtree(out, ignore_errors=True)
    return data


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--memory", action="store_true", help="also 10 s clips, for peak memory")
    p.add_argument("--exact", action="store_true", help="also display-match without the table")
    p.add_argument("--no-oiiotool", action="store_true")
    p.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest counts")
    p.add_argument("--only", action="append", default=[], choices=("sdr", "pq", "hlg", "exr"),
                   help="only these deliveries (repeatable)")
    p.add_argument("--workdir")
    p.add_argument("--json", help="write the figures here too")
    # internal: the child processes
    p.add_argument("--child-ingest", help=argparse.SUPPRESS)
    p.add_argument("--child-floor", help=argparse.SUPPRESS)
    p.add_argument("--child-decode", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--mode", default="display-match", help=argparse.SUPPRESS)
    p.add_argument("--no-table", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--exact-hdr", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--compression", default="zip:1", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child_ingest:
        child_ingest(args)
        return 0
    if args.child_floor:
        child_floor(args)
        return 0
    if args.child_decode:
        child_decode(args)
        return 0

    work = Path(args.workdir or tempfile.mkdtemp(prefix="genplate-bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    results_load = [os.getloadavg()[0]]
    import av
    import OpenImageIO as oiio
    import PyOpenColorIO as ocio

    print(f"PyOpenColorIO {ocio.__version__}, OpenImageIO {oiio.__version__}, av {av.__version__}")
    print(f"work dir: {work}")
    t0 = time.perf_counter()
    media = make_media(work, args.seconds, tuple(args.only) or ("sdr", "pq", "hlg", "exr"))
    print(f"deliveries made in {time.perf_counter() - t0:.0f} s "
          f"({', '.join(f'{k} {Path(v).stat().st_size / 1e6:.1f} MB' for k, v in media.items())})")
    count = 24 * args.seconds + 1
    results: dict = {"machine": cpu_model(), "cores": os.cpu_count(), "frames": count, "cases": {}}

    # (label, delivery, mode, memo table, --exact): the PQ clip also through the exact
    # processor, the baseline the baked LUT is measured against in the same run
    cases = [("sdr display-match", "sdr", "display-match", True, False),
             ("sdr texture", "sdr", "texture", True, False)]
    if args.exact:
        cases.append(("sdr display-match, no table", "sdr", "display-match", False, False))
    cases += [("pq display-match", "pq", "display-match", True, False),
              ("pq display-match, bake kept", "pq", "display-match", True, False),
              ("pq display-match --exact", "pq", "display-match", True, True),
              ("hlg display-match", "hlg", "display-match", True, False),
              ("exr -> ACEScg", "exr", "display-match", True, False)]
    kept = work / "bakes-kept"  # what a second clip of the same kind finds on disk
    if args.only:
        cases = [c for c in cases if c[1] in args.only]
    pngs = {}
    for label, kind, mode, table, exact in cases:
        out = work / "out" / label.replace(" ", "_").replace(">", "")
        if not args.no_oiiotool:
            if kind == "exr":
                frames_dir = Path(media["exr"]).parent / "exr_frames"
                inputs, first = str(frames_dir / "gen.#.exr"), 0
                convert = ["--colorconvert", "ACES2065-1", "ACEScg"]
            else:
                if kind not in pngs:
                    pngs[kind] = png_sequence(Path(media[kind]), work / f"png_{kind}",
                                              kind != "sdr")
                inputs, first = pngs[kind], 1
                if mode == "texture":
                    convert = ["--colorconvert", "Gamma 2.4 Encoded Rec.709", "ACEScg"]
                elif kind == "hlg":  # the route ingest takes: as PQ, through the PQ view
                    convert = ["--colorconvert", HLG_DISPLAY, PQ_DISPLAY,
                               "--ociodisplay:from=ACEScg:inverse=1", PQ_DISPLAY, HLG_VIEW]
                else:
                    display, view = (PQ_DISPLAY, PQ_VIEW) if kind == "pq" else (SDR_DISPLAY, SDR_VIEW)
                    convert = ["--ociodisplay:from=ACEScg:inverse=1", display, view]
        runs: dict[str, list] = {"ours": [], "floor": [], "oiiotool": [], "decode": []}
        bakes = kept if label.endswith("bake kept") else None
        if bakes is not None and not bakes.exists():
            ours(media[kind], out, mode, table=table, exact=exact, bakes=bakes)  # not timed
        for _ in range(args.repeat):  # interleaved, so a burst of load hits all three alike
            runs["ours"].append(ours(media[kind], out, mode, table=table, exact=exact,
                                     bakes=bakes))
            runs["floor"].append(floor(out, work / "floor"))
            runs["decode"].append(decode_floor(media[kind]))
            if not args.no_oiiotool:
                runs["oiiotool"].append(oiiotool(inputs, work / "oiiotool", convert, count, first))
        best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items() if v}
        r, f = best["ours"], best["floor"]
        row = {"ours_s": r["seconds"], "ours_cpu_s": r["cpu"], "fps": r["frames"] / r["seconds"],
               "rss_mb": r["rss_mb"], "floor_s": f["seconds"], "floor_cpu_s": f["cpu"],
               "vs_floor": r["seconds"] / f["seconds"], "transform": r["transform"],
               "processing": r.get("processing")}
        row["vs_floor_cpu"] = r["cpu"] / f["cpu"]
        d = best["decode"]
        # what no ingest of this delivery can spend less than: decoding it and writing the
        # frames; the rest of ours is the colour step and the pipeline's own cost
        row.update(decode_cpu_s=d["cpu"], vs_decode_and_write_cpu=r["cpu"] / (d["cpu"] + f["cpu"]))
        if "oiiotool" in best:
            o = best["oiiotool"]
            # process against process: oiiotool's wall time includes its start-up, so ours
            # does too (the ingest-only clock would spare us our imports)
            row.update(oiiotool_s=o["wall"], oiiotool_cpu_s=o["cpu"], ours_wall_s=r["wall"],
                       vs_oiiotool=o["wall"] / r["wall"],
                       vs_oiiotool_cpu=o["cpu"] / r["cpu"])
        results["cases"][label] = row
        print(f"  {label:<28} {row['fps']:5.2f} fps {row['ours_s']:6.1f} s (cpu {r['cpu']:5.0f} s)"
              f" | floor {row['floor_s']:5.1f} s, ours x{row['vs_floor']:.2f}"
              + (f" | oiiotool {row['oiiotool_s']:6.1f} s (cpu {row['oiiotool_cpu_s']:4.0f} s),"
                 f" ours ({row['ours_wall_s']:.1f} s as a process) {row['vs_oiiotool']:.2f}x"
                 f" faster" if "oiiotool_s" in row else "")
              + f" | peak {row['rss_mb']:.0f} MB")
        shutil.rmtree(out, ignore_errors=True)

    if args.memory:
        long_media = make_media(work, 2 * args.seconds, tuple(media))
        print(f"peak memory, {args.seconds} s vs {2 * args.seconds} s:")
        results["memory"] = {}
        for label, kind, mode in (("sdr display-match", "sdr", "display-match"),
                                  ("pq display-match", "pq", "display-match"),
                                  ("hlg display-match", "hlg", "display-match"),
                                  ("exr -> ACEScg", "exr", "display-match")):
            if kind not in media:
                continue
            short = results["cases"][label]["rss_mb"]
            out = work / "out" / "long"
            r = ours(long_media[kind], out, mode)
            shutil.rmtree(out, ignore_errors=True)
            results["memory"][label] = {"short_mb": short, "long_mb": r["rss_mb"],
                                        "long_fps": r["frames"] / r["seconds"]}
            print(f"  {label:<30} {short:6.0f} MB -> {r['rss_mb']:6.0f} MB "
                  f"({r['frames']} frames at {r['frames'] / r['seconds']:.2f} fps)")

    c = results["cases"]
    # On a shared machine wall time follows everybody else's load; CPU seconds (user + system
    # of the whole child, from wait4) do not, so both are reported.
    print("by CPU seconds (load-independent):")
    for label, row in c.items():
        print(f"  {label:<28} ours/floor x{row['vs_floor_cpu']:.2f}, "
              f"ours/(decode + write) x{row['vs_decode_and_write_cpu']:.2f}"
              + (f", oiiotool/ours x{row['vs_oiiotool_cpu']:.1f}" if "vs_oiiotool_cpu" in row else ""))
    if "sdr texture" in c and "sdr display-match" in c:
        ratio = c["sdr display-match"]["fps"] / c["sdr texture"]["fps"]
        cpu = c["sdr texture"]["ours_cpu_s"] / c["sdr display-match"]["ours_cpu_s"]
        print(f"display-match (exact, table) at {100 * ratio:.0f}% of texture speed by wall "
              f"time, {100 * cpu:.0f}% by CPU time")
        results["display_match_vs_texture"] = ratio
        results["display_match_vs_texture_cpu"] = cpu
    results_load.append(os.getloadavg()[0])
    results["load_average_start_end"] = results_load
    print(f"load average {results_load[0]:.1f} at start, {results_load[1]:.1f} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
