"""Takes into Resolve: bins, one-clip import, colour space, placement, takes, metadata, colours."""
from __future__ import annotations

import json

import pytest

from fake_resolve import FakeResolve
from genplate.resolve import colour as C
from genplate.resolve import insert as I
from genplate.resolve import placement as P


def make_take(root, *, shot="sh010", name="castle", version=1, first=1001, last=1024,
              colorspace="ACEScg", latest=True, frames=True) -> dict:
    vdir = root / shot / name / f"v{version:03d}"
    vdir.mkdir(parents=True, exist_ok=True)
    pattern = vdir / f"{name}_v{version:03d}.%04d.exr"
    if frames:
        for f in range(first, last + 1):
            (vdir / f"{name}_v{version:03d}.{f:04d}.exr").write_bytes(b"v/1\x01")
    take_json = vdir / "take.json"
    take_json.write_text(json.dumps({"shot": shot, "name": name, "version": version}))
    return {"dir": str(vdir), "pattern": str(pattern), "first": first, "last": last,
            "colorspace": colorspace, "fps": 24, "version": version, "shot": shot,
            "name": name, "kind": "take", "latest": latest,
            "thumbnail": str(vdir / "thumbnail.png"), "take_json": str(take_json),
            "job_id": f"job{version}", "remote_id": f"gen-{version}", "prompt": "a castle at dusk"}


@pytest.fixture
def resolve():
    r = FakeResolve()
    r.project.add_timeline("Edit 1", tracks=2)
    return r


# -- plain data ------------------------------------------------------------------------------

def test_clip_info_is_one_sequence_with_explicit_indices(tmp_path):
    take = make_take(tmp_path)
    assert I.import_clip_info(take) == {"FilePath": take["pattern"], "StartIndex": 1001,
                                        "EndIndex": 1024}
    assert I.bin_path(take) == ["genplate", "sh010"]


def test_bad_takes_are_refused_before_resolve_is_touched(tmp_path):
    take = make_take(tmp_path, frames=False)
    with pytest.raises(I.InsertError, match="frame 1001 .* is missing"):
        I.check_take(take)
    with pytest.raises(I.InsertError, match="no frame number"):
        I.check_take({**make_take(tmp_path), "pattern": "/x/castle.exr"})
    with pytest.raises(I.InsertError, match="after its last"):
        I.check_take({**make_take(tmp_path), "first": 1030})
    with pytest.raises(I.InsertError, match="lacks"):
        I.check_take({"pattern": "x.%04d.exr"})


def test_free_track_search():
    occupied = {1: [(100, 200)], 2: [(150, 160)], 3: []}
    assert P.free_track(occupied, set(), 200, 50) == 1      # touching the end is free
    assert P.free_track(occupied, set(), 120, 10) == 2
    assert P.free_track(occupied, set(), 140, 50) == 3
    assert P.free_track(occupied, {3}, 140, 50) is None
    assert P.free_track({1: [(0, 10)]}, set(), 5, 1) is None


def test_provenance_holds_strings_and_no_secrets(tmp_path):
    data = I.provenance(make_take(tmp_path, version=3))
    assert data["genplate.version"] == "3" and data["genplate.frames"] == "1001-1024"
    assert all(isinstance(v, str) for v in data.values())
    assert not any("url" in k for k in data)


# -- bins and import -------------------------------------------------------------------------

def test_bin_per_shot_under_genplate_created_once(resolve, tmp_path):
    pool = resolve.project.media_pool
    a = I.ensure_bin(pool, ["genplate", "sh010"])
    b = I.ensure_bin(pool, ["genplate", "sh010"])
    c = I.ensure_bin(pool, ["genplate", "sh020"])
    assert a is b and a is not c
    assert [f.GetName() for f in pool.root.subfolders] == ["genplate"]
    assert [f.GetName() for f in pool.root.subfolders[0].subfolders] == ["sh010", "sh020"]


def test_import_makes_one_clip_in_the_shot_bin_and_restores_the_current_bin(resolve, tmp_path):
    take = make_take(tmp_path)
    pool = resolve.project.media_pool
    clip, folder, created = I.import_take(pool, take)
    assert created and folder.GetName() == "sh010" and folder.clips == [clip]
    assert resolve.world.called("ImportMedia") == [([I.import_clip_info(take)],)]
    assert pool.current_folder is pool.root


