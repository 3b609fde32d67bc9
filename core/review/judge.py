"""Judging a take: measure its frames, say whether it is broken, and score it for ranking.

Ray3 has no judge the API exposes, so a batch of drafts is ranked here, from the published EXR
frames alone (working space, scene-linear). Each frame is read once, in order, and only a
strided sample of its pixels is kept (``JudgeConfig.analysis_width`` across), so a 1080p master
costs about as much to judge as a 360p draft beyond the decode itself.

What is measured, per frame and then over the take:

- mean luminance (AP1 weights) and its **flicker**: how far a frame's log-luminance leaves the
  straight line through its two neighbours. A fade or a camera moving into light is a smooth
  trend and leaves almost nothing; a frame that pops brighter or darker than both neighbours is
  flicker.
- **duplicated** frames (a frame equal to the one before it) and **frozen** runs of them;
- **black** frames (even the brightest percent of the picture is near zero);
- **clipped** highlights: the part of the picture sitting flat at the frame's ceiling;
- **negative / out-of-gamut** pixels in AP1 (ACEScg) and non-finite values;
- frame count, resolution and duration against the request.

The thresholds live in ``JudgeConfig`` (defaults below), overridable per user by ``judge.toml``
or ``judge.json`` in the data directory.

Where the scores go: a take the main job publishes is judged from its staged frames just
before it is committed (``scores_for_publish``), so its take.json carries a summary under
"scores", and scores.json (with the per-frame series) and the plot ``scores_plot.png`` are
published beside it. A published take is immutable and take.json is its provenance, so judging
again later (``genplate judge``, other thresholds, a draft batch) never touches take.json: it
replaces scores.json and the plot, each atomically. ``load_scores(take_dir)`` gives the latest
(scores.json, else take.json's summary); summaries and the panels read it.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..atomic import write_json_atomically
from ..progress import Cancelled, CancelToken, ProgressFn, no_progress

SCORES_FILE = "scores.json"
PLOT_FILE = "scores_plot.png"
CONFIG_NAMES = ("judge.toml", "judge.json")
SCHEMA = "genplate.scores/1"
OK, BROKEN = "ok", "broken"

# ACEScg (AP1) luminance: the Y row of its RGB -> XYZ matrix.
AP1_LUMA = np.array([0.2722287168, 0.6740817658, 0.0536895174], dtype=np.float32)


class JudgeError(RuntimeError):
    """A take that cannot be judged (no frames, unreadable frames, a bad judge config)."""


@dataclass(frozen=True)
class JudgeConfig:
    """Thresholds that make a take "broken", and how coarsely frames are sampled."""

    analysis_width: int = 160            # pixels sampled across each frame
    # flicker: a frame off its neighbours' trend by more than this many stops is a flicker frame
    flicker_stops: float = 0.1
    max_flicker_fraction: float = 0.05   # broken above this share of flicker frames
    # a frame whose mean absolute change from the previous one, relative to its level, is below
    # this is a duplicate of it
    duplicate_epsilon: float = 1e-4
    max_duplicate_fraction: float = 0.1
    frozen_run_frames: int = 12          # this many identical frames in a row (0.5 s) is frozen
    black_level: float = 0.002           # linear; a frame whose 99th percentile is below is black
    max_black_fraction: float = 0.1
    clip_tolerance: float = 0.002        # within this (relative) of the frame's ceiling = clipped
    max_clipped_fraction: float = 0.1    # broken when the mean clipped area passes this
    negative_tolerance: float = 1e-3     # AP1 values below minus this count as out of gamut
    max_negative_fraction: float = 0.01
    frame_count_tolerance: int = 1       # frames more or fewer than the request that pass
    size_tolerance: float = 0.05         # relative width/height difference that passes (a warning)
    read_threads: int = 2

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: dict, *, source: str = "judge config") -> "JudgeConfig":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise JudgeError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: "
                             f"{', '.join(known)}")
        values = {}
        for name, value in data.items():
            kind = int if known[name].type in ("int", int) else float
            try:
                values[name] = kind(value)
            except (TypeError, ValueError):
                raise JudgeError(f"{source}: {name} = {value!r} is not a number") from None
            if values[name] < 0:
                raise JudgeError(f"{source}: {name} = {value!r} must be 0 or more")
        return cls(**values)


def load_config(data_dir: Optional[Path] = None) -> JudgeConfig:
    """The defaults, overridden by ``judge.toml`` / ``judge.json`` in the data directory."""
    from ..jobs.ledger import default_data_dir

    base = Path(data_dir) if data_dir is not None else default_data_dir()
    for name in CONFIG_NAMES:
        path = base / name
        if not path.is_file():
            continue
        try:
            if name.endswith(".toml"):
                try:
                    import tomllib
                except ImportError:  # Python 3.10
                    raise JudgeError(f"{path}: TOML needs Python 3.11+; use judge.json") from None
                data = tomllib.loads(path.read_text())
                data = data.get("judge", data)
            else:
                data = json.loads(path.read_text())
        except JudgeError:
            raise
        except Exception as exc:
            raise JudgeError(f"{path} cannot be read: {exc}") from exc
        if not isinstance(data, dict):
            raise JudgeError(f"{path}: expected a table of settings")
        return JudgeConfig.from_mapping(data, source=str(path))
    return JudgeConfig()


# -- the measurement -------------------------------------------------------------------------

@dataclass
class Expected:
    """What the request asked for; any of it may be unknown (None)."""

    frame_count: Optional[int] = None
    width: Optional[int] = None
    height: Optional[int] = None
    fps: float = 24.0
    duration_s: Optional[float] = None

    @classmethod
    def from_request(cls, request: dict, fps: float = 24.0) -> "Expected":
        from ..request import ShotRequest

        try:
            shot = ShotRequest.from_json(request)
            width, height = shot.frame_size()
            return cls(frame_count=shot.frame_count, width=width, height=height, fps=fps,
                       duration_s=float(shot.duration.rstrip("s")))
        except Exception:  # a request this engine version cannot read: judge the frames alone
            return cls(fps=fps)


@dataclass
class TakeScores:
    verdict: str
    score: float
    reasons: list[str]
    warnings: list[str]
    metrics: dict
    series: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)

    @property
    def broken(self) -> bool:
        return self.verdict == BROKEN

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "judged_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "verdict": self.verdict,
            "score": self.score,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "metrics": self.metrics,
            "expected": self.expected,
            "config": self.config,
            "series": self.series,
        }

    @classmethod
    def from_json(cls, data: dict) -> "TakeScores":
        return cls(verdict=data["verdict"], score=float(data["score"]),
                   reasons=list(data.get("reasons", [])), warnings=list(data.get("warnings", [])),
                   metrics=dict(data.get("metrics", {})), series=dict(data.get("series", {})),
                   expected=dict(data.get("expected", {})), config=dict(data.get("config", {})))

    def summary(self) -> dict:
        """What take.json's "scores" holds: the verdict and measures, without the per-frame
        series (those stay in scores.json)."""
        return {"verdict": self.verdict, "score": self.score, "reasons": list(self.reasons),
                "warnings": list(self.warnings), "metrics": dict(self.metrics),
                "file": SCORES_FILE, "plot": PLOT_FILE}

    def line(self) -> str:
        """One line for a terminal or a contact sheet."""
        if self.broken:
            return f"broken ({'; '.join(self.reasons)})"
        return f"ok, score {self.score:.1f}"


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
        from .contact_sheet import _config_uri

        uri = _config_uri(config) or os.environ.get("OCIO") or BUILTIN_CONFIG
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


# -- takes -----------------------------------------------------------------------------------

def _read_record(take_dir: Path) -> dict:
    path = take_dir / "take.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise JudgeError(f"{take_dir} is not a published take (no take.json)") from None
    except ValueError as exc:
        raise JudgeError(f"{path} is not valid JSON: {exc}") from exc


_PRINTF = re.compile(r"%0?(\d*)d")


def frame_paths(take_dir: Path, record: dict) -> list[Path]:
    """The take's frames in order, found beside take.json (the take may have been moved)."""
    frames = record.get("frames") or {}
    pattern = frames.get("pattern")
    first, last = frames.get("first"), frames.get("last")
    if pattern and first is not None and last is not None:
        name = Path(pattern).name
        if _PRINTF.search(name):
            paths = [take_dir / (name % f) for f in range(int(first), int(last) + 1)]
            present = [p for p in paths if p.is_file()]
            if present:
                return present
    return sorted(take_dir.glob("*.exr"))


