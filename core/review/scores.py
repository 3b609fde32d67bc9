"""A take's scores: the judge's thresholds (``JudgeConfig``, overridable per user by ``judge.toml``
or ``judge.json`` in the data directory), what the request expected, the verdict and measures
(``TakeScores``), where they are kept (``scores.json`` beside take.json, its summary inside
take.json) and how takes are ranked by them.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

import numpy as np

from ..atomic import write_json_atomically

SCORES_FILE = "scores.json"
PLOT_FILE = "scores_plot.png"
CONFIG_NAMES = ("judge.toml", "judge.json")
SCHEMA = "genplate.scores/1"
OK, BROKEN = "ok", "broken"


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
