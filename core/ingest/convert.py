"""Ingest: delivered files become EXR frames in the working space, in a take's staging folder.

``ingest(paths, staging, options, header=, progress=, cancel=)`` picks the delivery (EXR frames,
loose or zipped, over a video when both came), works out its source kind from what the files
say about themselves (stream colour tags, EXR chromaticities; never file names), builds one
OCIO processor for the clip (color.md §5) and streams frames through it:

    decode thread --(bounded queue, 2 x workers frames)--> N worker threads: OCIO -> EXR write

OCIO's ``apply``, numpy's gathers and OIIO's ``write_image`` all release the GIL, so the workers
overlap on every core, and the bounded queue keeps memory flat whatever the clip's length.
Nothing runs serially after the last frame: the worker that converts the middle frame makes
the thumbnail from its pixels, the delivery is hashed alongside, and frames extracted from a
zip are deleted by the workers as they go.
Video goes through the exact processor memoised per Y'CbCr triple (genplate.ocio.memo: same
results, a fraction of the ACES 2.0 inverse's cost). The caller (core/jobs/runner.py,
core/cli/colour.py) publishes the staging folder afterwards.
"""
from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Optional

import av
import numpy as np
import PyOpenColorIO as ocio
import OpenImageIO as oiio

from genplate.ocio import ColourError, ConfigError
from genplate.ocio import config as ocfg
from genplate.ocio import processors as oproc
from genplate.ocio import sources as S
from genplate.ocio import memo as omemo

from .. import __version__
from . import exr as X
from . import outputs as O
from . import video as V
from ..delivery.unpack import file_sha256
from ..progress import Cancelled, CancelToken, ProgressFn, no_progress

__all__ = ["IngestOptions", "IngestResult", "IngestError", "ColourError", "ConfigError",
           "ingest", "choose_delivery"]


class IngestError(RuntimeError):
    """The delivered files cannot become a take; the message says which file and why."""


@dataclass
class IngestOptions:
    first_frame: int = 1001
    sdr_mode: str = "display-match"  # display-match | texture (README, Colour)
    working_space: Optional[str] = None  # default: the config's scene_linear role (ACEScg)
    config: Optional[str] = None  # path or ocio:// URI; default $OCIO, host, built-in
    compression: str = X.DEFAULT_COMPRESSION
    pixel_type: str = "half"  # half | float
    hdr_mode: str = "display-match"  # PQ/HLG: inverse HDR view, or texture (100 nits = 1.0)
    assume: str = V.DEFAULT_ASSUME  # what tags an untagged video lacks are taken to be
    source_tags: Optional[str] = None  # overrides the stream's tags ("bt709 full srgb")
    peak_nits: Optional[int] = None  # HDR view to invert (1000/2000/4000); None: from the
    # stream's MaxCLL / mastering metadata, else 1000
    exact_table: bool = True  # display-match memoised per Y'CbCr triple (bit-identical result)
    host_config: Optional[str] = None  # the config of the host that asked (Nuke, Resolve)
    workers: Optional[int] = None  # default: one per core
    thumbnail_width: int = 480
    outputs: tuple = ()  # extra outputs (ingest_outputs.OUTPUTS): aces-archive, dpx10, ...

    def check(self) -> None:
        if self.sdr_mode not in S.SDR_MODES:
            raise IngestError(f"sdr_mode {self.sdr_mode!r}: use {' or '.join(S.SDR_MODES)}")
        if self.hdr_mode not in S.SDR_MODES:
            raise IngestError(f"hdr_mode {self.hdr_mode!r}: use {' or '.join(S.SDR_MODES)}")
        if self.pixel_type not in X.PIXEL_TYPES:
            raise IngestError(f"pixel_type {self.pixel_type!r}: use half or float")
        if self.first_frame < 0:
            raise IngestError(f"first_frame {self.first_frame}: frame numbers start at 0 or more")
        try:
            self.outputs = O.check_outputs(self.outputs)
            X.check_compression(self.compression)
            V.parse_tags(self.assume)
            if self.source_tags:
                V.parse_tags(self.source_tags)
        except (X.ExrError, V.VideoTagError, O.OutputError) as exc:
            raise IngestError(str(exc)) from None


@dataclass
class SourceFile:
    path: Path
    kind: str
    bytes: int
    sha256: str = ""
    used: bool = False
    archive: Optional[str] = None  # the zip it came out of (hashed instead of its members)


