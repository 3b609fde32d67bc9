"""Ingest: delivered files become EXR frames in the working space, in a take's staging folder.

``ingest(paths, staging, options, header=, progress=, cancel=)`` picks the delivery (EXR frames,
loose or zipped, over a video when both came), works out its source kind from what the files
say about themselves (stream colour tags, EXR chromaticities; never file names), builds one
OCIO processor for the clip (color.md §5) and streams frames through it on ``pipeline``'s
decode thread and workers; frames extracted from a zip are deleted by the workers as they go.
What a file says about itself is checked against the delivery's budget before its pixels are
read, and an EXR sequence keeps its numbering (``frames``): a gap is refused or, asked for,
published as a gap.
Video goes through the exact processor memoised per Y'CbCr triple (genplate.ocio.memo: same
results, a fraction of the ACES 2.0 inverse's cost). EXR frames are read at their own
precision; every frame is checked before it is written (``clamp``), and an HDR clip brighter
than its view is converted again through a larger one (``hdr``). The caller
(core/jobs/runner.py, core/cli/colour.py) publishes the staging folder afterwards.
"""
from __future__ import annotations

import gc
import os
import shutil
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Optional

import av
import numpy as np
import OpenImageIO as oiio
import PyOpenColorIO as ocio

from genplate.ocio import baked as obaked
from genplate.ocio import config as ocfg
from genplate.ocio import extend as oext
from genplate.ocio import memo as omemo
from genplate.ocio import processors as oproc
from genplate.ocio import sources as S

from .. import __version__
from ..delivery.limits import Budget, budget_for_files
from ..progress import CancelToken, ProgressFn, no_progress
from . import exr as X
from . import frames as F
from . import outputs as O
from . import video as V
from .clamp import WriteGuard, finite
from .hdr import HdrPeak, ViewTooSmall
from .options import DeliveryDamaged, IngestError, IngestOptions
from .pipeline import Hasher, Thumbnail, publish_frame, run_pipeline
from .result import IngestResult, SourceFile


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


# -- ingest ----------------------------------------------------------------------------------

def ingest(paths: list[Path], staging, options: Optional[IngestOptions] = None, *,
           header: Optional[dict] = None, progress: ProgressFn = no_progress,
           cancel: Optional[CancelToken] = None, budget: Optional[Budget] = None) -> IngestResult:
    """Convert the delivery among ``paths`` into frames first..first+n-1 in ``staging``;
    ``budget`` is what the request allows a delivery (default: footage of unknown size)."""
    options = options or IngestOptions()
    options.check()
    budget = budget or budget_for_files()
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
    hasher: Optional[Hasher] = None
    try:
        for f in list(files):
            if f.kind == "zip":  # a zip of EXR frames (a CLI ingest; fetch extracts its own)
                scratch = scratch or Path(tempfile.mkdtemp(prefix=".genplate-unzip-",
                                                           dir=_scratch_parent(staging)))
                from ..delivery.unpack import extract_zip

                extracted = extract_zip(f.path, scratch / f.path.stem, budget=budget)
                f.used = True
                # the zip's own hash stands for its members (they are scratch, not kept)
                files += [SourceFile(p, _sniff(p), p.stat().st_size, archive=str(f.path))
                          for p in extracted]
        hasher = Hasher([f for f in files if f.archive is None])
        hasher.start()
        delivery, chosen = choose_delivery(files)
        workers = max(1, options.workers or os.cpu_count() or 1)
        oiio.attribute("threads", workers)
        oiio.attribute("exr_threads", workers)
        thumb = Thumbnail(info, working, Path(staging.thumbnail_path), options.thumbnail_width)
        common = dict(info=info, working=working, chroma=chroma, interop=interop,
                      attributes=attributes, options=options, staging=staging,
                      workers=workers, progress=progress, cancel=cancel, thumb=thumb)
        if delivery == "exr":
            result = _ingest_exr(chosen, delivered=files, budget=budget, **common)
        else:
            result = _ingest_video(_pick_video(chosen, options, budget), **common)
    finally:
        if hasher is not None:
            hasher.join()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if hasher.error is not None:
        raise IngestError(f"cannot read a delivered file to hash it: {hasher.error}")
    result.sources = files
    middle = F.nearest(result.count // 2, {g["frame"] - result.first for g in result.gaps},
                       result.count)
    if middle is not None and thumb.made != middle:  # fewer frames came than announced
        X.write_thumbnail(Path(staging.frame_path(result.first + middle)),
                          Path(staging.thumbnail_path), thumb.display(), options.thumbnail_width)
    result.seconds = time.monotonic() - started
    return result


