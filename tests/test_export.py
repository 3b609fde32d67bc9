"""Exports without a host: the Nuke snippet (read back with a small TCL reader that follows the
quoting rules Nuke applies to .nk text) and the OTIO timeline (read back with OpenTimelineIO)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import opentimelineio as otio
import pytest

from genplate.core.takes import take as T
from genplate.core.takes.export_nuke import (LATEST_TILE_COLOR, OLDER_TILE_COLOR, nuke_snippet,
                                             tcl_quote, write_nuke_snippet)
from genplate.core.takes.export_otio import write_otio
from genplate.core.takes.layout import TakeError

from test_takes import publish_fake_take

NASTY = 'a "quoted" {brace} [exec rm -rf /] $HOME \\ back\\slash\nsecond line\ttab }{ ]['


# -- a TCL reader: words the way Nuke's .nk parser splits them ---------------------------------

class Unescaped(AssertionError):
    """Text Nuke would evaluate ([...] or $var) outside a braced word."""


_BACKSLASH = {"n": "\n", "t": "\t", "r": "\r"}


def tcl_commands(text: str) -> list[list[str]]:
    """Split TCL text into commands of words. Quoted and bare words get backslash substitution
    (and may not hold a bare ``[`` or ``$``); braced words keep their text as written."""
    commands: list[list[str]] = []
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t":
            i += 1
        elif ch in "\n;":
            if words:
                commands.append(words)
                words = []
            i += 1
        elif ch == "{":
            depth, j = 1, i + 1
            while depth:
                if j >= n:
                    raise AssertionError(f"unbalanced braces from offset {i}")
                if text[j] == "\\":
                    j += 2
                    continue
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            words.append(text[i + 1:j - 1])
            i = j
        else:
            quoted = ch == '"'
            j = i + 1 if quoted else i
            out = []
            while True:
                if j >= n:
                    if quoted:
                        raise AssertionError(f"unterminated quote from offset {i}")
                    break
                c = text[j]
                if quoted and c == '"':
                    j += 1
                    break
                if not quoted and c in " \t\n;":
                    break
                if c == "\\":
                    nxt = text[j + 1]
                    out.append(_BACKSLASH.get(nxt, nxt))
                    j += 2
                    continue
                if c in "[$":
                    near = text[max(0, j - 30):j + 30]
                    raise Unescaped(f"unescaped {c!r} at offset {j}: {near!r}")
                out.append(c)
                j += 1
            words.append("".join(out))
            i = j
    if words:
        commands.append(words)
    return commands


def read_snippet(text: str) -> list[dict]:
    """The snippet's Read nodes as {knob: value}, user knobs under "addUserKnob"."""
    header, version, rest = text.split("\n", 2)
    assert header == "set cut_paste_input [stack 0]"
    assert version.startswith("version ") and len(version.split()) == 3
    nodes = []
    for command in tcl_commands(rest):
        assert len(command) == 2 and command[0] == "Read", command
        knobs: dict = {"addUserKnob": []}
        for words in tcl_commands(command[1]):
            assert len(words) == 2, words
            key, value = words
            if key == "addUserKnob":
                knobs["addUserKnob"].append(value)
            else:
                assert key not in knobs, f"knob {key} twice"
                knobs[key] = value
        nodes.append(knobs)
    return nodes


def test_the_reader_refuses_what_nuke_would_evaluate():
    with pytest.raises(Unescaped):
        tcl_commands('label "[value name]"')
    with pytest.raises(Unescaped):
        tcl_commands("label $HOME")
    with pytest.raises(AssertionError, match="unbalanced"):
        tcl_commands('Read {\n label "{"\n}')
    assert tcl_commands('a "x\\[y\\]\\n" {b {c}}') == [["a", "x[y]\n", "b {c}"]]


# -- the Nuke snippet --------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    NASTY, "", "plain", "ACES - ACEScg", "C:/show/a b.%04d.exr", "#comment", "tail\\",
    "\u00e9t\u00e9 \u6771\u4eac", "x;y", "}", "{"])
def test_tcl_quote_reads_back_as_the_same_text(text):
    word = tcl_quote(text)
    assert tcl_commands(f"knob {word}") == [["knob", text]]
    # Inside a node's braces too: escaped braces never change the nesting.
    (block,) = tcl_commands(f"Read {{\n knob {word}\n}}")
    assert tcl_commands(block[1]) == [["knob", text]]


def test_tcl_quote_writes_the_escapes_nuke_writes():
    assert tcl_quote(NASTY) == (
        '"a \\"quoted\\" \\{brace\\} \\[exec rm -rf /] \\$HOME \\\\ back\\\\slash\\nsecond line'
        '\\ttab \\}\\{ ]\\["')
    assert tcl_quote("ACEScg") == "ACEScg"
    assert tcl_quote("/show/sh010/road_v001.%04d.exr") == "/show/sh010/road_v001.%04d.exr"
    assert tcl_quote("bell\x07") == '"bell"'