def test_reimport_of_the_same_version_reuses_the_clip(resolve, tmp_path):
    take = make_take(tmp_path)
    first = I.insert_take(resolve.project, take, on_timeline=False)
    second = I.insert_take(resolve.project, take, on_timeline=False)
    assert first["imported"] and not second["imported"]
    assert len(resolve.world.called("ImportMedia")) == 1


def test_individual_frames_import_is_undone_and_explained(resolve, tmp_path):
    resolve.world.show_individual_frames = True
    with pytest.raises(I.InsertError, match="Show Individual Frames"):
        I.import_take(resolve.project.media_pool, make_take(tmp_path))
    assert resolve.world.called("DeleteClips")
    assert all(not f.clips for f in resolve.project.media_pool.root.subfolders[0].subfolders)


# -- colour space ----------------------------------------------------------------------------

def test_colour_space_set_directly_in_a_colour_managed_project(resolve, tmp_path):
    clip, _f, _c = I.import_take(resolve.project.media_pool, make_take(tmp_path))
    got = C.set_input_colour_space(resolve.project, clip, "ACEScg")
    assert got == {"ocio": "ACEScg", "property": "Input Color Space", "value": "ACEScg",
                   "project_mode": C.RCM_MODE, "switched": False}
    assert clip.props["Input Color Space"] == "ACEScg"
    assert not [a for a in resolve.world.called("SetSetting")]


def test_colour_space_switches_the_colour_science_and_restores_it(resolve, tmp_path):
    project = resolve.project
    project.settings["colorScienceMode"] = "davinciYRGB"
    clip, _f, _c = I.import_take(project.media_pool, make_take(tmp_path))
    got = C.set_input_colour_space(project, clip, "ACES - ACES2065-1")
    assert got["switched"] and got["value"] == "ACES2065-1"
    assert clip.props["Input Color Space"] == "ACES2065-1"
    assert resolve.world.called("SetSetting") == [("colorScienceMode", C.RCM_MODE),
                                                  ("colorScienceMode", "davinciYRGB")]
    assert project.settings["colorScienceMode"] == "davinciYRGB"


def test_colour_space_restore_failure_is_loud(resolve, tmp_path):
    project = resolve.project
    project.settings["colorScienceMode"] = "davinciYRGB"
    resolve.world.refuse_science_restore = True
    clip, _f, _c = I.import_take(project.media_pool, make_take(tmp_path))
    with pytest.raises(C.ColourSpaceError, match="switched back to 'davinciYRGB'"):
        C.set_input_colour_space(project, clip, "ACEScg")


def test_colour_space_in_an_aces_project_uses_the_idt(resolve, tmp_path):
    project = resolve.project
    project.settings["colorScienceMode"] = "acescct"
    clip, _f, _c = I.import_take(project.media_pool, make_take(tmp_path))
    got = C.set_input_colour_space(project, clip, "ACEScg")
    assert got["property"] == "IDT" and got["value"] == "ACEScg - CSC" and not got["switched"]
    clip2, _f, _c = I.import_take(project.media_pool, make_take(tmp_path, version=2))
    assert C.set_input_colour_space(project, clip2, "aces_interchange")["value"] == \
        "No Input Transform"


def test_colour_space_tries_candidates_and_reads_back(resolve, tmp_path):
    resolve.world.rcm_names = {"ACES (AP1) Linear"}
    clip, _f, _c = I.import_take(resolve.project.media_pool, make_take(tmp_path))
    got = C.set_input_colour_space(resolve.project, clip, "ACEScg")
    assert got["value"] == "ACES (AP1) Linear"
    assert [a[1] for a in resolve.world.called("SetClipProperty")] == ["ACEScg",
                                                                       "ACES (AP1) Linear"]


def test_colour_space_refused_everywhere_names_the_manual_fix(resolve, tmp_path):
    resolve.world.rcm_names = set()
    clip, _f, _c = I.import_take(resolve.project.media_pool, make_take(tmp_path))
    with pytest.raises(C.ColourSpaceError, match="Clip Attributes > Color Space"):
        C.set_input_colour_space(resolve.project, clip, "ACEScg")
    with pytest.raises(C.ColourSpaceError, match="does not know"):
        C.set_input_colour_space(resolve.project, clip, "Some Camera Log")


def test_a_studio_table_comes_first(resolve, tmp_path, monkeypatch):
    table = tmp_path / "names.json"
    table.write_text(json.dumps({"rcm": {"ACEScg": "Studio ACEScg"}}))
    monkeypatch.setenv(C.TABLE_ENV, str(table))
    assert C.resolve_names("acescg", "rcm")[:2] == ["Studio ACEScg", "ACEScg"]


