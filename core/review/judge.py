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

The thresholds live in ``JudgeConfig`` (``scores``), overridable per user by ``judge.toml`` or
``judge.json`` in the data directory; the measuring is ``measure``'s, the pictures
``contact_sheet``'s; this module judges a take folder and says where the scores go.

Where the scores go: a take the main job publishes is judged from its staged frames just
before it is committed (``scores_for_publish``), so its take.json carries a summary under
"scores", and scores.json (with the per-frame series) and the plot ``scores_plot.png`` are
published beside it. A published take is immutable and take.json is its provenance, so judging
again later (``genplate judge``, other thresholds, a draft batch) never touches take.json: it
replaces scores.json and the plot, each atomically. ``load_scores(take_dir)`` gives the latest
(scores.json, else take.json's summary); summaries and the panels read it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ..progress import Cancelled, CancelToken, ProgressFn, no_progress
from ..takes.take import frame_paths
from .contact_sheet import config_of, write_plot
from .measure import measure_frames
from .scores import (PLOT_FILE, SCORES_FILE, Expected, JudgeConfig, JudgeError, TakeScores,
                     load_config, write_json_atomic)


def _read_record(take_dir: Path) -> dict:
    path = take_dir / "take.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise JudgeError(f"{take_dir} is not a published take (no take.json)") from None
    except ValueError as exc:
        raise JudgeError(f"{path} is not valid JSON: {exc}") from exc


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
    colour = record.get("colour") or {}
    scores = measure_frames(paths, expected=expected, config=config,
                            working_space=colour.get("working_space"),
                            ocio_config=config_of(colour), progress=progress, cancel=cancel)
    if write:
        data = scores.to_json()
        data["take"] = {"shot": record.get("shot"), "name": record.get("name"),
                        "version": record.get("version"), "job_id": record.get("job_id")}
        if plot:
            title = f"{record.get('name', take_dir.parent.name)} v{int(record.get('version') or 0):03d}"
            first = int((record.get("frames") or {}).get("first") or 0)
            write_plot(take_dir / PLOT_FILE, scores, config, title=title, first_frame=first)
            data["plot"] = PLOT_FILE
        write_json_atomic(take_dir / SCORES_FILE, data)
    return scores


def scores_for_publish(staging_dir: Path | str, record: dict, *,
                       cancel: Optional[CancelToken] = None, log=None) -> Optional[dict]:
    """For the main job, just before ``versions.commit``: judge the staged frames, leave
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