def _scratch_parent(staging) -> Path:
    parent = Path(staging.dir).parent
    parent.mkdir(parents=True, exist_ok=True)
    return parent


def _pick_video(videos: list[SourceFile], options: IngestOptions,
                budget: Budget) -> tuple[SourceFile, V.VideoProbe]:
    """The video to ingest: when several came, the HDR one (the master), else the first."""
    probes = []
    for f in videos:
        F.check_video_header(f.path, budget)  # before its probe decodes a frame
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
        "genplate:working_space": working,
        "genplate:ocio_config": info.label,
        "genplate:input_transform": transform.describe(),
        "Software": f"genplate {__version__}",
    })
    # each mode only where it applies: an EXR delivery has neither
    if source_kind in S.SDR_KINDS:
        attrs["genplate:sdr_mode"] = options.sdr_mode
        if transform.sdr_range:
            attrs["genplate:sdr_range"] = transform.sdr_range
    elif source_kind in S.HDR_KINDS:
        attrs["genplate:hdr_mode"] = options.hdr_mode
    return X.FrameSpec(width=width, height=height, pixel_type=options.pixel_type,
                       compression=options.compression, fps=fps, chromaticities=chroma,
                       interop_id=interop, attributes=attrs)


def _out_depth(options: IngestOptions):
    return oproc.F16 if options.pixel_type == "half" else oproc.F32


def _ingest_video(chosen: tuple[SourceFile, V.VideoProbe], *, info, working, chroma, interop,
                  attributes, options, staging, workers, progress, cancel,
                  thumb: "Thumbnail") -> IngestResult:
    source, probe = chosen
    source.used = True
    mode = options.hdr_mode if probe.hdr else options.sdr_mode
    peak = HdrPeak(probe, options.peak_nits, mode) if probe.hdr else None
    common = dict(info=info, working=working, chroma=chroma, interop=interop,
                  attributes=attributes, options=options, staging=staging, workers=workers,
                  progress=progress, cancel=cancel, thumb=thumb)
    while True:
        transform = S.input_transform(info.config, probe.source_kind, mode, working,
                                      peak_nits=peak.view if peak else 1000,
                                      sdr_range=options.sdr_range)
        guard = WriteGuard(options.pixel_type)
        try:
            count, outputs, processing = _convert_video(probe, transform, peak, guard, **common)
            break
        except ViewTooSmall as exc:  # a frame brighter than the view: again, through a larger one
            omemo.TABLES.discard(oproc.video_key(info, transform, probe.coding,
                                                 out_depth=_out_depth(options)))
            peak.grow(exc)
            progress(0, probe.frames or 0, f"HDR peak {exc.nits:.0f} nits: converting again "
                                           f"through the {exc.view}-nit view")
        # the attempt's frames, its ~100 MB cache among them, were held in a reference cycle
        # through the exception's traceback: free them before the next attempt allocates
        gc.collect()
    assumed, warnings = list(probe.assumed), list(probe.warnings)
    if peak is not None:
        more_assumed, more_warnings = peak.notes()
        assumed += more_assumed
        warnings += more_warnings
    if probe.frames and count != probe.frames:
        warnings.append(f"the container announces {probe.frames} frames, {count} decoded")
    first = options.first_frame
    _, tc = X.timecode(first, probe.fps)
    return IngestResult(
        first=first, count=count, fps=probe.fps, width=probe.width, height=probe.height,
        config=info, working_space=working, chromaticities=chroma, interop_id=interop,
        source_kind=probe.source_kind, sdr_mode=None if probe.hdr else options.sdr_mode,
        transform=transform, assumed=assumed, sources=[], delivery="video",
        compression=options.compression, pixel_type=options.pixel_type, timecode=tc,
        seconds=0.0, outputs=outputs, source_detail=dict(probe.record(), processing=processing),
        warnings=warnings, clamped=guard.record(), hdr_peak=peak.record() if peak else None,
        hdr_mode=options.hdr_mode if probe.hdr else None)


