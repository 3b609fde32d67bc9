"""The main job end to end on the offline backend, through the `genplate` command: a shot request
becomes a published ACES EXR take that reads back right, and hands off to Nuke and OTIO."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from genplate.core.jobs import ledger as L

AP1 = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)
TAKE_KEYS = {"schema", "shot", "name", "version", "kind", "job_id", "backend", "remote_id",
             "request", "times", "engine", "frames", "colour", "sources", "exr", "thumbnail"}


def genplate(*args, env=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "genplate.core.cli", *args], env=env or os.environ,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"genplate {' '.join(args)} -> {proc.returncode}\n{proc.stderr}\n{proc.stdout}")
    return proc


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One draft generated through the command, shared by the read-back tests."""
    base = tmp_path_factory.mktemp("main")
    env = {**os.environ, "GENPLATE_DATA_DIR": str(base / "data")}
    env.pop("LUMA_AGENTS_API_KEY", None)
    proc = genplate("generate", "sunset over a desert highway, heat haze, a truck passing",
                    "--seed", "11", "--root", str(base / "takes"), "--shot", "sh030", "--json",
                    env=env)
    return {"summary": json.loads(proc.stdout), "stderr": proc.stderr, "env": env,
            "root": base / "takes", "data": base / "data"}


def test_the_offline_backend_is_said_aloud(published):
    assert "offline renderer" in published["stderr"]


def test_json_names_the_take(published):
    s = published["summary"]
    for key in ("dir", "pattern", "first", "last", "colorspace", "fps", "version"):
        assert key in s, key
    assert s["version"] == 1 and s["first"] == 1001 and s["last"] == 1121
    assert s["fps"] == 24 and s["colorspace"] == "ACEScg"
    assert s["pattern"].endswith("_v001.%04d.exr")
    assert Path(s["dir"]) == published["root"] / "sh030" / s["name"] / "v001"


def test_frames_read_back_as_half_acescg_with_highlights_above_one(published):
    s = published["summary"]
    frames = sorted(Path(s["dir"]).glob("*.exr"))
    assert [int(f.name.split(".")[-2]) for f in frames] == list(range(1001, 1122))
    assert Path(s["pattern"] % 1001) == frames[0]
    peak = 0.0
    for path in (frames[0], frames[60], frames[-1]):
        inp = oiio.ImageInput.open(str(path))
        spec = inp.spec()
        assert spec.format == oiio.TypeDesc("half")
        assert (spec.width, spec.height) == (640, 360)
        assert tuple(round(v, 5) for v in spec.getattribute("chromaticities")) == AP1
        assert spec.getattribute("FramesPerSecond") in ((24, 1), 24.0, "24/1") or \
            float(str(spec.getattribute("FramesPerSecond")).split("/")[0]) == 24
        assert spec.getattribute("genplate:shot") == "sh030"
        pixels = inp.read_image("float")
        inp.close()
        assert np.isfinite(pixels).all()
        peak = max(peak, float(pixels.max()))
    assert peak > 1.0, "highlights must survive as scene-linear values above 1.0"


def test_take_json_is_complete(published):
    s = published["summary"]
    record = json.loads((Path(s["dir"]) / "take.json").read_text())
    assert TAKE_KEYS <= set(record)
    assert record["schema"] == "genplate.take/1" and record["backend"] == "offline"
    assert record["remote_id"] and record["job_id"]
    assert record["request"]["prompt"].startswith("sunset over a desert highway")
    assert record["request"]["resolution"] == "360p"
    assert record["frames"]["count"] == 121 and record["frames"]["fps"] == 24
    colour = record["colour"]
    assert colour["working_space"] == "ACEScg" and colour["config"]
    assert colour["source_kind"] and colour["sdr_mode"] == "display-match"
    assert record["sources"] and all(len(src["sha256"]) == 64 for src in record["sources"])
    assert set(record["times"]) >= {"queued", "submitted", "delivered", "published"}
    assert record["engine"]["name"] == "genplate"
    assert (Path(s["dir"]) / "thumbnail.png").stat().st_size > 1000
    # Judged before publishing: a clean offline draft is ok, its scores published beside it.
    assert record["scores"]["verdict"] == "ok", record["scores"]
    assert (Path(s["dir"]) / record["scores"]["file"]).is_file()
    assert (Path(s["dir"]) / record["scores"]["plot"]).stat().st_size > 1000