# -- metadata and clip colours ---------------------------------------------------------------

def test_provenance_and_editor_metadata_on_the_clip(resolve, tmp_path):
    take = make_take(tmp_path, version=2)
    result = I.insert_take(resolve.project, take, on_timeline=False)
    clip = resolve.project.media_pool.root.subfolders[0].subfolders[0].clips[0]
    assert clip.third_party["genplate.take_json"] == take["take_json"]
    assert clip.third_party["genplate.remote_id"] == "gen-2"
    assert clip.metadata["Shot"] == "sh010" and clip.metadata["Take"] == "castle v002"
    assert clip.metadata["Description"] == "a castle at dusk"
    assert I.read_provenance(clip)["version"] == "2"
    assert result["warnings"] == []


def test_refused_provenance_is_an_error(resolve, tmp_path):
    resolve.world.refuse_third_party_metadata = True
    with pytest.raises(I.InsertError, match="third-party metadata"):
        I.insert_take(resolve.project, make_take(tmp_path), on_timeline=False)


def test_latest_version_green_older_orange(resolve, tmp_path):
    I.insert_take(resolve.project, make_take(tmp_path, version=1), on_timeline=False)
    result = I.insert_take(resolve.project, make_take(tmp_path, version=2), on_timeline=False)
    assert result["clip_colours"] == {"v001": "Orange", "v002": "Green"}
    clips = resolve.project.media_pool.root.subfolders[0].subfolders[0].clips
    assert [c.colour for c in clips] == ["Orange", "Green"]


def test_a_refused_clip_colour_is_reported(resolve, tmp_path):
    resolve.world.refused_clip_colours = {"Green"}
    with pytest.raises(I.InsertError, match="clip colour 'Green'"):
        I.insert_take(resolve.project, make_take(tmp_path), on_timeline=False)


# -- timeline --------------------------------------------------------------------------------

@pytest.mark.parametrize("version, end_frame, rule", [
    ("21.0.0.40", 1025, "exclusive"),  # measured on Studio 21.0 (davinci-resolve-mcp #82)
    ("19.1.4.11", 1025, "exclusive"),
    ("18.6.6.7", 1024, "inclusive"),
])
def test_placed_at_the_playhead_on_the_first_free_track_with_every_frame(tmp_path, version,
                                                                         end_frame, rule):
    resolve = FakeResolve(version=version)
    resolve.project.add_timeline("Edit 1", tracks=2)
    timeline = resolve.project.current
    timeline.playhead = 86400 + 48
    timeline.occupy(1, 86400, 100)
    result = I.insert_take(resolve.project, make_take(tmp_path),
                           resolve_version=resolve.GetVersion())
    placed = result["timeline"]
    assert placed["mode"] == "clip" and placed["track"] == 2 and placed["record_frame"] == 86448
    (info,) = resolve.world.called("AppendToTimeline")[0][0]
    assert info["trackIndex"] == 2 and info["recordFrame"] == 86448
    assert (info["startFrame"], info["endFrame"]) == (1001, end_frame)
    item = timeline.tracks[1][0]
    assert item.start == 86448 and item.duration == 24 and item.colour == "Green"
    assert placed["end_frame"] == {"rule": rule, "expected": rule, "corrected": False}
    assert result["warnings"] == []


def test_a_resolve_counting_end_frames_the_other_way_is_measured_and_corrected(tmp_path):
    """The version split is a record of two releases; the placed length is what counts."""
    resolve = FakeResolve(version="18.6.6.7")
    resolve.world.end_frame_rule = "exclusive"
    resolve.project.add_timeline("Edit 1")
    result = I.insert_take(resolve.project, make_take(tmp_path),
                           resolve_version=resolve.GetVersion())
    (item,) = resolve.project.current.tracks[0]
    assert item.duration == 24 and item.start == 86400
    assert result["timeline"]["end_frame"] == {"rule": "exclusive", "expected": "inclusive",
                                               "corrected": True}
    ends = [args[0][0]["endFrame"] for args in resolve.world.called("AppendToTimeline")]
    assert ends == [1024, 1025] and resolve.world.called("DeleteClips")
    assert result["warnings"] == []