def _convert_video(probe: V.VideoProbe, transform: S.InputTransform, peak: Optional[HdrPeak],
                   guard: WriteGuard, *, info, working, chroma, interop, attributes, options,
                   staging, workers, progress, cancel, thumb: "Thumbnail") -> tuple:
    """Every frame of the clip through one transform: (count, outputs, processing)."""
    out_depth = _out_depth(options)
    cpu = oproc.video_processor(info, transform, probe.coding, out_depth=out_depth)
    # SDR display-match beyond the view's range (genplate.ocio.extend): after the processor, on
    # the same triples, so the memo tables hold it too
    beyond = oext.beyond_range(info, transform, probe.coding)
    post = beyond.apply if beyond is not None else None
    table = None
    if options.exact_table:
        # Y'CbCr triples repeat within and across frames: memoise them (same processor, same
        # inputs, bit-identical results). For 8-bit video a gather from the full table (~20 ms
        # a 1080p frame) beats even the texture path's OCIO apply (~37 ms); for 10-bit only
        # the ACES 2.0 inverse (~1.6 MP/s a core) is slow enough for the cache to pay.
        key = oproc.video_key(info, transform, probe.coding, out_depth=out_depth)
        dtype = np.float16 if options.pixel_type == "half" else np.float32
        if probe.coding.plane_bits == 8:
            table = omemo.exact_table(key, cpu, dtype=dtype, threads=workers, post=post)
        elif transform.mode == S.DISPLAY_MATCH and probe.hdr and post is None \
                and not options.exact:
            # grain and noise make most of a natural HDR frame's triples new, where no memo
            # pays: a LUT baked from the processor, which keeps the colours it cannot match
            # within a code for itself (genplate.ocio.baked)
            table = obaked.baked_inverse(key, info, transform.transform(), probe.coding,
                                         cpu, dtype=dtype)
        elif transform.mode == S.DISPLAY_MATCH:
            table = omemo.exact_cache(key, cpu, dtype=dtype, post=post)
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
                planes, stride, keep = V.planes_444(frame, plane_bits)
                if peak is not None:  # measured before any worker converts the frame
                    peak.watch(*(p[:, :w] for p in planes))
                put((count, planes, stride, keep))
                count += 1
        except av.error.FFmpegError as exc:
            raise DeliveryDamaged(f"{probe.path}: frame {count} cannot be decoded ({exc}); the "
                                  f"download may be damaged: fetch it again",
                                  [probe.path]) from None
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
            if post is not None:
                post(y[:, :w], cb[:, :w], cr[:, :w], out)
        guard.check(out, first + index)
        publish_frame(staging, fspec, extras, thumb, first, index, out)

    extras = O.Extras(options.outputs, info, working, staging, width=w, height=h, fps=probe.fps,
                      attributes=fspec.attributes, workers=workers)
    try:
        count = run_pipeline(produce, convert, workers=workers, total=probe.frames,
                             progress=progress, cancel=cancel)
        if count == 0:
            raise IngestError(f"{probe.path}: no frames decoded")
        outputs = extras.finish(first, count)
    except (X.ExrError, V.VideoTagError, O.OutputError) as exc:
        raise IngestError(str(exc)) from None
    finally:
        extras.abort()
    if isinstance(table, obaked.BakedInverse):
        baked = table.record()
        processing = (f"3D LUT baked from the exact processor ({baked['grid']}^3, within "
                      f"{obaked.CELL_TOLERANCE:g} 10-bit code of it through the view at every "
                      f"cell's probes), the exact processor for "
                      f"{100 * baked['pixels_exact']:.1f}% of the pixels")
    else:
        processing = ("exact processor" if table is None else
                      "exact memo table of 8-bit triples" if plane_bits == 8 else
                      "exact processor with a cache of recent triples")
    return count, outputs, processing


