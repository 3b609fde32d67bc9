"""Shot lists for the farm: CSV, JSON and OTIO read into rows; every bad cell named by its row and
column, all at once, before a bundle is written or a root is touched."""
from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
import pytest

from genplate.core.cli import main as cli
from genplate.core.farm.rows import ShotListError
from genplate.core.farm.shotlist import read_shot_list
from keyframes import write_png


def bundle(args: list[str], capsys) -> tuple[int, dict]:
    code = cli.main(["farm", "bundle", *args, "--backend", "offline", "--json"])
    return code, json.loads(capsys.readouterr().out)


# -- CSV -------------------------------------------------------------------------------------------

def test_a_csv_row_sets_every_request_option_and_images_are_found_beside_the_list(tmp_path):
    write_png(tmp_path / "refs" / "kf_000.png")
    write_png(tmp_path / "refs" / "kf_096.png", 2)
    write_png(tmp_path / "refs" / "start.png", 3)
    (tmp_path / "shots.csv").write_text(
        "Shot,Prompt,Name,Duration,Resolution,HDR,EXR,Keyframes,Drafts,Seed,Start Frame,"
        "# editor notes\n"
        'sh010,"a lighthouse, at dusk",light,10,720p,yes,1,"0=refs/kf_000.png; 96=refs/kf_096.png",'
        "3,7,,keep the beam\n"
        "sh020,a red kite,,,,,,,,,refs/start.png,\n"
        ",,,,,,,,,,,\n")
    rows = read_shot_list(tmp_path / "shots.csv")
    assert len(rows) == 2  # the empty line is skipped
    first, second = rows
    assert first.where == "shots.csv line 2"
    assert first.values == {
        "shot": "sh010", "prompt": "a lighthouse, at dusk", "name": "light", "duration": "10s",
        "resolution": "720p", "hdr": True, "exr": True, "drafts": 3, "seed": 7,
        "keyframes": [(0, str(tmp_path / "refs" / "kf_000.png")),
                      (96, str(tmp_path / "refs" / "kf_096.png"))]}
    assert second.values == {"shot": "sh020", "prompt": "a red kite",
                             "start_frame": str(tmp_path / "refs" / "start.png")}


def test_every_bad_cell_is_named_by_its_line_and_column_together(tmp_path):
    (tmp_path / "shots.csv").write_text(
        "shot,prompt,duration,drafts,hdr,keyframes\n"
        "sh010,a kite,7s,2,,\n"
        "sh020,,5s,0,maybe,\n"
        "sh030,a hill,,,,48=missing.png\n")
    with pytest.raises(ShotListError) as caught:
        read_shot_list(tmp_path / "shots.csv")
    problems = caught.value.problems
    assert any(p.startswith("shots.csv line 2, column 'duration': '7s' is not allowed")
               for p in problems), problems
    assert any(p.startswith("shots.csv line 3, column 'drafts': 0: 1 to 64") for p in problems)
    assert any(p.startswith("shots.csv line 3, column 'hdr': 'maybe'") for p in problems)
    assert any(p.startswith("shots.csv line 3, column 'prompt': empty") for p in problems)
    assert any(p.startswith("shots.csv line 4, column 'keyframes': 'missing.png': no such file")
               for p in problems)
    assert len(problems) == 5


def test_an_unknown_column_is_refused_and_a_hash_column_is_a_note(tmp_path):
    (tmp_path / "shots.csv").write_text("shot,prompt,duraton,# notes\nsh010,a kite,10s,x\n")
    with pytest.raises(ShotListError, match="column 'duraton' is not a shot list column"):
        read_shot_list(tmp_path / "shots.csv")
    (tmp_path / "ok.csv").write_text("shot,prompt,# notes\nsh010,a kite,x\n")
    assert read_shot_list(tmp_path / "ok.csv")[0].values == {"shot": "sh010", "prompt": "a kite"}


def test_a_json_list_takes_native_values_and_the_same_columns(tmp_path):
    write_png(tmp_path / "kf.png")
    (tmp_path / "shots.json").write_text(json.dumps({"shots": [
        {"shot": "sh010", "prompt": "a kite", "hdr": True, "drafts": 2,
         "keyframes": [{"index": 48, "path": "kf.png"}]},
        {"shot": "sh020", "prompt": "a hill", "keyframes": {"0": "kf.png"}, "seed": "3"},
    ]}))
    first, second = read_shot_list(tmp_path / "shots.json")
    assert first.where == "shots.json shot 1"
    assert first.values["keyframes"] == [(48, str(tmp_path / "kf.png"))]
    assert first.values["hdr"] is True and first.values["drafts"] == 2
    assert second.values["keyframes"] == [(0, str(tmp_path / "kf.png"))]
    assert second.values["seed"] == 3
    (tmp_path / "bad.json").write_text(json.dumps([{"shot": "sh010", "prompt": "x", "drafts": 1.5}]))
    with pytest.raises(ShotListError, match=r"bad.json shot 1, column 'drafts': 1.5"):
        read_shot_list(tmp_path / "bad.json")


