"""Measuring a take's frames: what the judge sees in each frame, and the verdict over the take.

Each frame is read once, in order, and only a strided sample of its pixels is kept
(``JudgeConfig.analysis_width`` across), so a 1080p master costs about as much to judge as a
360p draft beyond the decode itself. What is measured is listed in ``judge``'s docstring.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..progress import CancelToken, ProgressFn, no_progress
from .scores import BROKEN, OK, Expected, JudgeConfig, JudgeError, TakeScores

# ACEScg (AP1) luminance: the Y row of its RGB -> XYZ matrix.
AP1_LUMA = np.array([0.2722287168, 0.6740817658, 0.0536895174], dtype=np.float32)


@dataclass
class _Frame:
    luma: float
    p99: float
    clipped: float
    negative: float
    nonfinite: float
    difference: float = 0.0  # mean absolute change from the previous frame, relative to level


def _read_sample(path: Path, width: int) -> tuple[np.ndarray, tuple[int, int]]:
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise JudgeError(f"cannot read frame {path}: {oiio.geterror()}")
    try:
        spec = inp.spec()
        channels = min(3, spec.nchannels)
        pixels = inp.read_image(0, 0, 0, channels, "float")
    finally:
        inp.close()
    if pixels is None:
        raise JudgeError(f"cannot read frame {path}: {oiio.geterror()}")
    pixels = np.asarray(pixels, dtype=np.float32).reshape(spec.height, spec.width, channels)
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif channels == 2:
        pixels = np.concatenate([pixels, pixels[..., :1]], axis=2)
    step = max(1, spec.width // max(1, width))
    # A strided sample, not an average: averaging would hide single clipped or negative pixels.
    return np.ascontiguousarray(pixels[step // 2::step, step // 2::step]), (spec.width, spec.height)


def _to_ap1(working_space: Optional[str], config: Optional[str]):
    """A function taking samples in the working space to AP1, and the space measured in."""
    if not working_space or working_space.lower().replace(" ", "") in ("acescg", "aces-cg",
                                                                       "linearap1", "ap1"):
        return (lambda a: a), working_space or "ACEScg (assumed)"
    try:
        import PyOpenColorIO as ocio

        from genplate.ocio.builtin import BUILTIN_CONFIG
        from .contact_sheet import config_uri

        uri = config_uri(config) or os.environ.get("OCIO") or BUILTIN_CONFIG
        cfg = ocio.Config.CreateFromFile(uri)
        cpu = cfg.getProcessor(working_space, "ACEScg").getDefaultCPUProcessor()
    except Exception:
        return (lambda a: a), f"{working_space} (no conversion to ACEScg found)"

    def convert(a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype=np.float32).copy()
        cpu.applyRGB(a)
        return a

    return convert, "ACEScg"


def _measure_frame(sample: np.ndarray, config: JudgeConfig) -> _Frame:
    finite = np.isfinite(sample).all(axis=2)
    n = finite.size
    nonfinite = 1.0 - float(finite.sum()) / n if n else 0.0
    rgb = np.where(finite[..., None], sample, 0.0).astype(np.float32)
    luma = rgb @ AP1_LUMA
    mean = float(luma.mean()) if n else 0.0
    p99 = float(np.percentile(luma, 99)) if n else 0.0
    negative = float((rgb < -config.negative_tolerance).any(axis=2).mean()) if n else 0.0
    top = rgb.max(axis=2)
    ceiling = float(top.max()) if n else 0.0
    clipped = 0.0
    # A flat frame (or a black one) has no highlights to clip: its "ceiling" is everything.
    if ceiling > config.black_level and float(top.std()) > 1e-3 * max(ceiling, 1e-6):
        clipped = float((top >= ceiling * (1.0 - config.clip_tolerance)).mean())
    return _Frame(mean, p99, clipped, negative, nonfinite)


def _difference(a: Optional[np.ndarray], b: np.ndarray) -> float:
    if a is None:
        return 0.0
    if a.shape != b.shape:
        return 1.0
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    b = np.nan_to_num(b, nan=0.0, posinf=0.0, neginf=0.0)
    level = max(float(np.abs(a).mean() + np.abs(b).mean()) * 0.5, 1e-6)
    return float(np.abs(a - b).mean()) / level


def measure_frames(paths: list[Path], *, expected: Optional[Expected] = None,
                   config: Optional[JudgeConfig] = None, working_space: Optional[str] = None,
                   ocio_config: Optional[str] = None, progress: ProgressFn = no_progress,
                   cancel: Optional[CancelToken] = None) -> TakeScores:
    """Judge a frame sequence (in order). ``expected`` comes from the request, when known."""
    config = config or JudgeConfig()
    expected = expected or Expected()
    if not paths:
        raise JudgeError("no frames to judge")
    convert, measured_in = _to_ap1(working_space, ocio_config)
    frames: list[_Frame] = []
    size: Optional[tuple[int, int]] = None
    sizes_differ = False
    previous: Optional[np.ndarray] = None
    for i, (sample, frame_size) in enumerate(_stream(paths, config, cancel)):
        if size is None:
            size = frame_size
        elif frame_size != size:
            sizes_differ = True
        sample = convert(sample)
        frame = _measure_frame(sample, config)
        # Only the previous frame's sample is kept: memory stays flat however long the take.
        frame.difference = _difference(previous, sample)
        previous = sample
        frames.append(frame)
        progress(i + 1, len(paths), f"frame {i + 1}/{len(paths)}")
    return _verdict(frames, size or (0, 0), sizes_differ, expected, config, measured_in)


def _stream(paths: list[Path], config: JudgeConfig,
            cancel: Optional[CancelToken]) -> Iterator[tuple[np.ndarray, tuple[int, int]]]:
    # Decoding dominates; OpenImageIO releases the GIL while it decodes, so a couple of threads
    # read ahead while this one measures. Only strided samples are kept.
    threads = max(1, int(config.read_threads))
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="judge-read") as pool:
        window = threads * 2
        pending = [pool.submit(_read_sample, p, config.analysis_width) for p in paths[:window]]
        next_index = len(pending)
        while pending:
            if cancel is not None and cancel.cancelled:
                for f in pending:
                    f.cancel()
                cancel.check()
            result = pending.pop(0).result()
            if next_index < len(paths):
                pending.append(pool.submit(_read_sample, paths[next_index], config.analysis_width))
                next_index += 1
            yield result


def _runs(flags: np.ndarray) -> int:
    """The longest run of True."""
    best = run = 0
    for f in flags:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


def _verdict(frames: list[_Frame], size: tuple[int, int], sizes_differ: bool,
             expected: Expected, config: JudgeConfig, measured_in: str) -> TakeScores:
    n = len(frames)
    luma = np.array([f.luma for f in frames], dtype=np.float64)
    black = np.array([f.p99 < config.black_level for f in frames])
    stops = np.log2(np.maximum(luma, config.black_level))
    flicker = np.zeros(n)
    if n >= 3:
        flicker[1:-1] = np.abs(stops[1:-1] - 0.5 * (stops[:-2] + stops[2:]))
    # A cut to or from black is not flicker; black frames are judged on their own.
    near_black = black.copy()
    near_black[1:] |= black[:-1]
    near_black[:-1] |= black[1:]
    # A frame that pops leaves half its jump on each neighbour's residual: count only the
    # frame that stands out most locally, so one pop is one flicker frame.
    peak = np.ones(n, dtype=bool)
    peak[1:] &= flicker[1:] >= flicker[:-1]
    peak[:-1] &= flicker[:-1] >= flicker[1:]
    flicker_frames = (flicker > config.flicker_stops) & peak & ~near_black
    judged_flicker = flicker[1:-1][~near_black[1:-1]] if n >= 3 else np.zeros(0)
    difference = np.array([f.difference for f in frames], dtype=np.float64)
    duplicate = np.zeros(n, dtype=bool)
    duplicate[1:] = (difference[1:] < config.duplicate_epsilon) & ~black[1:]
    frozen_run = _runs(duplicate) + 1 if duplicate.any() else 0
    clipped = np.array([f.clipped for f in frames])
    negative = np.array([f.negative for f in frames])
    nonfinite = np.array([f.nonfinite for f in frames])

    inner = max(1, n - 2)
    metrics = {
        "frames": n,
        "width": size[0],
        "height": size[1],
        "duration_s": round(n / expected.fps, 3) if expected.fps else None,
        "mean_luminance": float(luma.mean()),
        "flicker_rms_stops": float(np.sqrt(np.mean(judged_flicker ** 2))) if judged_flicker.size else 0.0,
        "flicker_peak_stops": float(judged_flicker.max()) if judged_flicker.size else 0.0,
        "flicker_frames": int(flicker_frames.sum()),
        "flicker_fraction": float(flicker_frames.sum()) / inner,
        "duplicate_frames": int(duplicate.sum()),
        "duplicate_fraction": float(duplicate.sum()) / max(1, n - 1),
        "longest_frozen_run": int(frozen_run),
        "black_frames": int(black.sum()),
        "black_fraction": float(black.mean()),
        "clipped_fraction": float(clipped.mean()),
        "clipped_peak_fraction": float(clipped.max()),
        "negative_fraction": float(negative.mean()),
        "nonfinite_fraction": float(nonfinite.mean()),
        "motion": float(np.median(difference[1:])) if n > 1 else 0.0,
        "measured_in": measured_in,
    }
    reasons: list[str] = []
    warnings: list[str] = []
    penalty = 0.0

    def weigh(value: float, limit: float, cap: float = 50.0) -> float:
        return min(cap, 30.0 * value / limit) if limit > 0 else (cap if value > 0 else 0.0)

    # flicker
    penalty += weigh(metrics["flicker_fraction"], config.max_flicker_fraction)
    penalty += 10.0 * min(1.0, metrics["flicker_rms_stops"] / max(config.flicker_stops, 1e-9))
    if metrics["flicker_fraction"] > config.max_flicker_fraction:
        reasons.append(f"flicker: {metrics['flicker_frames']} frames jump off the trend "
                       f"(peak {metrics['flicker_peak_stops']:.2f} stops)")
    elif metrics["flicker_frames"]:
        warnings.append(f"{metrics['flicker_frames']} flicker frame(s)")
    # duplicated and frozen frames
    penalty += weigh(metrics["duplicate_fraction"], config.max_duplicate_fraction)
    if frozen_run >= config.frozen_run_frames:
        reasons.append(f"frozen: {frozen_run} identical frames in a row")
        penalty += 20.0
    elif metrics["duplicate_fraction"] > config.max_duplicate_fraction:
        reasons.append(f"duplicated frames: {metrics['duplicate_frames']} of {n}")
    elif metrics["duplicate_frames"]:
        warnings.append(f"{metrics['duplicate_frames']} duplicated frame(s)")
    # black
    penalty += weigh(metrics["black_fraction"], config.max_black_fraction)
    if metrics["black_fraction"] > config.max_black_fraction:
        reasons.append(f"black: {metrics['black_frames']} of {n} frames")
    elif metrics["black_frames"]:
        warnings.append(f"{metrics['black_frames']} black frame(s)")
    # clipping
    penalty += weigh(metrics["clipped_fraction"], config.max_clipped_fraction)
    if metrics["clipped_fraction"] > config.max_clipped_fraction:
        reasons.append(f"clipped highlights: {100 * metrics['clipped_fraction']:.0f}% of the "
                       f"picture flat at its ceiling")
    elif metrics["clipped_peak_fraction"] > config.max_clipped_fraction:
        warnings.append(f"clipped highlights in some frames (up to "
                        f"{100 * metrics['clipped_peak_fraction']:.0f}%)")
    # gamut
    penalty += weigh(metrics["negative_fraction"], config.max_negative_fraction)
    if metrics["negative_fraction"] > config.max_negative_fraction:
        reasons.append(f"out of gamut: {100 * metrics['negative_fraction']:.1f}% of pixels "
                       f"negative in {measured_in}")
    elif metrics["negative_fraction"] > 0:
        warnings.append(f"{100 * metrics['negative_fraction']:.2f}% of pixels negative")
    if metrics["nonfinite_fraction"] > 0:
        reasons.append(f"NaN or infinite values in {100 * metrics['nonfinite_fraction']:.2f}% "
                       f"of pixels")
        penalty += 50.0
    # against the request
    if sizes_differ:
        reasons.append("frames of different sizes")
        penalty += 30.0
    if expected.frame_count is not None and abs(n - expected.frame_count) > config.frame_count_tolerance:
        reasons.append(f"frame count: {n} ({n / expected.fps:.2f} s), the request makes "
                       f"{expected.frame_count} ({expected.duration_s or expected.frame_count / expected.fps:g} s)")
        penalty += 30.0
    elif expected.frame_count is not None and n != expected.frame_count:
        warnings.append(f"{n} frames, the request makes {expected.frame_count}")
    if expected.width and expected.height:
        off = max(abs(size[0] - expected.width) / expected.width,
                  abs(size[1] - expected.height) / expected.height)
        if off > config.size_tolerance:
            reasons.append(f"resolution: {size[0]}x{size[1]}, the request makes "
                           f"{expected.width}x{expected.height}")
            penalty += 30.0
        elif size != (expected.width, expected.height):
            warnings.append(f"{size[0]}x{size[1]}, the request makes {expected.width}x{expected.height}")
    if expected.duration_s and expected.fps:
        metrics["expected_duration_s"] = expected.duration_s

    score = round(max(0.0, 100.0 - penalty), 1)
    series = {
        "luminance": [round(float(v), 6) for v in luma],
        # as judged: frames beside a black frame are judged as black, not as flicker
        "flicker_stops": [0.0 if nb else round(float(v), 5) for v, nb in zip(flicker, near_black)],
        "flicker_frame": [bool(v) for v in flicker_frames],
        "difference": [round(float(v), 6) for v in difference],
        "clipped": [round(float(v), 5) for v in clipped],
        "black": [bool(v) for v in black],
        "duplicate": [bool(v) for v in duplicate],
    }
    return TakeScores(verdict=BROKEN if reasons else OK, score=score, reasons=reasons,
                      warnings=warnings, metrics=metrics, series=series,
                      expected={k: v for k, v in asdict(expected).items()},
                      config=config.to_json())
