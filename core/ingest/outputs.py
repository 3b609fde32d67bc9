"""Outputs a take may carry besides its working-space EXR frames, chosen per take.

- ``aces-archive``: the SMPTE ST 2065-4 master in ``aces/``: ACES2065-1, half, RGB, scanline,
  uncompressed, AP0 chromaticities, adoptedNeutral, acesImageContainerFlag = 1 (OIIO's strict
  ACES container policy refuses anything else).
- ``dpx10``, ``dpx12`` (in ``dpx10/``, ``dpx12/``) and ``tiff16`` (``tiff16/``, zip): ACEScct, the
  config's color_timing role.
- ``review-sdr`` (H.264 8-bit BT.709) and ``review-hdr`` (HEVC 10-bit BT.2020 PQ) in
  ``review/<name>_v###_{sdr,hdr}.mp4``, through the SDR and the PQ display and view.

Integer outputs are in ACEScct because scene-linear values above 1.0 need a log encoding to
survive in integers (ACEScct 1.0 is linear ~222, above display-match's 128). Review movies go
through the config's output transform baked into a 65^3 LUT over ACEScct (tetrahedral): they
are for looking at, not for mastering, and the exact ACES 2.0 forward view costs ~1 s a 1080p
frame. Frames are written by the ingest workers; movies by one encoder thread that puts the
workers' frames back in order (a bounded reorder window, so memory stays flat).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import OpenImageIO as oiio
import PyOpenColorIO as ocio

from genplate.ocio import ConfigError
from genplate.ocio import config as ocfg
from genplate.ocio import processors as oproc
from genplate.ocio import sources as S

from . import exr as X
from .video import ycbcr_frame

OUTPUTS = ("aces-archive", "dpx10", "dpx12", "tiff16", "review-sdr", "review-hdr")
LUT_SIZE = 65


class OutputError(ValueError):
    """An output cannot be made as asked."""


def check_outputs(names) -> tuple[str, ...]:
    out = []
    for name in names or ():
        if name not in OUTPUTS:
            raise OutputError(f"output {name!r}: choose from {', '.join(OUTPUTS)}")
        if name not in out:
            out.append(name)
    return tuple(out)


def _subpath(staging, folder: str, frame: int, ext: str) -> Path:
    return Path(staging.dir) / folder / Path(staging.frame_path(frame, ext)).name


@dataclass
class FrameOutput:
    """One extra frame file per frame: a processor from the working space and a writer."""

    name: str
    folder: str
    ext: str
    space: str
    cpu_for: Callable  # dtype of the working frames -> the processor that takes them
    spec: X.FrameSpec
    file_format: str  # OIIO format name
    pixel_type: str  # OIIO data type of the file
    bits: Optional[int] = None
    records: list = field(default_factory=list)

    def write(self, staging, frame: int, working: np.ndarray) -> None:
        h, w = working.shape[:2]
        if self.pixel_type == "half":
            pixels = np.empty((h, w, 3), np.float16)
            depth, size = ocio.BIT_DEPTH_F16, 2
        else:
            pixels = np.empty((h, w, 3), np.float32)
            depth, size = ocio.BIT_DEPTH_F32, 4
        src_depth = ocio.BIT_DEPTH_F16 if working.dtype == np.float16 else ocio.BIT_DEPTH_F32
        src_size = working.dtype.itemsize
        self.cpu_for(working.dtype).apply(
            ocio.PackedImageDesc(working, w, h, 3, src_depth, src_size, 3 * src_size, 3 * src_size * w),
            ocio.PackedImageDesc(pixels, w, h, 3, depth, size, 3 * size, 3 * size * w))
        spec = self.spec.spec_for(frame)
        if self.bits:
            spec.attribute("oiio:BitsPerSample", self.bits)
        path = _subpath(staging, self.folder, frame, self.ext)
        _write(path, pixels, spec, self.file_format)

    def record(self, staging, first: int, count: int) -> dict:
        return {"name": self.name, "space": self.space, "pattern":
                str(Path(self.folder) / Path(staging.frame_path(first, self.ext)).name
                    .replace(f".{first:04d}.", ".%04d.")),
                "first": first, "last": first + count - 1, "format": self.file_format,
                "bits": self.bits or (16 if self.pixel_type == "half" else None),
                "compression": self.spec.compression}


def _write(path: Path, pixels: np.ndarray, spec, file_format: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    out = oiio.ImageOutput.create(file_format)
    if out is None:
        raise OutputError(f"OpenImageIO cannot write {file_format}: {oiio.geterror()}")
    ok = out.open(str(tmp), spec) and out.write_image(pixels)
    error = out.geterror()
    out.close()
    if not ok:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path.name}: {error}")
    os.replace(tmp, path)


def frame_outputs(names, info: ocfg.ConfigInfo, working: str, *, width: int, height: int,
                  fps: Fraction, attributes: dict) -> list[FrameOutput]:
    config = info.config
    result = []
    for name in names:
        if name == "aces-archive":
            space = ocfg.interchange_space(config)
            attrs = dict(attributes, **{"genplate:working_space": space,
                                        "openexr:ACESContainerPolicy": "strict"})
            # ST 2065-4: no compression, half, AP0, and OIIO's strict policy adds the flag
            spec = X.FrameSpec(width, height, "half", "none", fps, ocfg.AP0, "lin_ap0_scene", attrs)
            result.append(FrameOutput(name, "aces", "exr", space, _cpu(info, working, space, "half"),
                                      spec, "openexr", "half"))
        elif name in ("dpx10", "dpx12", "tiff16"):
            space = ocfg.log_space(config)
            if space is None:
                raise ConfigError(f"{name} needs a log space (color_timing role or ACEScct)")
            attrs = {"ImageDescription": f"{space} (genplate {name})",
                     "genplate:working_space": space}
            for key in ("genplate:shot", "genplate:take", "genplate:version", "genplate:job_id"):
                if key in attributes:
                    attrs[key] = attributes[key]
            if name == "tiff16":
                spec = X.FrameSpec(width, height, "uint16", "zip", fps, None, None, attrs)
                result.append(FrameOutput(name, name, "tif", space, _cpu(info, working, space, "float"),
                                          spec, "tiff", "uint16"))
            else:
                bits = int(name[3:])
                spec = X.FrameSpec(width, height, "uint16", "none", fps, None, None,
                                   dict(attrs, **{"dpx:Transfer": "Logarithmic"}))
                result.append(FrameOutput(name, name, "dpx", space, _cpu(info, working, space, "float"),
                                          spec, "dpx", "uint16", bits=bits))
    return result


def _cpu(info, src: str, dst: str, pixel_type: str) -> Callable:
    """The processor for frames of either working pixel type (a take may be half or float);
    both are built once, in the shared processor cache."""
    out_depth = oproc.F16 if pixel_type == "half" else oproc.F32

    def cpu_for(dtype) -> object:
        in_depth = oproc.F16 if np.dtype(dtype) == np.float16 else oproc.F32
        return oproc.space_processor(info, src, dst, in_depth=in_depth, out_depth=out_depth)

    return cpu_for


# -- review movies ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewKind:
    name: str
    source_kind: str  # which display the movie is for (sources' table names it)
    suffix: str
    codec: str
    pix_fmt: str
    bits: int
    kr_kb: tuple
    tags: dict
    options: dict


REVIEW = {
    "review-sdr": ReviewKind("review-sdr", S.SDR_REC709, "sdr", "libx264", "yuv420p", 8,
                             (0.2126, 0.0722),
                             dict(colorspace=1, color_primaries=1, color_trc=1, color_range=1),
                             {"crf": "18", "preset": "veryfast"}),
    "review-hdr": ReviewKind("review-hdr", S.HDR_PQ, "hdr", "libx265", "yuv420p10le", 10,
                             (0.2627, 0.0593),
                             dict(colorspace=9, color_primaries=9, color_trc=16, color_range=1),
                             {"crf": "20", "preset": "veryfast", "x265-params": "log-level=none"}),
}


def baked_view(info: ocfg.ConfigInfo, working: str, display: str, view: str):
    """working -> ACEScct (exact) -> 65^3 LUT of the display/view (tetrahedral): a CPU
    processor F16 in, F32 display codes out."""
    config = info.config
    log = ocfg.log_space(config)
    if log is None:
        raise ConfigError("review movies need a log space (color_timing role or ACEScct)")

    def build():
        grid = np.linspace(0.0, 1.0, LUT_SIZE, dtype=np.float32)
        r, g, b = np.meshgrid(grid, grid, grid, indexing="ij")  # R slowest, as setData wants
        cube = np.ascontiguousarray(np.stack([r, g, b], axis=-1).reshape(-1, 3))
        exact = config.getProcessor(ocio.DisplayViewTransform(src=log, display=display, view=view))
        exact.getDefaultCPUProcessor().applyRGB(cube)
        lut = ocio.Lut3DTransform(gridSize=LUT_SIZE)
        lut.setData(cube.reshape(-1))
        lut.setInterpolation(ocio.INTERP_TETRAHEDRAL)
        group = ocio.GroupTransform()
        group.appendTransform(ocio.ColorSpaceTransform(working, log))
        group.appendTransform(lut)
        return config.getProcessor(group).getOptimizedCPUProcessor(
            ocio.BIT_DEPTH_F16, ocio.BIT_DEPTH_F32, ocio.OPTIMIZATION_DEFAULT)

    key = ("baked-view", info.cache_id, working, log, display, view, LUT_SIZE)
    return oproc.PROCESSORS.get(key, build)


def to_ycbcr420(codes: np.ndarray, kr_kb: tuple, bits: int) -> tuple:
    """Display codes (h, w, 3, 0-1) -> limited-range Y'CbCr 4:2:0 planes (2x2 box chroma)."""
    kr, kb = kr_kb
    kg = 1.0 - kr - kb
    rgb = np.clip(codes, 0.0, 1.0)
    y = rgb[..., 0] * kr + rgb[..., 1] * kg + rgb[..., 2] * kb
    h, w = y.shape
    h2, w2 = h // 2 * 2, w // 2 * 2

    def sub(c):
        return c[:h2, :w2].reshape(h2 // 2, 2, w2 // 2, 2).mean(axis=(1, 3))

    cb = sub((rgb[..., 2] - y) / (2 * (1 - kb)))
    cr = sub((rgb[..., 0] - y) / (2 * (1 - kr)))
    unit = float(2 ** (bits - 8))
    dtype = np.uint8 if bits == 8 else np.uint16
    return (np.rint((16 + 219 * y) * unit).astype(dtype),
            np.rint((128 + 224 * cb) * unit).astype(dtype),
            np.rint((128 + 224 * cr) * unit).astype(dtype))


class MovieWriter:
    """Encodes review frames in order from workers that finish out of order.

    ``put(index, working_frame)`` converts on the caller's (worker) thread and hands the planes
    to the encoder thread; a worker ahead of the encoder by more than ``window`` frames waits,
    so memory stays bounded (the window is larger than the number of workers, and workers take
    frames in order, so the next frame the encoder needs is always being worked on).
    """

    def __init__(self, path: Path, kind: ReviewKind, info, working: str, *, width: int,
                 height: int, fps: Fraction, window: int) -> None:
        self.path, self.kind = path, kind
        t = S.input_transform(info.config, kind.source_kind, S.DISPLAY_MATCH, working)
        self.display, self.view = t.display, t.view
        self.cpu = baked_view(info, working, t.display, t.view)
        self.width, self.height = width // 2 * 2, height // 2 * 2
        self.fps = fps
        self.window = max(2, window)
        self._ready: dict[int, tuple] = {}
        self._next = 0
        self._cond = threading.Condition()
        self._closed = False
        self._error: Optional[BaseException] = None
        self._tmp = path.with_name(f".{path.name}.tmp.mp4")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name=f"review-{kind.suffix}", daemon=True)
        self._thread.start()

    def put(self, index: int, working: np.ndarray) -> None:
        h, w = working.shape[:2]
        if working.dtype != np.float16:  # the baked view takes half (a review needs no more)
            working = working.astype(np.float16)
        codes = np.empty((h, w, 3), np.float32)
        self.cpu.apply(ocio.PackedImageDesc(working, w, h, 3, ocio.BIT_DEPTH_F16, 2, 6, 6 * w),
                       ocio.PackedImageDesc(codes, w, h, 3, ocio.BIT_DEPTH_F32, 4, 12, 12 * w))
        planes = to_ycbcr420(codes[:self.height, :self.width], self.kind.kr_kb, self.kind.bits)
        with self._cond:
            while index >= self._next + self.window and self._error is None and not self._closed:
                self._cond.wait(0.1)
            if self._error is not None:
                raise OutputError(f"review movie {self.path.name}: {self._error}")
            self._ready[index] = planes
            self._cond.notify_all()

    def _run(self) -> None:
        import av

        try:
            dtype = np.uint8 if self.kind.bits == 8 else np.uint16
            with av.open(str(self._tmp), "w", format="mp4") as container:
                stream = container.add_stream(self.kind.codec, rate=self.fps)
                stream.width, stream.height = self.width, self.height
                stream.pix_fmt = self.kind.pix_fmt
                stream.options = dict(self.kind.options)
                for k, v in self.kind.tags.items():
                    setattr(stream.codec_context, k, v)
                while True:
                    with self._cond:
                        while self._next not in self._ready and not self._closed:
                            self._cond.wait(0.1)
                        if self._next not in self._ready:
                            break
                        planes = self._ready.pop(self._next)
                        index = self._next
                        self._next += 1
                        self._cond.notify_all()
                    frame = ycbcr_frame([p.astype(dtype, copy=False) for p in planes],
                                        self.kind.pix_fmt, tags=self.kind.tags, pts=index)
                    for packet in stream.encode(frame):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
        except BaseException as exc:  # reported to the workers and to close()
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def close(self, count: int) -> dict:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        if self._error is not None:
            self._tmp.unlink(missing_ok=True)
            raise OutputError(f"review movie {self.path.name}: {self._error}")
        if self._next != count:
            self._tmp.unlink(missing_ok=True)
            raise OutputError(f"review movie {self.path.name}: {self._next} of {count} frames")
        os.replace(self._tmp, self.path)
        return {"name": self.kind.name, "path": str(Path(self.path.parent.name) / self.path.name),
                "display": self.display, "view": self.view, "codec": self.kind.codec,
                "bits": self.kind.bits, "frames": count,
                "transform": f"{self.display} / {self.view} (65^3 LUT over ACEScct)"}

    def abort(self) -> None:
        with self._cond:
            self._closed = True
            self._error = self._error or OutputError("aborted")
            self._cond.notify_all()
        self._thread.join()
        self._tmp.unlink(missing_ok=True)