# -- OTIO ------------------------------------------------------------------------------------------

def _marker(name: str, start: int, length: int, note: str = "", comment: str = "") -> otio.schema.Marker:
    marker = otio.schema.Marker(
        name=name, marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(start, 24),
                                                        otio.opentime.RationalTime(length, 24)))
    if comment:
        marker.comment = comment
    if note:  # how Resolve's export carries a marker's note
        marker.metadata["Resolve_OTIO"] = {"Keywords": [], "Note": note}
    return marker


def cut(tmp_path: Path, *, long_marker: bool = False) -> Path:
    """A Resolve-like cut: a clip with a marker, a named gap (a shot to come, its prompt on a
    marker inside it), an unnamed gap, and a timeline marker."""
    timeline = otio.schema.Timeline(name="reel 1",
                                    global_start_time=otio.opentime.RationalTime(86400, 24))
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    clip = otio.schema.Clip(name="plate", source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(1000, 24), otio.opentime.RationalTime(96, 24)))
    clip.markers.append(_marker("sh020", 1010, 300 if long_marker else 60,
                                note="a red kite over a green hill"))
    track.append(clip)
    gap = otio.schema.Gap(name="sh030", source_range=otio.opentime.TimeRange(
        duration=otio.opentime.RationalTime(200, 24)))
    gap.markers.append(_marker("", 10, 0, comment="rain on a tin roof"))
    gap.metadata["genplate"] = {"drafts": 3}
    track.append(gap)
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
        duration=otio.opentime.RationalTime(24, 24))))
    timeline.tracks.markers.append(_marker("sh010", 0, 1, note="a lighthouse at dusk"))
    path = tmp_path / "reel1.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def test_an_otio_cut_names_its_shots_by_markers_and_named_gaps_in_timeline_order(tmp_path):
    rows = read_shot_list(cut(tmp_path))
    assert [r.values for r in rows] == [
        {"shot": "sh010", "prompt": "a lighthouse at dusk"},           # a point: no duration
        {"shot": "sh020", "prompt": "a red kite over a green hill", "duration": "5s"},
        {"shot": "sh030", "prompt": "rain on a tin roof", "duration": "10s", "drafts": 3},
    ]
    assert rows[1].where == "reel1.otio marker 'sh020' at 01:00:00:10"
    assert rows[2].where == "reel1.otio gap 'sh030' at 01:00:04:00"


def test_an_otio_marker_longer_than_ray3_makes_is_refused_by_name(tmp_path):
    with pytest.raises(ShotListError, match=r"'sh020': 12.50 s long; Ray3 makes 5 s or 10 s"):
        read_shot_list(cut(tmp_path, long_marker=True))


# -- through the command: nothing written ----------------------------------------------------------

def test_a_bad_row_is_refused_before_the_bundle_or_the_root_exists(tmp_path, capsys):
    (tmp_path / "shots.csv").write_text("shot,prompt,resolution,hdr\nsh010,a kite,,\n"
                                        "sh020,a hill,360p,yes\n")
    out, root = tmp_path / "bundle", tmp_path / "takes"
    code, answer = bundle([str(tmp_path / "shots.csv"), "--out", str(out), "--root", str(root)],
                          capsys)
    assert code == 2
    assert "shots.csv line 3, column 'hdr': hdr=True is not allowed: only at 720p or 1080p" \
        in answer["error"]
    assert not out.exists() and not root.exists()


def test_a_request_option_from_the_command_line_is_named_as_such(tmp_path, capsys):
    write_png(tmp_path / "kf.png")
    (tmp_path / "shots.csv").write_text("shot,prompt\nsh010,a kite\n")
    code, answer = bundle([str(tmp_path / "shots.csv"), "--out", str(tmp_path / "b"),
                           "--keyframe", f"200={tmp_path / 'kf.png'}"], capsys)
    assert code == 2
    assert "shots.csv line 2: keyframes.index=200 is not allowed: a frame index 0..120" \
        in answer["error"]
    assert "(from the command line's --keyframe)" in answer["error"]


def test_two_rows_making_the_same_take_are_refused_naming_both(tmp_path, capsys):
    (tmp_path / "shots.csv").write_text("shot,prompt,name,drafts\nsh010,a kite,kite,2\n"
                                        "sh010,another kite,kite_d02,\n")
    code, answer = bundle([str(tmp_path / "shots.csv"), "--out", str(tmp_path / "b")], capsys)
    assert code == 2
    assert ("shots.csv line 3, column 'name': sh010/kite_d02 is already made by shots.csv line 2"
            in answer["error"])
    assert not (tmp_path / "b").exists()


def test_a_shot_name_that_is_not_a_folder_name_is_refused_at_bundle_time(tmp_path, capsys):
    (tmp_path / "shots.csv").write_text("shot,prompt\n../sh010,a kite\n")
    code, answer = bundle([str(tmp_path / "shots.csv"), "--out", str(tmp_path / "b")], capsys)
    assert code == 2
    assert "shots.csv line 2, column 'shot': shot name '../sh010' is not allowed" in answer["error"]