def test_a_read_node_carries_every_knob(tmp_path):
    take = publish_fake_take(tmp_path, "sh010", "road", job_id="jA", first=1001, count=3,
                             width=8, height=4, kind="draft")
    text = nuke_snippet([take])
    (node,) = read_snippet(text)
    provenance = json.loads(node.pop("genplate_provenance"))
    plugin_take = json.loads(node.pop("genplate_take"))
    assert node == {
        "inputs": "0",
        "file_type": "exr",
        "file": str(take.dir / "road_v001.%04d.exr").replace("\\", "/"),
        "format": "8 4 0 0 8 4 1 ",
        "first": "1001", "last": "1003", "origfirst": "1001", "origlast": "1003",
        "origset": "true",
        "on_error": "error",
        "colorspace": "ACEScg",
        "raw": "false",
        "name": "road_v001",
        "label": "sh010/road v001\ndraft \u00b7 ACEScg",
        "tile_color": f"0x{LATEST_TILE_COLOR:08x}",
        "xpos": "0", "ypos": "0",
        "addUserKnob": ["20 genplate", '43 genplate_take l "genplate take" +INVISIBLE',
                        "43 genplate_provenance l provenance +INVISIBLE"],
    }
    # What plugins/nuke/read.py keeps on the Reads it makes (take_of reads it to recolour
    # versions), so a pasted node is a genplate Read to the plugin too.
    summary = take.summary()
    assert plugin_take == {k: summary[k] for k in (
        "shot", "name", "version", "kind", "dir", "pattern", "first", "last", "colorspace", "fps",
        "take_json", "job_id", "remote_id", "prompt")}
    assert provenance == take.provenance()
    assert provenance["job_id"] == "jA" and provenance["remote_id"] == "off-jA"
    assert provenance["colour"]["working_space"] == "ACEScg"
    assert provenance["frames"] == {"first": 1001, "last": 1003, "count": 3, "fps": 24,
                                    "width": 8, "height": 4}
    assert provenance["take_json"] == str(take.dir / "take.json")
    # The file knob names real frames.
    assert all(Path(node["file"] % f).is_file() for f in (1001, 1003))


def test_a_nasty_prompt_and_path_survive_the_round_trip(tmp_path):
    root = tmp_path / 'my takes [x] $HOME {y} "q"'
    take = publish_fake_take(root, "sh010", "road", prompt=NASTY,
                             colorspace="ACES - ACEScg")
    text = nuke_snippet([take])
    (node,) = read_snippet(text)  # raises if any [ or $ is left for Nuke to evaluate
    assert json.loads(node["genplate_provenance"])["request"]["prompt"] == NASTY
    assert node["file"] == take.pattern
    assert Path(node["file"] % 1001).is_file()
    assert node["colorspace"] == "ACES - ACEScg"
    assert node["label"] == "sh010/road v001\ndraft \u00b7 ACES - ACEScg"
    assert json.loads(node["genplate_take"])["prompt"] == NASTY
    # Braces balance when counted the way a node block is split (escaped ones don't count).
    body = text.split("\n", 2)[2]
    depth = 0
    i = 0
    while i < len(body):
        if body[i] == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(body[i], 0)
        assert depth >= 0
        i += 1
    assert depth == 0
    # The escaped text itself, as it stands in the file.
    # The prompt inside the provenance JSON, as it stands in the file (JSON-escaped, then TCL).
    assert ('a \\\\\\"quoted\\\\\\" \\{brace\\} \\[exec rm -rf /] \\$HOME \\\\\\\\ back'
            in text)
    # And the path: every character Nuke would act on escaped, the rest as is.
    assert 'my takes \\[x] \\$HOME \\{y\\} \\"q\\"/sh010/road/v001/road_v001.%04d.exr' in text


def test_versions_side_by_side_latest_green_older_orange(tmp_path):
    v1 = publish_fake_take(tmp_path, "sh010", "road")
    v2 = publish_fake_take(tmp_path, "sh010", "road", kind="master")
    v1 = T.load_take(v1.dir)  # loaded after v002 exists: no longer the latest
    nodes = read_snippet(nuke_snippet([v1, v2]))
    assert [n["name"] for n in nodes] == ["road_v001", "road_v002"]
    assert [n["tile_color"] for n in nodes] == [f"0x{OLDER_TILE_COLOR:08x}",
                                                f"0x{LATEST_TILE_COLOR:08x}"]
    assert [n["label"].split("\n")[1] for n in nodes] == ["draft \u00b7 ACEScg",
                                                          "master \u00b7 ACEScg"]
    xs = [int(n["xpos"]) for n in nodes]
    assert xs[1] - xs[0] >= 100 and {n["ypos"] for n in nodes} == {"0"}
    assert LATEST_TILE_COLOR != OLDER_TILE_COLOR