def review_writers(names, info, working: str, staging, *, width: int, height: int, fps: Fraction,
                   window: int) -> list[MovieWriter]:
    writers = []
    try:
        for name in names:
            if name in REVIEW:
                kind = REVIEW[name]
                base = Path(staging.frame_path(0)).name.split(".")[0]
                path = Path(staging.dir) / "review" / f"{base}_{kind.suffix}.mp4"
                writers.append(MovieWriter(path, kind, info, working, width=width, height=height,
                                           fps=fps, window=window))
    except BaseException:
        for w in writers:
            w.abort()
        raise
    return writers


class Extras:
    """Every extra output of one take, fed frame by frame from the ingest workers."""

    def __init__(self, names, info, working: str, staging, *, width: int, height: int,
                 fps: Fraction, attributes: dict, workers: int) -> None:
        self.names = check_outputs(names)
        self.staging = staging
        self.frames = frame_outputs(self.names, info, working, width=width, height=height,
                                    fps=fps, attributes=attributes)
        self.movies = review_writers(self.names, info, working, staging, width=width,
                                     height=height, fps=fps, window=4 * workers + 2)

    def __bool__(self) -> bool:
        return bool(self.frames or self.movies)

    def add(self, index: int, frame: int, working: np.ndarray) -> None:
        for out in self.frames:
            out.write(self.staging, frame, working)
        for movie in self.movies:
            movie.put(index, working)

    def gap(self, index: int, height: int, width: int, dtype) -> None:
        """A frame the take publishes as a gap: frame outputs keep the gap; the review movies,
        which have no numbering to keep it in, show black for it."""
        if self.movies:
            black = np.zeros((height, width, 3), dtype)
            for movie in self.movies:
                movie.put(index, black)

    def finish(self, first: int, count: int) -> list[dict]:
        records = [out.record(self.staging, first, count) for out in self.frames]
        movies, self.movies = self.movies, []
        try:
            for movie in movies:
                records.append(movie.close(count))
        except BaseException:
            for movie in movies:
                movie.abort()
            raise
        return records

    def abort(self) -> None:
        for movie in self.movies:
            movie.abort()
        self.movies = []
