"""Promotion: the master request made from a draft (fields, pinned frames, inputs, parent)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from genplate.core.cli import main as cli
from genplate.core.jobs import ledger as L
from genplate.core.review.promote import (PromoteError, draft_frame, master_name, pinned_indexes,
                                          plan)
from genplate.core.request import Keyframe, MediaRef, ShotRequest
from genplate.core.takes.take import load_take

from luma_emulator import make_image, make_mp4

FRAMES = 121
W, H = 64, 36


def write_frame(path: Path, value: float) -> None:
    """A frame whose brightness encodes its number (so a pinned PNG says which frame it was)."""
    pixels = np.full((H, W, 3), value, np.float32)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), oiio.ImageSpec(W, H, 3, oiio.HALF))
    out.write_image(pixels)
    out.close()


def make_draft(root: Path, request: ShotRequest, *, name="lighthouse_d03", version=1,
               frames=FRAMES, job_id="jdraft000000001") -> Path:
    folder = root / "sh020" / name / f"v{version:03d}"
    folder.mkdir(parents=True)
    base = f"{name}_v{version:03d}"
    for i in range(frames):
        write_frame(folder / f"{base}.{1001 + i:04d}.exr", 0.01 + 0.5 * i / (frames - 1))
    record = {"schema": "genplate.take/1", "shot": "sh020", "name": name, "version": version,
              "kind": "draft", "job_id": job_id, "backend": "offline", "remote_id": "offline-abc",
              "request": request.to_json(),
              "frames": {"first": 1001, "last": 1000 + frames, "count": frames, "fps": 24,
                         "width": W, "height": H, "pattern": str(folder / f"{base}.%04d.exr")},
              "colour": {"config": "studio-config-v5.0.0_aces-v2.1_ocio-v2.6",
                         "config_uri": "ocio://studio-config-v5.0.0_aces-v2.1_ocio-v2.6",
                         "working_space": "ACEScg"}}
    (folder / "take.json").write_text(json.dumps(record))
    return folder


def png_level(path: str) -> float:
    return float(oiio.ImageBuf(path).get_pixels(oiio.FLOAT).mean())


def test_pinned_indexes_are_evenly_spaced_on_the_grid():
    assert pinned_indexes(3) == [0, 60, 120]
    assert pinned_indexes(5) == [0, 30, 60, 90, 120]
    assert pinned_indexes(2, "10s") == [0, 240]
    assert pinned_indexes(1) == [60]
    assert pinned_indexes(0) == []
    assert draft_frame(60, 1001, 121) == 1061
    assert draft_frame(120, 1001, 61) == 1061  # a short draft is scaled onto the grid
    assert master_name("lighthouse_d03") == "lighthouse_master"
    assert master_name("hero") == "hero_master"


def test_the_master_keeps_the_prompt_and_pins_the_drafts_frames(tmp_path):
    draft = ShotRequest.draft("a lighthouse at dusk", aspect_ratio="21:9", seed=7)
    take = load_take(make_draft(tmp_path / "takes", draft))
    promo = plan(take, resolution="1080p", keyframes=3, inputs_dir=tmp_path / "inputs")
    master = promo.request
    assert master.prompt == "a lighthouse at dusk" and master.aspect_ratio == "21:9"
    assert (master.resolution, master.hdr, master.exr_export) == ("1080p", True, True)
    assert master.quality == "master" and master.seed == 7 and master.duration == "5s"
    assert [k.index for k in master.keyframes] == [0, 60, 120]
    # each pinned PNG is the draft's frame at that index, through the view, brighter later
    levels = [png_level(k.image.path) for k in master.keyframes]
    assert levels == sorted(levels) and levels[0] < levels[-1]
    spec = oiio.ImageBuf(master.keyframes[1].image.path).spec()
    assert (spec.width, spec.height, spec.format) == (W, H, oiio.UINT8)
    assert [(i, f) for i, f, _ in promo.pinned] == [(0, 1001), (60, 1061), (120, 1121)]
    assert promo.parent == {"shot": "sh020", "name": "lighthouse_d03", "version": 1,
                            "dir": str(take.dir), "job_id": "jdraft000000001",
                            "remote_id": "offline-abc", "kind": "draft",
                            "pinned": [{"index": 0, "frame": 1001}, {"index": 60, "frame": 1061},
                                       {"index": 120, "frame": 1121}]}
    assert promo.name == "lighthouse_master" and promo.shot == "sh020"
    assert promo.root == str(tmp_path / "takes")
    master.validate()


def test_the_drafts_inputs_carry_over_and_win_over_exported_frames(tmp_path):
    start = tmp_path / "start.png"
    start.write_bytes(make_image(32, 18, "png"))
    draft = ShotRequest.draft("a kite", start_frame=MediaRef(path=str(start)))
    take = load_take(make_draft(tmp_path / "takes", draft))
    promo = plan(take, resolution="720p", keyframes=3, inputs_dir=tmp_path / "inputs")
    master = promo.request
    assert master.start_frame is None  # keyframes and a start frame cannot go together
    assert master.keyframes[0] == Keyframe(0, MediaRef(path=str(start)))
    assert [k.index for k in master.keyframes] == [0, 60, 120]
    assert [i for i, _, _ in promo.pinned] == [60, 120]
    assert any("start_frame pinned as the keyframe at index 0" in n for n in promo.notes)


def test_keyframes_zero_keeps_the_inputs_as_they_were(tmp_path):
    start = tmp_path / "start.png"
    start.write_bytes(make_image(32, 18, "png"))
    draft = ShotRequest.draft("a kite", start_frame=MediaRef(path=str(start)))
    take = load_take(make_draft(tmp_path / "takes", draft))
    master = plan(take, keyframes=0, inputs_dir=tmp_path / "inputs").request
    assert master.start_frame == MediaRef(path=str(start)) and master.keyframes == ()


def test_sdr_only_features_are_dropped_with_a_note(tmp_path):
    draft = ShotRequest.draft("waves", loop=True)
    take = load_take(make_draft(tmp_path / "takes", draft))
    promo = plan(take, inputs_dir=tmp_path / "inputs", keyframes=0)
    assert promo.request.loop is False and any("loop dropped" in n for n in promo.notes)


def test_refusals_name_what_to_change(tmp_path):
    take = load_take(make_draft(tmp_path / "takes", ShotRequest.draft("x")))
    with pytest.raises(PromoteError, match="720p or 1080p"):
        plan(take, resolution="540p", inputs_dir=tmp_path)
    with pytest.raises(PromoteError, match="between 0 and 64"):
        plan(take, keyframes=65, inputs_dir=tmp_path)


def test_promote_command_records_the_master_job_with_its_parent(tmp_path, monkeypatch, capsys):
    """`genplate promote --detach` records the job (publish parent, kind master) and starts a
    worker; the worker itself is replaced here, the main job is the lead's and tested there."""
    draft = ShotRequest.draft("a lighthouse at dusk")
    folder = make_draft(tmp_path / "takes", draft)
    spawned = []
    monkeypatch.setattr("genplate.core.jobs.runner.spawn_worker", lambda ids, ledger: spawned.append(ids) or 1)
    code = cli.main(["promote", str(folder), "--keyframes", "2", "--resolution", "720p",
                     "--backend", "luma", "--detach", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    job = L.Ledger().get(out["job"]["id"])
    assert spawned == [[job.id]]
    assert job.publish["kind"] == "master" and job.publish["name"] == "lighthouse_master"
    assert job.publish["parent"]["job_id"] == "jdraft000000001"
    assert job.publish["parent"]["dir"] == str(folder)
    assert job.request["resolution"] == "720p" and job.request["hdr"] is True
    assert [k["index"] for k in job.request["keyframes"]] == [0, 120]
    assert job.estimate_usd == pytest.approx(0.90)


def test_promote_refused_by_the_cap_records_nothing(tmp_path, capsys):
    from genplate.core.jobs import budget

    folder = make_draft(tmp_path / "takes", ShotRequest.draft("x"))
    budget.set_cap("show", 1.0)
    code = cli.main(["promote", str(folder), "--project", "show", "--backend", "luma", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and "cap of $1.00" in out["error"] and "$3.60" in out["error"]
    assert L.Ledger().jobs() == []


def test_an_edit_pins_into_its_own_keyframes_and_a_reframe_is_refused(tmp_path):
    from genplate.core.request import EditOptions

    plate = tmp_path / "plate.mov"
    plate.write_bytes(make_mp4(64, 36, 12))
    edit = ShotRequest.draft("make it snow", type="video_edit", source=MediaRef(path=str(plate)),
                             edit=EditOptions(strength="flex_1"))
    take = load_take(make_draft(tmp_path / "takes", edit))
    master = plan(take, keyframes=2, inputs_dir=tmp_path / "inputs").request
    assert master.keyframes == () and master.source == MediaRef(path=str(plate))
    assert master.edit.strength == "flex_1"
    assert [k.index for k in master.edit.keyframes] == [0, 120]
    reframe = ShotRequest.draft("wider", type="video_reframe", source=MediaRef(path=str(plate)))
    take = load_take(make_draft(tmp_path / "takes2", reframe, name="wide_d01"))
    with pytest.raises(PromoteError, match="reframe cannot be HDR"):
        plan(take, inputs_dir=tmp_path / "inputs")