def test_node_names_stay_valid_and_unique(tmp_path):
    a = publish_fake_take(tmp_path, "sh010", "2nd.try-a")
    b = publish_fake_take(tmp_path, "sh020", "2nd.try-a")
    names = [n["name"] for n in read_snippet(nuke_snippet([a, b, a]))]
    assert names[0] == "_2nd_try_a_v001"
    assert len(set(names)) == 3
    assert all(name.replace("_", "a").isalnum() and not name[0].isdigit() for name in names)


def test_the_format_comes_from_the_frames_when_take_json_lacks_it(tmp_path):
    take = publish_fake_take(tmp_path, width=10, height=6, size_known=False)
    assert take.width is None
    (node,) = read_snippet(nuke_snippet([take]))
    assert node["format"] == "10 6 0 0 10 6 1 "


def test_no_url_reaches_the_snippet_or_the_timeline(tmp_path):
    take = publish_fake_take(
        tmp_path, prompt="match https://ref.example/a.jpg?X-Amz-Signature=SIG1",
        request_extra={"start_frame": {"url": "https://cdn.example/k.png?sig=SIG2"}})
    nk = write_nuke_snippet([take], tmp_path / "out.nk").read_text()
    timeline = write_otio([take], tmp_path / "out.otio").read_text()
    for text in (nk, timeline):
        assert "SIG1" not in text and "SIG2" not in text and "cdn.example" not in text


def test_the_snippet_is_written_atomically(tmp_path):
    take = publish_fake_take(tmp_path / "takes")
    out = tmp_path / "nk" / "road.nk"
    assert write_nuke_snippet([take], out) == out
    out.write_text("old")
    write_nuke_snippet([take], out)
    assert out.read_text() == nuke_snippet([take])
    assert sorted(p.name for p in out.parent.iterdir()) == ["road.nk"]


def test_nothing_to_export_is_an_error(tmp_path):
    with pytest.raises(TakeError, match="no takes"):
        write_nuke_snippet([], tmp_path / "x.nk")
    with pytest.raises(TakeError, match="no takes"):
        write_otio([], tmp_path / "x.otio")
    assert not any(tmp_path.iterdir())


# -- OTIO ----------------------------------------------------------------------------------------

def test_the_otio_timeline_reads_back(tmp_path):
    root = tmp_path / "show takes #1"
    a = publish_fake_take(root, "sh010", "road", first=1001, count=3, prompt=NASTY)
    b = publish_fake_take(root, "sh010", "road", first=1001, count=2)
    c = publish_fake_take(root, "sh020", "alley", first=1, count=4)
    out = write_otio([a, b, c], tmp_path / "out" / "takes.otio", name="dailies")
    assert sorted(p.name for p in out.parent.iterdir()) == ["takes.otio"]

    timeline = otio.adapters.read_from_file(str(out))
    assert timeline.name == "dailies"
    (track,) = timeline.tracks
    assert track.kind == otio.schema.TrackKind.Video
    clips = list(timeline.find_clips())
    assert [c.name for c in clips] == ["sh010_road_v001", "sh010_road_v002", "sh020_alley_v001"]
    assert [c.source_range.duration.value for c in clips] == [3, 2, 4]
    assert [c.source_range.start_time.value for c in clips] == [1001, 1001, 1]
    assert track.duration() == otio.opentime.RationalTime(9, 24)
    # One after the other on the track.
    assert [track.range_of_child_at_index(i).start_time.value for i in range(3)] == [0, 3, 5]
    for clip, take in zip(clips, (a, b, c)):
        ref = clip.media_reference
        assert isinstance(ref, otio.schema.ImageSequenceReference)
        assert ref.rate == 24 and clip.source_range.duration.rate == 24
        assert ref.start_frame == take.first and ref.frame_zero_padding == 4
        assert ref.name_prefix == f"{take.basename}." and ref.name_suffix == ".exr"
        assert ref.target_url_base.startswith("file://") and ref.target_url_base.endswith("/")
        assert ref.available_range == clip.source_range
        assert ref.number_of_images_in_sequence() == take.count
        assert ref.end_frame() == take.last
        first_url = ref.target_url_for_image_number(0)
        last_url = ref.target_url_for_image_number(take.count - 1)
        assert Path(otio.url_utils.filepath_from_url(first_url)) == Path(take.pattern % take.first)
        assert Path(otio.url_utils.filepath_from_url(last_url)).is_file()
        assert dict(clip.metadata["genplate"]) == json.loads(json.dumps(take.provenance()))
    assert clips[0].metadata["genplate"]["request"]["prompt"] == NASTY


def test_the_otio_timeline_is_named_after_the_shot_by_default(tmp_path):
    take = publish_fake_take(tmp_path, "sh030", "road")
    timeline = otio.adapters.read_from_file(str(write_otio([take], tmp_path / "t.otio")))
    assert timeline.name == "sh030 takes"
    assert os.path.getsize(tmp_path / "t.otio") > 0
