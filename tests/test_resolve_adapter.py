"""ResolveAdapter: Resolve's context, frames from the timeline as PNGs, insertion for the panel."""
from __future__ import annotations

import threading

import pytest

from fake_resolve import FakeResolve
from genplate.resolve import adapter as A
from test_resolve_insert import make_take


@pytest.fixture
def resolve():
    r = FakeResolve()
    r.project.add_timeline("Edit 1", tracks=2)
    return r


@pytest.fixture
def adapter(resolve, tmp_path):
    return A.ResolveAdapter(resolve, still_dir=str(tmp_path / "stills"), root="/takes")


@pytest.fixture(autouse=True)
def _still_dir(tmp_path):
    (tmp_path / "stills").mkdir()


def test_context_has_project_timeline_rate_playhead_and_markers(resolve, adapter):
    timeline = resolve.project.current
    timeline.playhead = 86400 + 50
    timeline.AddMarker(96.0, "Blue", "end", "", 1.0, "")
    ctx = adapter.context()
    assert ctx["host"] == "resolve" and ctx["project"] == "genplate test"
    assert ctx["timeline"] == "Edit 1" and ctx["fps"] == 24.0 and ctx["drop_frame"] is False
    assert ctx["playhead_timecode"] == "01:00:02:02" and ctx["playhead_frame"] == 86450
    assert ctx["markers"] == [{"frame": 86496, "name": "end", "note": "", "color": "Blue"}]
    assert ctx["studio"] is True and ctx["root"] == "/takes"
    assert ctx["shot"] == "Edit_1"  # no genplate clip under the playhead: the timeline's name
    assert A.shot_name("SH010 / comp v2") == "SH010_comp_v2" and A.shot_name("..") == ""


def test_context_shot_comes_from_the_clip_under_the_playhead(resolve, adapter, tmp_path):
    adapter.insert_take(make_take(tmp_path / "takes", shot="sh042"))
    resolve.project.current.playhead = 86405
    assert adapter.context()["shot"] == "sh042"


def test_context_without_a_timeline():
    ctx = A.ResolveAdapter(FakeResolve()).context()
    assert ctx["project"] == "genplate test" and "timeline" not in ctx and ctx["fps"] == 24


def test_grab_the_frame_under_the_playhead(resolve, adapter):
    resolve.project.current.playhead = 86420
    (path,) = adapter.grab_frames(["start"])
    assert path.endswith("start_86420.png")
    assert A.png_header(path)[2] == 8
    assert resolve.project.current.stills == [(86420, path)]
    assert not resolve.world.called("SetCurrentTimecode")


def test_grab_at_markers_and_chosen_frames_then_the_playhead_goes_back(resolve, adapter):
    timeline = resolve.project.current
    timeline.playhead = 86420
    timeline.AddMarker(96.0, "Blue", "end", "", 1.0, "")
    timeline.AddMarker(48.0, "Green", "", "keyframe:48", 1.0, "")
    adapter.choose_frame("start", 86401)
    paths = adapter.grab_frames(["start", "keyframe:48", "end", "keyframe:12"])
    assert [f for f, _p in timeline.stills] == [86401, 86448, 86496, 86420]
    assert [p.rsplit("/", 1)[1] for p in paths] == [
        "start_86401.png", "keyframe_48_86448.png", "end_86496.png", "keyframe_12_86420.png"]
    assert timeline.playhead == 86420
    adapter.choose_frame("start", None)
    assert A.frame_for_role("start", adapter.chosen_frames, [], 7) == (7, "playhead")


def test_grab_from_the_media_page_visits_the_edit_page_and_returns(resolve, adapter):
    resolve.page = "media"
    assert adapter.grab_frames(["start"])
    assert resolve.world.called("OpenPage") == [("edit",), ("media",)]
    assert resolve.page == "media"


def test_a_failed_export_falls_back_to_a_gallery_still_made_8_bit(resolve, adapter):
    resolve.project.still_failures = 1
    (path,) = adapter.grab_frames(["start"])
    assert A.png_header(path)[2] == 8  # the gallery wrote 16 bits; Qt converted it
    assert resolve.world.called("GrabStill") and resolve.world.called("DeleteStills")
    assert resolve.project.gallery.album.stills == []


def test_grab_failures_are_explained(resolve, adapter):
    with pytest.raises(A.GrabError, match="unknown frame role"):
        adapter.grab_frames(["middle"])
    resolve.project.still_failures = 1
    resolve.project.gallery.album = None
    with pytest.raises(A.GrabError, match="Color or Edit page"):
        adapter.grab_frames(["start"])


def test_insert_take_gives_the_panel_a_short_summary(adapter, tmp_path):
    made = adapter.insert_take(make_take(tmp_path / "takes"))
    assert made == {"bin": "genplate/sh010", "clip": "castle_v001.%04d.exr",
                    "colour": "Input Color Space ACEScg", "timeline": "Edit 1 V1 @ 86400"}
    assert adapter.last_insert["timeline"]["mode"] == "clip"
    made = adapter.insert_take(make_take(tmp_path / "takes", version=2))
    assert made["timeline"] == "take 2 of 2 on Edit 1"


def test_insert_options_reach_the_insertion(adapter, resolve, tmp_path):
    adapter.on_timeline = False
    adapter.insert_take(make_take(tmp_path / "takes"))
    assert not resolve.world.called("AppendToTimeline")


def test_run_on_main_thread_from_a_worker(qtbot, resolve, tmp_path):
    adapter = A.ResolveAdapter(resolve, still_dir=str(tmp_path / "stills"))
    ran = []
    worker = threading.Thread(
        target=adapter.run_on_main_thread,
        args=(lambda x: ran.append((x, threading.current_thread() is threading.main_thread())), 5))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: ran == [(5, True)], timeout=2000)