def _ingest_exr(chosen: list[SourceFile], *, delivered: list[SourceFile], budget: Budget,
                info, working, chroma, interop, attributes, options, staging, workers, progress,
                cancel, thumb: "Thumbnail") -> IngestResult:
    seq = F.exr_sequence(chosen, delivered, allow_gaps=options.allow_gaps, budget=budget)
    seq.refuse_or_keep()  # a gap in the numbering refuses the take before a frame is written
    # What a read may allocate is judged at float32 until the header says the frames are half.
    probe = F.first_probe(seq, budget, "float")
    in_use = {path for _, path in seq.present}
    for f in chosen:
        f.used = f.path in in_use
    config = info.config
    assumed: list[str] = []
    prims = ocfg.primaries_name(probe.chromaticities)
    if probe.chromaticities is None:
        ruled = config.getColorSpaceFromFilepath(str(probe.path))
        ruled = ruled[0] if isinstance(ruled, tuple) else ruled
        src_space = ocfg.find_space(config, ruled) or ocfg.interchange_space(config)
        assumed.append(f"EXR colour space: no chromaticities; {src_space} assumed (the config's "
                       f"file rule for .exr)")
    else:
        src_space = ocfg.linear_space_for_primaries(config, prims) if prims else None
        if src_space is None:
            raise IngestError(
                f"{probe.path}: chromaticities {probe.chromaticities} are not AP0, AP1, Rec.709, "
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
    # Read at the delivery's own precision; half is only the written type (a float32 value
    # beyond half's range would be inf before the transform, and the matrix spreads it).
    read_type = "half" if probe.pixel_type == "half" else "float"
    in_depth = oproc.F16 if read_type == "half" else oproc.F32
    depth = _out_depth(options)
    same = transform.mode == S.PASSTHROUGH and read_type == options.pixel_type
    cpu = None if same else oproc.image_processor(info, transform, in_depth=in_depth,
                                                  out_depth=depth)
    w, h = probe.width, probe.height
    in_size = 2 if read_type == "half" else 4
    size = 2 if options.pixel_type == "half" else 4
    out_dtype = np.float16 if options.pixel_type == "half" else np.float32
    local = threading.local()
    guard = WriteGuard(options.pixel_type)
    first = options.first_frame
    thumb.index = seq.middle()
    # frames extracted from a zip into scratch go as soon as they are converted, in the
    # workers, rather than in one serial delete of the whole extraction at the end
    scratch_frames = {f.path for f in chosen if f.archive is not None}

    def belongs(p: X.ExrProbe) -> tuple[int, int, int]:
        F.check_exr_header(p, budget, read_type)  # before a pixel of it is read
        if (p.width, p.height) != (w, h):
            raise IngestError(f"{p.path}: {p.width}x{p.height}, the first frame was {w}x{h}")
        if p.chromaticities != probe.chromaticities:
            raise IngestError(f"{p.path}: its chromaticities differ from the first frame's")
        return p.rgb

    def produce(put) -> int:
        for index, path in enumerate(seq.slots):
            put((index, path))
        return len(seq.slots)

    def transform_frame(pixels: np.ndarray) -> np.ndarray:
        """The frame in the written type: in place when the types match (as fast as it gets),
        else into this worker's buffer."""
        if cpu is None:
            return pixels
        src = ocio.PackedImageDesc(pixels, w, h, 3, in_depth, in_size, 3 * in_size,
                                   3 * in_size * w)
        if in_size == size:
            cpu.apply(src)
            return pixels
        out = getattr(local, "out", None)
        if out is None:
            out = local.out = np.empty((h, w, 3), out_dtype)
        cpu.apply(src, ocio.PackedImageDesc(out, w, h, 3, depth, size, 3 * size, 3 * size * w))
        return out

    def convert(item) -> None:
        index, path = item
        if path is not None:
            try:
                _, pixels = X.read_frame(path, read_type, belongs)
            except X.ExrError as exc:
                seq.unreadable(index, path, exc)  # raises unless gaps are allowed
                path = None
        if path is None:  # a gap: no frame file; the review movies show black
            extras.gap(index, h, w, out_dtype)
            return
        out = transform_frame(pixels)
        if not finite(out):  # rare: the slow path may take its time
            if out is pixels and cpu is not None:  # transformed in place: the delivery again
                _, pixels = X.read_frame(path, read_type, belongs)
            if guard.sanitize(pixels, first + index):  # its own inf/NaN replaced: again
                out = transform_frame(pixels)
            guard.check(out, first + index)
        publish_frame(staging, fspec, extras, thumb, first, index, out)
        if path in scratch_frames:
            path.unlink(missing_ok=True)

    extras = O.Extras(options.outputs, info, working, staging, width=w, height=h, fps=fps,
                      attributes=fspec.attributes, workers=workers)
    try:
        count = run_pipeline(produce, convert, workers=workers, total=len(seq.slots),
                             progress=progress, cancel=cancel)
        outputs = extras.finish(first, count)
    except (X.ExrError, O.OutputError) as exc:
        raise IngestError(str(exc)) from None
    finally:
        extras.abort()
    _, tc = X.timecode(first, fps)
    detail = {"frames": len(in_use), "pixel_type": probe.pixel_type,
              "compression": probe.compression, "chromaticities": probe.chromaticities,
              "primaries": prims, "interop_id": probe.interop_id}
    return IngestResult(
        first=first, count=count, fps=fps, width=w, height=h, config=info,
        working_space=working, chromaticities=chroma, interop_id=interop, source_kind=S.EXR,
        sdr_mode=None, transform=transform, assumed=assumed, sources=[],
        delivery="exr", compression=options.compression, pixel_type=options.pixel_type,
        timecode=tc, seconds=0.0, source_detail=detail, outputs=outputs,
        warnings=list(seq.warnings), gaps=seq.record(first), clamped=guard.record())