def judge_take(take_dir: Path | str, *, config: Optional[JudgeConfig] = None, write: bool = True,
               plot: bool = True, progress: ProgressFn = no_progress,
               cancel: Optional[CancelToken] = None, record: Optional[dict] = None) -> TakeScores:
    """Measure a take's frames; write scores.json (and the plot) beside its take.json.

    ``record`` is the take.json to be (for a staging folder, before the take is committed);
    by default the folder's take.json is read.
    """
    take_dir = Path(take_dir)
    record = record if record is not None else _read_record(take_dir)
    config = config or load_config()
    paths = frame_paths(take_dir, record)
    if not paths:
        raise JudgeError(f"{take_dir}: no EXR frames beside take.json")
    fps = float((record.get("frames") or {}).get("fps") or 24.0)
    expected = Expected.from_request(record.get("request") or {}, fps=fps)
    from .contact_sheet import config_of

    colour = record.get("colour") or {}
    scores = measure_frames(paths, expected=expected, config=config,
                            working_space=colour.get("working_space"),
                            ocio_config=config_of(colour), progress=progress, cancel=cancel)
    if write:
        data = scores.to_json()
        data["take"] = {"shot": record.get("shot"), "name": record.get("name"),
                        "version": record.get("version"), "job_id": record.get("job_id")}
        if plot:
            from .contact_sheet import write_plot

            title = f"{record.get('name', take_dir.parent.name)} v{int(record.get('version') or 0):03d}"
            write_plot(take_dir / PLOT_FILE, scores, config, title=title)
            data["plot"] = PLOT_FILE
        write_json_atomic(take_dir / SCORES_FILE, data)
    return scores