@dataclass
class IngestResult:
    first: int
    count: int
    fps: Fraction
    width: int
    height: int
    config: ocfg.ConfigInfo
    working_space: str
    chromaticities: Optional[tuple]
    interop_id: Optional[str]
    source_kind: str
    sdr_mode: str
    transform: S.InputTransform
    assumed: list[str]
    sources: list[SourceFile]
    delivery: str  # "video" | "exr"
    compression: str
    pixel_type: str
    timecode: str
    seconds: float
    source_detail: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    def frames_record(self) -> dict:
        fps = self.fps
        return {"first": self.first, "last": self.last, "count": self.count,
                "fps": int(fps) if fps.denominator == 1 else round(float(fps), 3),
                "fps_rational": [fps.numerator, fps.denominator],
                "width": self.width, "height": self.height, "timecode": self.timecode}

    def colour_record(self) -> dict:
        return {
            "config": self.config.label,
            "config_uri": self.config.uri,
            "config_origin": self.config.origin,
            "config_cache_id": self.config.cache_id,
            "working_space": self.working_space,
            "chromaticities": list(self.chromaticities) if self.chromaticities else None,
            "interop_id": self.interop_id,
            "source_kind": self.source_kind,
            "sdr_mode": self.sdr_mode,
            "mode": self.transform.mode,
            "input_transform": self.transform.describe(),
            "display": self.transform.display,
            "view": self.transform.view,
            "source_space": self.transform.src_space,
            "source": self.source_detail,
            "assumed": list(self.assumed),
            "warnings": list(self.warnings),
            "pixel_type": self.pixel_type,
            "compression": self.compression,
            "outputs": list(self.outputs),
        }

    def sources_record(self) -> list[dict]:
        out = []
        for s in self.sources:
            entry = {"path": str(s.path), "kind": s.kind, "bytes": s.bytes,
                     "sha256": s.sha256 or None, "used": s.used}
            if s.archive:
                entry["archive"] = s.archive
            out.append(entry)
        return out


# -- choosing the delivery -------------------------------------------------------------------

def _sniff(path: Path) -> str:
    from ..delivery.unpack import sniff_kind

    return sniff_kind(path)


def _expand(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith("."))
        elif p.is_file():
            out.append(p)
        else:
            raise IngestError(f"{p}: no such file or folder")
    return out


def choose_delivery(files: list[SourceFile]) -> tuple[str, list[SourceFile]]:
    """("exr", frames) when EXR frames came (Luma's EXR export is the scene-linear master),
    else ("video", [the video]); an HDR-capable video is not told apart here (see _pick_video)."""
    exrs = [f for f in files if f.kind == "exr"]
    if exrs:
        return "exr", exrs
    videos = [f for f in files if f.kind == "mp4"]
    if videos:
        return "video", videos
    kinds = ", ".join(sorted({f"{f.path.name} ({f.kind})" for f in files})) or "nothing"
    raise IngestError(f"no video or EXR frames among the delivered files: {kinds}")


# -- the pipeline ----------------------------------------------------------------------------

def _publish_frame(staging, fspec, extras, thumb, first: int, index: int, pixels) -> None:
    """Everything a converted frame becomes, whatever the delivery: the EXR frame, the extra
    outputs, and the thumbnail when it is the middle frame."""
    frame = first + index
    X.write_frame(Path(staging.frame_path(frame)), pixels, fspec.spec_for(frame))
    if extras:
        extras.add(index, frame, pixels)
    if index == thumb.index:
        thumb.make(index, pixels)