def test_a_frame_rate_mismatch_is_a_warning(tmp_path):
    resolve = FakeResolve()
    resolve.project.add_timeline("PAL", fps="25")
    result = I.insert_take(resolve.project, make_take(tmp_path))
    assert result["warnings"] == ["the take is 24 fps and the timeline 25 fps: Resolve plays "
                                  "its frames at the timeline's rate"]


def test_placed_on_a_chosen_track_and_frame(resolve, tmp_path):
    result = I.insert_take(resolve.project, make_take(tmp_path), track=2, record_frame=90000)
    assert result["timeline"]["track"] == 2 and result["timeline"]["record_frame"] == 90000


def test_a_busy_chosen_track_is_refused_before_appending(resolve, tmp_path):
    resolve.project.current.occupy(1, 86400, 100)
    with pytest.raises(I.PlacementError, match="V1 already has a clip"):
        I.insert_take(resolve.project, make_take(tmp_path), track=1)
    assert not resolve.world.called("AppendToTimeline")


def test_a_new_track_when_every_track_is_busy(resolve, tmp_path):
    timeline = resolve.project.current
    timeline.occupy(1, 86400, 100)
    timeline.occupy(2, 86400, 100)
    result = I.insert_take(resolve.project, make_take(tmp_path))
    assert result["timeline"]["track"] == 3 and resolve.world.called("AddTrack") == [("video", {})]


def test_locked_tracks_are_skipped(resolve, tmp_path):
    resolve.project.current.locked[1] = True
    assert I.insert_take(resolve.project, make_take(tmp_path))["timeline"]["track"] == 2


def test_placement_failure_is_detected(resolve, tmp_path):
    resolve.world.refuse_append = True
    with pytest.raises(I.PlacementError, match="did not place sh010/castle v001 on V1 at "
                                               "frame 86400"):
        I.insert_take(resolve.project, make_take(tmp_path))


def test_no_timeline_is_a_clear_error(tmp_path):
    resolve = FakeResolve()
    with pytest.raises(I.PlacementError, match="no timeline is open"):
        I.insert_take(resolve.project, make_take(tmp_path))


def test_a_new_version_stacks_as_a_take_on_the_timeline_item(resolve, tmp_path):
    timeline = resolve.project.current
    I.insert_take(resolve.project, make_take(tmp_path, version=1))
    timeline.playhead = 90000  # elsewhere: stacking must not depend on the playhead
    result = I.insert_take(resolve.project, make_take(tmp_path, version=2))
    assert result["timeline"]["mode"] == "take"
    assert result["timeline"]["take_index"] == 2 and result["timeline"]["added"]
    (item,) = timeline.tracks[0]
    assert item.GetTakesCount() == 2 and item.GetSelectedTakeIndex() == 2
    assert I.read_provenance(item.GetMediaPoolItem())["version"] == "2"
    assert len(resolve.world.called("AppendToTimeline")) == 1
    # The whole take, by AddTake's own default (README: "the full clip extents"), so its end
    # frame's counting (open for AddTake, hosts.md §9) never decides the take's length.
    assert [len(args) for args in resolve.world.called("AddTake")] == [1]
    # A third version stacks too, and re-inserting v2 only selects it again.
    I.insert_take(resolve.project, make_take(tmp_path, version=3))
    again = I.insert_take(resolve.project, make_take(tmp_path, version=2))
    assert again["timeline"] == {**again["timeline"], "take_index": 2, "added": False}
    assert item.GetTakesCount() == 3 and item.GetSelectedTakeIndex() == 2


def test_inserting_the_same_version_again_adds_nothing_to_the_timeline(resolve, tmp_path):
    I.insert_take(resolve.project, make_take(tmp_path))
    again = I.insert_take(resolve.project, make_take(tmp_path))
    assert again["timeline"]["mode"] == "already" and not again["imported"]
    assert len(resolve.world.called("AppendToTimeline")) == 1
    assert not resolve.world.called("AddTake")


def test_stacking_can_be_turned_off(resolve, tmp_path):
    I.insert_take(resolve.project, make_take(tmp_path, version=1))
    result = I.insert_take(resolve.project, make_take(tmp_path, version=2), stack=False)
    assert result["timeline"]["mode"] == "clip" and result["timeline"]["track"] == 2


def test_drop_frame_playhead(tmp_path):
    resolve = FakeResolve()
    timeline = resolve.project.add_timeline("NTSC", fps="29.97", drop=True, start_frame=107892)
    timeline.playhead = 107892 + 1800
    assert P.playhead_frame(resolve.project, timeline) == 107892 + 1800