def test_the_next_generation_is_the_next_version(published):
    s = published["summary"]
    again = json.loads(genplate("generate", "sunset over a desert highway, heat haze",
                                "--name", s["name"], "--seed", "12", "--root", str(published["root"]),
                                "--shot", "sh030", "--json", env=published["env"]).stdout)
    assert again["version"] == 2 and again["dir"].endswith("v002")
    listed = json.loads(genplate("takes", "--root", str(published["root"]), "--shot", "sh030",
                                 "--json", env=published["env"]).stdout)["takes"]
    assert [(t["version"], t["latest"]) for t in listed if t["name"] == s["name"]] == [(1, False), (2, True)]
    assert all(t["scores"]["verdict"] == "ok" and t["scores"]["score"] > 0 for t in listed)


def test_jobs_lists_every_step(published):
    jobs = json.loads(genplate("jobs", "--json", env=published["env"]).stdout)["jobs"]
    ready = [j for j in jobs if j["take_dir"] == published["summary"]["dir"]]
    assert len(ready) == 1 and ready[0]["state"] == "ready"
    detail = json.loads(genplate("jobs", ready[0]["id"], "--json", env=published["env"]).stdout)
    steps = [e["state"] for e in detail["events"]]
    for state in (L.QUEUED, L.SUBMITTED, L.DELIVERED, L.FETCHED, L.INGESTING, L.READY):
        assert state in steps
    assert steps.index(L.SUBMITTED) < steps.index(L.FETCHED) < steps.index(L.READY)


def test_export_nuke_and_otio(published, tmp_path):
    s = published["summary"]
    nk = tmp_path / "read.nk"
    genplate("export", "nuke", s["dir"], "-o", str(nk), env=published["env"])
    text = nk.read_text()
    assert "Read {" in text and "first 1001" in text and "last 1121" in text
    assert "origfirst 1001" in text and "origlast 1121" in text
    otio_path = tmp_path / "takes.otio"
    out = json.loads(genplate("export", "otio", s["dir"], "-o", str(otio_path), "--json",
                              env=published["env"]).stdout)
    import opentimelineio as otio

    timeline = otio.adapters.read_from_file(out["path"])
    (clip,) = list(timeline.find_clips())
    assert clip.media_reference.start_frame == 1001
    assert clip.source_range.duration.value == 121


def test_a_refused_request_names_the_field_before_anything_is_sent(tmp_path):
    env = {**os.environ, "GENPLATE_DATA_DIR": str(tmp_path / "data")}
    proc = genplate("generate", "a cat", "--resolution", "360p", "--hdr", "--json", env=env,
                    check=False)
    assert proc.returncode != 0
    error = json.loads(proc.stdout)["error"]
    assert "hdr" in error and "720p" in error
    assert not (tmp_path / "data" / "offline").exists() or not any((tmp_path / "data" / "offline").iterdir())


def test_annotation_strokes_are_saved_with_the_take(tmp_path):
    env = {**os.environ, "GENPLATE_DATA_DIR": str(tmp_path / "data")}
    strokes = tmp_path / "strokes.json"
    strokes.write_text(json.dumps([{"kind": "arrow", "points": [[0.2, 0.5], [0.8, 0.5]]}]))
    out = json.loads(genplate("generate", "a kite over a beach", "--strokes", str(strokes),
                              "--root", str(tmp_path / "takes"), "--json", env=env).stdout)
    record = json.loads(Path(out["take_json"]).read_text())
    assert record["strokes"][0]["kind"] == "arrow"
    assert record["strokes"][0]["points"] == [[0.2, 0.5], [0.8, 0.5]]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = genplate("generate", "a kite", "--strokes", str(bad), "--json", env=env, check=False)
    assert proc.returncode == 2 and "--strokes" in json.loads(proc.stdout)["error"]


def test_generate_takes_the_same_publish_options_as_ingest(tmp_path):
    env = {**os.environ, "GENPLATE_DATA_DIR": str(tmp_path / "data")}
    out = json.loads(genplate("generate", "a tram crossing a bridge in fog", "--pixel-type", "float",
                              "--output", "tiff16", "--root", str(tmp_path / "takes"), "--json",
                              env=env).stdout)
    record = json.loads(Path(out["take_json"]).read_text())
    assert record["exr"]["pixel_type"] == "float"
    spec = oiio.ImageInput.open(out["pattern"] % 1001)
    assert spec.spec().format == oiio.TypeDesc("float")
    spec.close()
    assert list(Path(out["dir"]).rglob("*.tif")), "the extra output is published with the take"


def test_a_bad_publish_option_is_refused_before_anything_is_recorded(tmp_path):
    env = {**os.environ, "GENPLATE_DATA_DIR": str(tmp_path / "data")}
    proc = genplate("generate", "a tram", "--output", "webm", "--json", env=env, check=False)
    assert proc.returncode == 2 and "webm" in json.loads(proc.stdout)["error"]
    jobs = json.loads(genplate("jobs", "--json", env=env).stdout)["jobs"]
    assert jobs == []