def _offer(q: "queue.Queue", item, stop: threading.Event) -> bool:
    """Put ``item`` on a bounded queue unless ``stop`` is set first; False if it was."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class _Stop(Exception):
    pass


def _run_pipeline(produce: Callable[[Callable[[object], None]], int], convert: Callable,
                  *, workers: int, total: int, progress: ProgressFn, cancel: CancelToken) -> int:
    """Run ``produce`` in a decode thread feeding ``convert`` on ``workers`` threads.

    Progress is reported and the cancel token checked from the calling thread only (the
    token may consult the ledger), once per finished frame and at least 10 times a second.
    Returns the number of frames produced; re-raises the first error of any thread.
    """
    work: "queue.Queue" = queue.Queue(maxsize=max(2, 2 * workers))
    done: "queue.Queue" = queue.Queue()
    stop = threading.Event()

    def put(item) -> None:
        if not _offer(work, item, stop):
            raise _Stop()

    def decoder() -> None:
        try:
            count = produce(put)
            done.put(("decoded", count))
        except _Stop:
            done.put(("decoded", -1))
        except BaseException as exc:  # handed to the caller's thread
            done.put(("error", exc))
        finally:
            # One end-of-work marker per worker; after a stop the workers leave on their own.
            for _ in range(workers):
                if not _offer(work, None, stop):
                    break

    def worker() -> None:
        while True:
            try:
                item = work.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            if item is None:
                return
            if stop.is_set():
                continue
            try:
                convert(item)
                done.put(("done", None))
            except BaseException as exc:
                stop.set()
                done.put(("error", exc))

    threads = [threading.Thread(target=decoder, name="ingest-decode", daemon=True)]
    threads += [threading.Thread(target=worker, name=f"ingest-{i}", daemon=True)
                for i in range(workers)]
    for t in threads:
        t.start()
    finished, produced, error = 0, None, None
    try:
        while produced is None or finished < produced:
            try:
                what, value = done.get(timeout=0.1)
            except queue.Empty:
                what, value = None, None
            if what == "done":
                finished += 1
                progress(finished, max(total, produced or 0, finished), f"frame {finished}")
            elif what == "decoded":
                produced = value
                if value < 0:
                    break
            elif what == "error":
                error = value
                break
            if cancel.cancelled:
                raise Cancelled("cancelled")
    finally:
        stop.set()
        for t in threads:
            t.join()
    if error is not None:
        raise error
    return produced or 0


# -- ingest ----------------------------------------------------------------------------------

def ingest(paths: list[Path], staging, options: Optional[IngestOptions] = None, *,
           header: Optional[dict] = None, progress: ProgressFn = no_progress,
           cancel: Optional[CancelToken] = None) -> IngestResult:
    """Convert the delivery among ``paths`` into frames first..first+n-1 in ``staging``."""
    options = options or IngestOptions()
    options.check()
    cancel = cancel or CancelToken()
    started = time.monotonic()
    try:
        attributes = X.check_header(dict(header or {}))
    except X.ExrError as exc:
        raise IngestError(str(exc)) from None

    info = ocfg.resolve_config(options.config, host_config=options.host_config)
    config = info.config
    working = ocfg.working_space(config, options.working_space)
    chroma = ocfg.chromaticities(config, working)
    interop = ocfg.interop_id(config, working)

    files = [SourceFile(p, _sniff(p), p.stat().st_size) for p in _expand(paths)]
    scratch: Optional[Path] = None
    hasher: Optional[_Hasher] = None
    try:
        for f in list(files):
            if f.kind == "zip":  # a zip of EXR frames (a CLI ingest; fetch extracts its own)
                scratch = scratch or Path(tempfile.mkdtemp(prefix=".genplate-unzip-",
                                                           dir=_scratch_parent(staging)))
                from ..delivery.unpack import extract_zip

                extracted = extract_zip(f.path, scratch / f.path.stem)
                f.used = True
                # the zip's own hash stands for its members (they are scratch, not kept)
                files += [SourceFile(p, _sniff(p), p.stat().st_size, archive=str(f.path))
                          for p in extracted]
        hasher = _Hasher([f for f in files if f.archive is None])
        hasher.start()
        delivery, chosen = choose_delivery(files)
        workers = max(1, options.workers or os.cpu_count() or 1)
        oiio.attribute("threads", workers)
        oiio.attribute("exr_threads", workers)
        thumb = _Thumbnail(info, working, Path(staging.thumbnail_path), options.thumbnail_width)
        common = dict(info=info, working=working, chroma=chroma, interop=interop,
                      attributes=attributes, options=options, staging=staging,
                      workers=workers, progress=progress, cancel=cancel, thumb=thumb)
        if delivery == "exr":
            result = _ingest_exr(chosen, **common)
        else:
            result = _ingest_video(_pick_video(chosen, options), **common)
    finally:
        if hasher is not None:
            hasher.join()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if hasher.error is not None:
        raise IngestError(f"cannot read a delivered file to hash it: {hasher.error}")
    result.sources = files
    if thumb.made != result.count // 2:  # fewer frames came than announced
        middle = staging.frame_path(result.first + result.count // 2)
        X.write_thumbnail(Path(middle), Path(staging.thumbnail_path), thumb.display(),
                          options.thumbnail_width)
    result.seconds = time.monotonic() - started
    return result


def _scratch_parent(staging) -> Path:
    parent = Path(staging.dir).parent
    parent.mkdir(parents=True, exist_ok=True)
    return parent


def _pick_video(videos: list[SourceFile], options: IngestOptions) -> tuple[SourceFile, V.VideoProbe]:
    """The video to ingest: when several came, the HDR one (the master), else the first."""
    probes = []
    for f in videos:
        try:
            probes.append((f, V.probe_video(f.path, assume=options.assume,
                                            override=options.source_tags)))
        except V.VideoTagError as exc:
            if len(videos) == 1:
                raise IngestError(str(exc)) from None
    if not probes:
        raise IngestError("none of the delivered videos can be read: "
                          + ", ".join(str(f.path) for f in videos))
    probes.sort(key=lambda fp: (not fp[1].hdr, -fp[1].bits))
    return probes[0]


def _frame_spec(*, width, height, fps, chroma, interop, attributes, options, info, working,
                transform: S.InputTransform, source_kind: str) -> X.FrameSpec:
    attrs = dict(attributes)
    attrs.update({
        "genplate:source_kind": source_kind,
        "genplate:sdr_mode": options.sdr_mode,
        "genplate:working_space": working,
        "genplate:ocio_config": info.label,
        "genplate:input_transform": transform.describe(),
        "Software": f"genplate {__version__}",
    })
    return X.FrameSpec(width=width, height=height, pixel_type=options.pixel_type,
                       compression=options.compression, fps=fps, chromaticities=chroma,
                       interop_id=interop, attributes=attrs)


def _out_depth(options: IngestOptions):
    return oproc.F16 if options.pixel_type == "half" else oproc.F32


def _ingest_video(chosen: tuple[SourceFile, V.VideoProbe], *, info, working, chroma, interop,
                  attributes, options, staging, workers, progress, cancel,
                  thumb: "_Thumbnail") -> IngestResult:
    source, probe = chosen
    source.used = True
    mode = options.hdr_mode if probe.hdr else options.sdr_mode
    peak = options.peak_nits
    if probe.hdr and peak is None:
        peak = V.view_nits(probe.hdr_metadata)
        if peak is None:
            peak = 1000
            if mode == S.DISPLAY_MATCH:
                probe.assumed.append("HDR peak: no MaxCLL or mastering metadata; the 1000-nit "
                                     "view assumed")
    transform = S.input_transform(info.config, probe.source_kind, mode, working,
                                  peak_nits=peak or 1000)
    out_depth = _out_depth(options)
    cpu = oproc.video_processor(info, transform, probe.coding, out_depth=out_depth)
    table = None
    if options.exact_table:
        # Y'CbCr triples repeat within and across frames: memoise them (same processor, same
        # inputs, bit-identical results). For 8-bit video a gather from the full table (~20 ms
        # a 1080p frame) beats even the texture path's OCIO apply (~37 ms); for 10-bit only
        # the ACES 2.0 inverse (~1.6 MP/s a core) is slow enough for the cache to pay.
        key = oproc.video_key(info, transform, probe.coding, out_depth=out_depth)
        dtype = np.float16 if options.pixel_type == "half" else np.float32
        if probe.coding.plane_bits == 8:
            table = omemo.exact_table(key, cpu, dtype=dtype, threads=workers)
        elif transform.mode == S.DISPLAY_MATCH:
            table = omemo.exact_cache(key, cpu, dtype=dtype)
    fspec = _frame_spec(width=probe.width, height=probe.height, fps=probe.fps, chroma=chroma,
                        interop=interop, attributes=attributes, options=options, info=info,
                        working=working, transform=transform, source_kind=probe.source_kind)
    fspec.attributes["genplate:decode"] = probe.coding.describe()
    if probe.assumed:
        fspec.attributes["genplate:assumed"] = "; ".join(probe.assumed)
    w, h = probe.width, probe.height
    plane_bits = probe.coding.plane_bits
    in_depth = ocio.BIT_DEPTH_UINT8 if plane_bits == 8 else ocio.BIT_DEPTH_UINT16
    itemsize = 1 if plane_bits == 8 else 2
    out_dtype = np.float16 if options.pixel_type == "half" else np.float32
    out_size = np.dtype(out_dtype).itemsize
    local = threading.local()
    first = options.first_frame
    thumb.index = probe.frames // 2 if probe.frames else None

    def produce(put) -> int:
        count = 0
        try:
            for frame in V.iter_frames(probe.path):
                if (frame.width, frame.height) != (w, h):
                    raise IngestError(f"{probe.path}: frame {count} is "
                                      f"{frame.width}x{frame.height}, the first was {w}x{h}")
                put((count, *V.planes_444(frame, plane_bits)))
                count += 1
        except av.error.FFmpegError as exc:
            raise IngestError(f"{probe.path}: frame {count} cannot be decoded ({exc}); the "
                              f"download may be damaged: fetch it again") from None
        return count

    def convert(item) -> None:
        index, (y, cb, cr), stride, _frame = item
        out = getattr(local, "out", None)
        if out is None:
            out = local.out = np.empty((h, w, 3), out_dtype)
        if table is not None:
            table.apply(y[:, :w], cb[:, :w], cr[:, :w], out)
        else:
            src = ocio.PlanarImageDesc(y, cb, cr, w, h, in_depth, itemsize, stride)
            dst = ocio.PackedImageDesc(out, w, h, 3, out_depth, out_size, 3 * out_size,
                                       3 * out_size * w)
            cpu.apply(src, dst)
        _publish_frame(staging, fspec, extras, thumb, first, index, out)

    extras = O.Extras(options.outputs, info, working, staging, width=w, height=h, fps=probe.fps,
                      attributes=fspec.attributes, workers=workers)
    try:
        count = _run_pipeline(produce, convert, workers=workers, total=probe.frames,
                              progress=progress, cancel=cancel)
        if count == 0:
            raise IngestError(f"{probe.path}: no frames decoded")
        outputs = extras.finish(first, count)
    except (X.ExrError, V.VideoTagError, O.OutputError) as exc:
        raise IngestError(str(exc)) from None
    finally:
        extras.abort()
    warnings = list(probe.warnings)
    if probe.frames and count != probe.frames:
        warnings.append(f"the container announces {probe.frames} frames, {count} decoded")
    _, tc = X.timecode(first, probe.fps)
    return IngestResult(
        first=first, count=count, fps=probe.fps, width=w, height=h, config=info,
        working_space=working, chromaticities=chroma, interop_id=interop,
        source_kind=probe.source_kind, sdr_mode=options.sdr_mode, transform=transform,
        assumed=list(probe.assumed), sources=[], delivery="video",
        compression=options.compression, pixel_type=options.pixel_type, timecode=tc,
        seconds=0.0, outputs=outputs, source_detail=dict(probe.record(), processing=(
            "exact processor" if table is None else
            "exact memo table of 8-bit triples" if probe.coding.plane_bits == 8 else
            "exact processor with a cache of recent triples")),
        warnings=warnings)


def _ingest_exr(chosen: list[SourceFile], *, info, working, chroma, interop, attributes,
                options, staging, workers, progress, cancel,
                thumb: "_Thumbnail") -> IngestResult:
    frames = X.main_sequence([f.path for f in chosen])
    in_use = set(frames)
    for f in chosen:
        f.used = f.path in in_use
    try:
        probe = X.probe_exr(frames[0])
    except X.ExrError as exc:
        raise IngestError(str(exc)) from None
    config = info.config
    assumed: list[str] = []
    prims = ocfg.primaries_name(probe.chromaticities)
    if probe.chromaticities is None:
        ruled = config.getColorSpaceFromFilepath(str(frames[0]))
        ruled = ruled[0] if isinstance(ruled, tuple) else ruled
        src_space = ocfg.find_space(config, ruled) or ocfg.interchange_space(config)
        assumed.append(f"EXR colour space: no chromaticities; {src_space} assumed (the config's "
                       f"file rule for .exr)")
    else:
        src_space = ocfg.linear_space_for_primaries(config, prims) if prims else None
        if src_space is None:
            raise IngestError(
                f"{frames[0]}: chromaticities {probe.chromaticities} are not AP0, AP1, Rec.709, "
                f"Rec.2020 or P3-D65 (or this config has no linear space with them)")
    fps = probe.fps
    if fps is None:
        fps = Fraction(24)
        assumed.append("fps: the EXR frames carry no FramesPerSecond; 24 assumed")
    transform = S.input_transform(config, S.EXR, S.PASSTHROUGH, working, src_space=src_space)
    fspec = _frame_spec(width=probe.width, height=probe.height, fps=fps, chroma=chroma,
                        interop=interop, attributes=attributes, options=options, info=info,
                        working=working, transform=transform, source_kind=S.EXR)
    if assumed:
        fspec.attributes["genplate:assumed"] = "; ".join(assumed)
    read_type = options.pixel_type
    depth = _out_depth(options)
    cpu = None if transform.mode == S.PASSTHROUGH else oproc.image_processor(
        info, transform, in_depth=depth, out_depth=depth)
    w, h = probe.width, probe.height
    size = 2 if read_type == "half" else 4
    first = options.first_frame
    thumb.index = len(frames) // 2
    # frames extracted from a zip into scratch go as soon as they are converted, in the
    # workers, rather than in one serial delete of the whole extraction at the end
    scratch_frames = {f.path for f in chosen if f.archive is not None}

    def belongs(p: X.ExrProbe) -> tuple[int, int, int]:
        if (p.width, p.height) != (w, h):
            raise IngestError(f"{p.path}: {p.width}x{p.height}, the first frame was {w}x{h}")
        if p.chromaticities != probe.chromaticities:
            raise IngestError(f"{p.path}: its chromaticities differ from the first frame's")
        return p.rgb

    def produce(put) -> int:
        for index, path in enumerate(frames):
            put((index, path))
        return len(frames)

    def convert(item) -> None:
        index, path = item
        _, pixels = X.read_frame(path, read_type, belongs)
        if cpu is not None:
            desc = ocio.PackedImageDesc(pixels, w, h, 3, depth, size, 3 * size, 3 * size * w)
            cpu.apply(desc)
        _publish_frame(staging, fspec, extras, thumb, first, index, pixels)
        if path in scratch_frames:
            path.unlink(missing_ok=True)

    extras = O.Extras(options.outputs, info, working, staging, width=w, height=h, fps=fps,
                      attributes=fspec.attributes, workers=workers)
    try:
        count = _run_pipeline(produce, convert, workers=workers, total=len(frames),
                              progress=progress, cancel=cancel)
        outputs = extras.finish(first, count)
    except (X.ExrError, O.OutputError) as exc:
        raise IngestError(str(exc)) from None
    finally:
        extras.abort()
    _, tc = X.timecode(first, fps)
    detail = {"frames": len(frames), "pixel_type": probe.pixel_type,
              "compression": probe.compression, "chromaticities": probe.chromaticities,
              "primaries": prims, "interop_id": probe.interop_id}
    return IngestResult(
        first=first, count=count, fps=fps, width=w, height=h, config=info,
        working_space=working, chromaticities=chroma, interop_id=interop, source_kind=S.EXR,
        sdr_mode=options.sdr_mode, transform=transform, assumed=assumed, sources=[],
        delivery="exr", compression=options.compression, pixel_type=options.pixel_type,
        timecode=tc, seconds=0.0, source_detail=detail, outputs=outputs)


class _Thumbnail:
    """The take's thumbnail, made by the worker that converts the middle frame, from that
    frame's pixels in memory: off the serial end of the ingest, and without reading the frame
    back (the PNG is the same, see ingest_exr.thumbnail). ``ingest`` falls back to reading
    the written middle frame when the clip had fewer frames than announced."""

    def __init__(self, info, working: str, path: Path, width: int) -> None:
        self.info, self.working, self.path, self.width = info, working, path, width
        self.index: Optional[int] = None  # the middle of the frames announced
        self.made: Optional[int] = None

    def display(self):
        return oproc.display_processor(self.info, self.working)

    def make(self, index: int, pixels: np.ndarray) -> None:
        X.thumbnail(pixels, self.path, self.display(), self.width)
        self.made = index


class _Hasher(threading.Thread):
    """sha256 of every delivered file, alongside the conversion (hashlib releases the GIL)."""

    def __init__(self, files: list[SourceFile]) -> None:
        super().__init__(name="ingest-hash", daemon=True)
        self.files = list(files)
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            for f in self.files:
                f.sha256 = file_sha256(f.path)
        except BaseException as exc:
            self.error = exc