def scores_for_publish(staging_dir: Path | str, record: dict, *,
                       cancel: Optional[CancelToken] = None, log=None) -> Optional[dict]:
    """For the main job, just before ``takes.commit``: judge the staged frames, leave
    scores.json and the plot in the staging folder (they are published with the take) and
    return the summary for take.json's "scores". Never raises but for a cancel: a judge that
    cannot read a frame, or a bad judge config, must not fail a paid-for take."""
    try:
        return judge_take(staging_dir, record=record, cancel=cancel).summary()
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - see above
        if log is not None:
            log(f"the take is published unjudged: {exc}")
        return None


def judge_published(take_dir: Path | str, *, cancel: Optional[CancelToken] = None,
                    log=None) -> Optional[TakeScores]:
    """Judge a take already published; never raises but for a cancel (the take is safe)."""
    try:
        return judge_take(take_dir, cancel=cancel)
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - a measurement must not fail a published take
        if log is not None:
            log(f"the take was published but not judged: {exc}")
        return None


def load_scores(take_dir: Path | str) -> Optional[dict]:
    """A take's latest scores: scores.json (rewritten by each judging), else the summary its
    take.json was published with, else None (never judged)."""
    take_dir = Path(take_dir)
    try:
        return json.loads((take_dir / SCORES_FILE).read_text())
    except (OSError, ValueError):
        pass
    try:
        return json.loads((take_dir / "take.json").read_text()).get("scores") or None
    except (OSError, ValueError, AttributeError):
        return None


def write_json_atomic(path: Path, data) -> None:
    """Durable and atomic, with the user's umask (scores live in shared take folders)."""
    write_json_atomically(path, data, default=_plain)


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON: {type(value).__name__}")


# -- ranking ---------------------------------------------------------------------------------

def rank(scored: list[tuple[str, Optional[TakeScores]]]) -> list[tuple[int, str, Optional[TakeScores]]]:
    """Rank (1 = best): takes that are ok by score, then broken ones by score, then unjudged.

    Ties keep the order given (the batch's order), so ranking is stable and repeatable.
    """
    def key(item):
        index, (_, scores) = item
        if scores is None:
            return (2, 0.0, index)
        return (1 if scores.broken else 0, -scores.score, index)

    ordered = sorted(enumerate(scored), key=key)
    return [(rank + 1, name, scores) for rank, (_, (name, scores)) in enumerate(ordered)]


__all__ = ["JudgeConfig", "JudgeError", "TakeScores", "Expected", "judge_take", "judge_published",
           "scores_for_publish",
           "measure_frames",
           "load_config", "load_scores", "rank", "frame_paths", "SCORES_FILE", "PLOT_FILE"]
