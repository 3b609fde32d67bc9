"""The judge on synthetic clips, each built to have one defect (and clean ones that must pass)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from genplate.core.review import judge as J
from genplate.core.review import scores as S
from genplate.core.review.measure import measure_frames
from genplate.core.review.scores import Expected, JudgeConfig, JudgeError, rank

W, H, N = 96, 54, 25


def clean_frames(n: int = N, w: int = W, h: int = H) -> list[np.ndarray]:
    """A lit gradient with a soft bright ball crossing it: motion, no defect."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.05 + 0.25 * (xx / w)[..., None] * np.array([1.0, 0.9, 0.8], np.float32)
    frames = []
    for i in range(n):
        cx, cy = w * (0.15 + 0.7 * i / max(1, n - 1)), h * 0.5
        ball = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (h * 0.12) ** 2)))
        frames.append((base + 0.8 * ball[..., None] * np.array([1.0, 0.8, 0.6], np.float32))
                      .astype(np.float32))
    return frames


def write_exrs(folder: Path, frames: list[np.ndarray], first: int = 1001, name: str = "t_v001") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames):
        path = folder / f"{name}.{first + i:04d}.exr"
        h, w = frame.shape[:2]
        spec = oiio.ImageSpec(w, h, 3, oiio.HALF)
        spec.attribute("compression", "zip")
        out = oiio.ImageOutput.create(str(path))
        assert out.open(str(path), spec)
        assert out.write_image(np.ascontiguousarray(frame, dtype=np.float32))
        out.close()
        paths.append(path)
    return paths


def judged(tmp_path: Path, frames: list[np.ndarray], **expected) -> S.TakeScores:
    paths = write_exrs(tmp_path / "frames", frames)
    exp = Expected(frame_count=expected.get("count", N), width=expected.get("width", W),
                   height=expected.get("height", H))
    return measure_frames(paths, expected=exp, config=JudgeConfig(analysis_width=48))


def test_clean_clip_is_ok_with_a_high_score(tmp_path):
    scores = judged(tmp_path, clean_frames())
    assert scores.verdict == "ok", scores.reasons
    assert scores.reasons == [] and scores.warnings == []
    assert scores.score > 90
    assert scores.metrics["frames"] == N and scores.metrics["width"] == W
    assert len(scores.series["luminance"]) == N


def test_a_smooth_fade_is_a_trend_not_flicker(tmp_path):
    frames = [f * (2.0 ** (-4.0 * i / (N - 1))) for i, f in enumerate(clean_frames())]
    scores = judged(tmp_path, frames)
    assert scores.verdict == "ok", scores.reasons
    assert scores.metrics["flicker_frames"] == 0


def test_flicker_is_found(tmp_path):
    frames = [f * (1.35 if i % 2 else 1.0) for i, f in enumerate(clean_frames())]
    scores = judged(tmp_path, frames)
    assert scores.verdict == "broken"
    assert any(r.startswith("flicker") for r in scores.reasons)
    assert scores.metrics["flicker_peak_stops"] == pytest.approx(np.log2(1.35), abs=0.05)


def test_one_bright_pop_is_only_a_warning(tmp_path):
    frames = clean_frames()
    frames[12] = frames[12] * 1.5
    scores = judged(tmp_path, frames)
    assert scores.verdict == "ok"
    assert any("flicker" in w for w in scores.warnings)
    # one pop is one flicker frame, though its neighbours are off their trend by half as much
    assert [i for i, f in enumerate(scores.series["flicker_frame"]) if f] == [12]


def test_frozen_frames_are_found(tmp_path):
    frames = clean_frames()
    frames[5:20] = [frames[5]] * 15
    scores = judged(tmp_path, frames)
    assert scores.verdict == "broken"
    assert scores.metrics["longest_frozen_run"] == 15
    assert any(r.startswith("frozen") for r in scores.reasons)


def test_scattered_duplicates_are_found(tmp_path):
    frames = clean_frames()
    for i in (3, 7, 11, 15, 19):
        frames[i] = frames[i - 1]
    scores = judged(tmp_path, frames)
    assert scores.metrics["duplicate_frames"] == 5
    assert any(r.startswith("duplicated") for r in scores.reasons)


def test_black_frames_are_found(tmp_path):
    frames = clean_frames()
    for i in range(0, 8):
        frames[i] = np.zeros_like(frames[i])
    scores = judged(tmp_path, frames)
    assert scores.metrics["black_frames"] == 8
    assert any(r.startswith("black") for r in scores.reasons)
    # a cut from black is not flicker, and black frames are not "duplicates"
    assert scores.metrics["flicker_frames"] == 0
    assert scores.metrics["duplicate_frames"] == 0


def test_clipped_highlights_are_found(tmp_path):
    frames = [np.minimum(f * 3.0, 0.6) for f in clean_frames()]
    scores = judged(tmp_path, frames)
    assert scores.metrics["clipped_fraction"] > 0.1
    assert any(r.startswith("clipped") for r in scores.reasons)


def test_negative_out_of_gamut_pixels_are_found(tmp_path):
    frames = clean_frames()
    for f in frames:
        f[: H // 4, :, 2] = -0.05  # a saturated band AP1 cannot hold
    scores = judged(tmp_path, frames)
    assert scores.metrics["negative_fraction"] == pytest.approx(0.25, abs=0.05)
    assert any(r.startswith("out of gamut") for r in scores.reasons)


def test_nan_pixels_break_a_take(tmp_path):
    frames = clean_frames()
    frames[4][10:20, 10:20] = np.nan
    scores = judged(tmp_path, frames)
    assert any("NaN" in r for r in scores.reasons)


def test_frame_count_and_resolution_against_the_request(tmp_path):
    scores = judged(tmp_path, clean_frames(), count=121, width=640, height=360)
    text = " ".join(scores.reasons)
    assert "frame count: 25 (1.04 s), the request makes 121" in text
    assert "resolution: 96x54, the request makes 640x360" in text
    one_off = judged(tmp_path / "b", clean_frames(), count=N + 1)
    assert one_off.verdict == "ok" and one_off.warnings


def test_ranking_puts_ok_takes_first_by_score(tmp_path):
    clean = judged(tmp_path / "a", clean_frames())
    popped = clean_frames()
    popped[12] = popped[12] * 1.5
    pop = judged(tmp_path / "b", popped)
    flicker = judged(tmp_path / "c", [f * (1.35 if i % 2 else 1.0)
                                      for i, f in enumerate(clean_frames())])
    assert clean.score > pop.score
    ranked = rank([("flicker", flicker), ("none", None), ("pop", pop), ("clean", clean)])
    assert [(r, name) for r, name, _ in ranked] == [(1, "clean"), (2, "pop"), (3, "flicker"),
                                                    (4, "none")]


def test_config_file_overrides_defaults(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "judge.toml").write_text("[judge]\nflicker_stops = 0.5\nfrozen_run_frames = 4\n")
    config = S.load_config(data)
    assert config.flicker_stops == 0.5 and config.frozen_run_frames == 4
    assert config.black_level == JudgeConfig().black_level
    (data / "judge.toml").write_text("flickr_stops = 0.5\n")
    with pytest.raises(JudgeError, match="unknown setting.*flickr_stops"):
        S.load_config(data)


def _clean_take(tmp_path: Path) -> Path:
    """A published 360p draft of clean frames, its take.json beside them, as judge_take finds it."""
    take = tmp_path / "sh010" / "t" / "v001"
    write_exrs(take, clean_frames(), name="t_v001")
    record = {"shot": "sh010", "name": "t", "version": 1,
              "request": {"prompt": "x", "resolution": "360p", "duration": "5s"},
              "frames": {"first": 1001, "last": 1000 + N, "fps": 24,
                         "pattern": str(take / "t_v001.%04d.exr")},
              "colour": {"working_space": "ACEScg"}}
    (take / "take.json").write_text(json.dumps(record))
    return take


def test_judge_take_writes_scores_and_plot_beside_take_json(tmp_path):
    take = _clean_take(tmp_path)
    before = (take / "take.json").read_bytes()
    old_umask = os.umask(0o022)
    try:
        scores = J.judge_take(take, config=JudgeConfig(analysis_width=48))
    finally:
        os.umask(old_umask)
    # take folders are shared: the scores and plot get the user's umask, not mkstemp's 0600
    assert (take / S.SCORES_FILE).stat().st_mode & 0o777 == 0o644
    assert (take / S.PLOT_FILE).stat().st_mode & 0o777 == 0o644
    assert (take / "take.json").read_bytes() == before  # provenance is never rewritten
    saved = S.load_scores(take)
    assert saved["schema"] == "genplate.scores/1"
    assert saved["verdict"] == scores.verdict == "broken"  # 25 frames of 96x54, asked 121 of 640x360
    assert saved["take"]["name"] == "t" and saved["plot"] == S.PLOT_FILE
    plot = oiio.ImageBuf(str(take / S.PLOT_FILE))
    assert plot.spec().width == 640 and plot.spec().format == oiio.UINT8
    assert not [p for p in take.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_folder_without_take_json_is_refused(tmp_path):
    with pytest.raises(JudgeError, match="not a published take"):
        J.judge_take(tmp_path)


def test_the_judge_command_judges_takes_and_says_why(tmp_path, capsys):
    from genplate.core.cli import main as cli

    take = tmp_path / "takes" / "sh010" / "t" / "v001"
    frames = clean_frames()
    frames[5:20] = [frames[5]] * 15
    write_exrs(take, frames, name="t_v001")
    (take / "take.json").write_text(json.dumps({
        "shot": "sh010", "name": "t", "version": 1,
        "frames": {"first": 1001, "last": 1000 + N, "fps": 24,
                   "pattern": str(take / "t_v001.%04d.exr")},
        "colour": {"working_space": "ACEScg"}}))
    code = cli.main(["judge", "sh010/t", "--root", str(tmp_path / "takes"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1  # a broken take
    (result,) = out["judged"]
    assert result["verdict"] == "broken" and result["reasons"][0].startswith("frozen: 15")
    assert Path(result["plot"]).is_file()


def test_judging_after_publish_never_fails_the_job(tmp_path):
    said = []
    assert J.judge_published(tmp_path, log=said.append) is None  # no take.json: no exception
    assert "not judged" in said[0]


def test_the_main_job_can_judge_staged_frames_into_take_json(tmp_path):
    """scores_for_publish: before commit, no take.json yet; scores.json and the plot are left in
    the staging folder and the summary is what take.json's "scores" holds."""
    from genplate.core.progress import Cancelled, CancelToken

    staging = tmp_path / "sh010" / "t" / ".v001.j1.staging"
    write_exrs(staging, clean_frames(), name="t_v001")
    record = {"name": "t", "version": 1,
              "frames": {"first": 1001, "last": 1000 + N, "fps": 24,
                         "pattern": str(tmp_path / "sh010" / "t" / "v001" / "t_v001.%04d.exr")},
              "colour": {"working_space": "ACEScg"}}
    summary = J.scores_for_publish(staging, record)
    assert summary["verdict"] == "ok" and summary["file"] == S.SCORES_FILE
    assert "series" not in summary and summary["metrics"]["frames"] == N
    assert (staging / S.SCORES_FILE).is_file() and (staging / S.PLOT_FILE).is_file()
    said = []
    assert J.scores_for_publish(tmp_path / "empty", record, log=said.append) is None
    assert "unjudged" in said[0]
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        J.scores_for_publish(staging, record, cancel=token)
    # load_scores prefers scores.json, else the summary take.json was published with
    (staging / "take.json").write_text(json.dumps({**record, "scores": summary}))
    assert S.load_scores(staging)["series"]
    (staging / S.SCORES_FILE).unlink()
    assert S.load_scores(staging) == summary


def test_the_plots_axis_is_in_the_takes_frame_numbers(tmp_path, monkeypatch):
    """The QC plot names frames as the comp does (1001..), not as array indexes (0..)."""
    from genplate.core.review import contact_sheet

    drawn: list[str] = []
    real = contact_sheet.draw_labels

    def recording(canvas, labels, **kw):
        drawn.extend(label.text for label in labels)
        return real(canvas, labels, **kw)

    monkeypatch.setattr(contact_sheet, "draw_labels", recording)
    take = _clean_take(tmp_path)
    J.judge_take(take, config=JudgeConfig(analysis_width=48))
    frames = [t for t in drawn if t.startswith("frame ")]
    assert frames == ["frame 1001", f"frame {1000 + N}"], drawn
