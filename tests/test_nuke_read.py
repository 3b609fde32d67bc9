"""Read insertion in a recording fake of Nuke (tests/fake_nuke.py, after docs/hosts.md)."""
from __future__ import annotations

import importlib
import json
import threading

import pytest

import fake_nuke


@pytest.fixture
def nuke_for(request):
    """install(config) -> (fake nuke, genplate.nuke.read) freshly imported against it."""
    def install(config="aces_1.3", gui=True, list_form="recorded"):
        nuke = fake_nuke.install(config=config, gui=gui, list_form=list_form)
        read = importlib.import_module("genplate.nuke.read")
        return nuke, read

    yield install
    fake_nuke.uninstall()


def publish(root, shot="sh010", name="harbour", version=1, colorspace="ACEScg",
            first=1001, last=1121, kind="draft", prompt="harbour at dawn"):
    """A take folder as core/takes/ publishes it, and its summary as `takes --json` prints."""
    d = root / shot / name / f"v{version:03d}"
    d.mkdir(parents=True)
    (d / "take.json").write_text(json.dumps({"shot": shot, "name": name, "version": version}))
    return {"dir": str(d), "pattern": str(d / f"{name}_v{version:03d}.%04d.exr"),
            "first": first, "last": last, "colorspace": colorspace, "fps": 24,
            "version": version, "shot": shot, "name": name, "kind": kind, "latest": True,
            "thumbnail": str(d / "thumbnail.png"), "take_json": str(d / "take.json"),
            "job_id": f"j{version}", "remote_id": f"r{version}", "prompt": prompt}


@pytest.mark.parametrize("config, form, expected", [
    # The recorded list (ayon-nuke PR #60): roles come bare, so which space a role stands for
    # cannot be read from it; the space's own name (element 0 of its entry) is the safe value.
    ("aces_1.3", "recorded", "ACEScg"),
    ("aces_2.0", "recorded", "ACEScg"),
    ("aces_1.2", "recorded", "ACES - ACEScg"),
    ("linear_709_studio", "recorded", "ACEScg"),
    # The older role<TAB>(space) list: a role whose space is the take's follows the config.
    ("aces_1.3", "role_space", "scene_linear"),
    ("aces_2.0", "role_space", "scene_linear"),
    ("aces_1.2", "role_space", "scene_linear"),
    ("linear_709_studio", "role_space", "ACEScg"),  # its scene_linear is not the take's space
])
def test_read_gets_every_knob_right_in_each_config(nuke_for, tmp_path, config, form, expected):
    nuke, read = nuke_for(config, list_form=form)
    take = publish(tmp_path)
    made = read.insert_take(take)
    node = nuke.toNode(made["node"])
    assert node.Class() == "Read" and made["colorspace"] == expected
    assert ("fromUserText", node.name(), f"{take['pattern']} 1001-1121") in nuke.recorder.calls \
        or any(c[0] == "fromUserText" and c[2] == f"{take['pattern']} 1001-1121"
               for c in nuke.recorder.calls)
    assert node["file"].value() == take["pattern"]
    assert [node[k].value() for k in ("first", "last", "origfirst", "origlast")] == \
        [1001, 1121, 1001, 1121]
    assert node["colorspace"].value() == expected
    assert node["raw"].value() is False
    assert node["on_error"].value() == "error"  # the same as the .nk export: damage stops a render
    assert node["frame_mode"].value() != "start at"  # the take already starts at the shot
    assert node["label"].value().startswith("sh010/harbour v001")
    assert "ACEScg" in node["label"].value()
    hidden = node.knob(read.PROVENANCE_KNOB)
    assert hidden is not None and not hidden.visible()
    data = json.loads(hidden.value())
    assert data["dir"] == take["dir"] and data["version"] == 1 and data["job_id"] == "j1"
    assert node.name() == "gp_sh010_harbour_v001"


@pytest.mark.parametrize("form, expected", [("recorded", "ACES2065-1"),
                                            ("role_space", "aces_interchange")])
def test_aces2065_takes_get_their_space_or_its_known_role(nuke_for, tmp_path, form, expected):
    nuke, read = nuke_for("aces_2.0", list_form=form)
    made = read.insert_take(publish(tmp_path, colorspace="ACES2065-1"))
    assert made["colorspace"] == expected
    assert nuke.toNode(made["node"])["colorspace"].value() == expected


def test_a_config_without_the_space_refuses_and_leaves_nothing(nuke_for, tmp_path):
    nuke, read = nuke_for("nuke-default")
    with pytest.raises(read.ReadError, match="has no colour space 'ACEScg'.*OCIO config"):
        read.insert_take(publish(tmp_path))
    assert nuke.allNodes("Read") == []
    assert nuke.recorder.undo_stack == []  # the undo group was closed, not left open
    # ... and cancelled: no empty "genplate: insert" step in the artist's Edit > Undo.
    assert nuke.recorder.undo_groups == [] and ("Undo.cancel",) in nuke.recorder.calls


def test_choose_colorspace_reads_every_list_form(nuke_for):
    _nuke, read = nuke_for()
    ReadError, choose_colorspace = read.ReadError, read.choose_colorspace
    aces13, aces20 = fake_nuke.CONFIGS["aces_1.3"], fake_nuke.CONFIGS["aces_2.0"]

    recorded = fake_nuke.colorspace_entries(aces13, "recorded")
    assert recorded[0].startswith("default (")
    assert choose_colorspace(recorded, "ACEScg") == "ACEScg"
    assert choose_colorspace(recorded, "ACES2065-1") == "ACES2065-1"
    assert choose_colorspace(recorded, "ACES - ACEScg") == "ACEScg"  # an ACES 1.2 name: alias
    assert choose_colorspace(recorded, "Linear Rec.709 (sRGB)") == "Linear Rec.709 (sRGB)"
    # ACES 2.0 renamed sRGB - Texture; the old name is one of its aliases.
    assert choose_colorspace(fake_nuke.colorspace_entries(aces20), "sRGB - Texture") == \
        "sRGB Encoded Rec.709 (sRGB)"
    # A bare role says nothing about its space: never chosen for a named space.
    assert choose_colorspace(["default (x)", "scene_linear", "ACEScg"], "ACEScg") == "ACEScg"
    with pytest.raises(ReadError):
        choose_colorspace(["default (ACEScg)", "scene_linear"], "ACEScg")
    # ... but a take recorded in a role's name gets that role.
    assert choose_colorspace(recorded, "aces_interchange") == "aces_interchange"

    old = fake_nuke.colorspace_entries(aces13, "role_space")
    assert choose_colorspace(old, "ACEScg") == "scene_linear"
    assert choose_colorspace(old, "ACEScct") == "color_timing"
    # The form of the first fakes ("role<TAB>role (space)") reads the same.
    assert choose_colorspace(["scene_linear\tscene_linear (ACEScg)", "ACEScg"], "ACEScg") == \
        "scene_linear"
    with pytest.raises(ReadError):
        choose_colorspace(recorded, "")
    with pytest.raises(ReadError):
        choose_colorspace(["default (ACEScg)"], "ACEScg")


def test_insertion_is_one_undo_step(nuke_for, tmp_path):
    nuke, read = nuke_for()
    read.insert_take(publish(tmp_path))
    groups = nuke.recorder.undo_groups
    assert len(groups) == 1 and groups[0]["name"].startswith("genplate: insert harbour v001")
    changes = groups[0]["changes"]
    assert "create Read" in changes
    assert any(".colorspace=" in c for c in changes) and any(".tile_color=" in c for c in changes)
    outside = [c for c in nuke.recorder.calls if c[0] == "change"]
    assert len(outside) == len(changes)  # nothing changed outside the group


def test_frames_align_to_the_shot_when_it_starts_elsewhere(nuke_for, tmp_path):
    nuke, read = nuke_for()
    made = read.insert_take(publish(tmp_path), start_at=1009)
    node = nuke.toNode(made["node"])
    assert node["frame_mode"].value() == "start at" and node["frame"].value() == "1009"
    assert node["origfirst"].value() == 1001  # the files on disk are not renumbered


def test_insert_from_a_worker_runs_on_the_main_thread(nuke_for, tmp_path):
    nuke, read = nuke_for()
    take = publish(tmp_path)
    result = {}

    def worker():
        result["made"] = read.insert_take(take)

    t = threading.Thread(target=worker, name="genplate-worker")
    t.start()
    ran = 0
    while t.is_alive() and ran == 0:
        ran = nuke.run_main_queue(timeout=0.05)
    t.join(10)
    assert result["made"]["colorspace"] == "ACEScg"
    assert any(c[0] == "executeInMainThreadWithResult" and c[2] == "genplate-worker"
               for c in nuke.recorder.calls)
    assert nuke.recorder.off_main == []  # every node change happened on the main thread


def test_a_refused_insert_from_a_worker_raises_there_not_none(nuke_for, tmp_path):
    """executeInMainThreadWithResult prints an exception and returns None (Foundry's
    executeInMain.py): the worker must still learn that and why the insert failed."""
    nuke, read = nuke_for("nuke-default")
    outcome = {}

    def worker():
        try:
            outcome["made"] = read.insert_take(publish(tmp_path))
        except Exception as exc:  # noqa: BLE001
            outcome["error"] = exc

    t = threading.Thread(target=worker, name="genplate-worker")
    t.start()
    while t.is_alive():
        nuke.run_main_queue(timeout=0.05)
    t.join(10)
    assert "made" not in outcome
    assert isinstance(outcome["error"], read.ReadError)
    assert "has no colour space 'ACEScg'" in str(outcome["error"])
    assert nuke.allNodes("Read") == [] and nuke.recorder.undo_groups == []


def test_the_same_version_twice_gets_two_names_that_keep_the_version(nuke_for, tmp_path):
    """setName(name, uncollide=True) is Nuke's signature; a collision must not renumber the
    version in the name (v001 must never read as v002)."""
    nuke, read = nuke_for()
    take = publish(tmp_path)
    first = nuke.toNode(read.insert_take(take)["node"])
    second = nuke.toNode(read.insert_take(take)["node"])
    assert first.name() == "gp_sh010_harbour_v001"
    assert second.name().startswith("gp_sh010_harbour_v001_") and second is not first


def test_provenance_survives_brackets_and_dollars(nuke_for, tmp_path):
    """JSON lives in a String_Knob read with getText(): an Eval knob would run it as TCL."""
    nuke, read = nuke_for()
    prompt = 'a kite [red] over "$5" hills'
    node = nuke.toNode(read.insert_take(publish(tmp_path, prompt=prompt))["node"])
    knob = node.knob(read.PROVENANCE_KNOB)
    assert knob.Class() == "String_Knob" and not knob.visible()
    assert read.take_of(node)["prompt"] == prompt


def test_provenance_on_reads_made_before_is_still_read(nuke_for, tmp_path):
    """Scripts saved by earlier versions keep it in a Multiline_Eval_String_Knob."""
    nuke, read = nuke_for()
    node = nuke.nodes.Read()
    old = nuke.Multiline_Eval_String_Knob(read.PROVENANCE_KNOB, "genplate take")
    node.addKnob(old)
    old.setValue('{"shot": "sh010", "name": "harbour", "version": 1, "prompt": "[x]"}')
    assert read.take_of(node)["prompt"] == "[x]"


def test_insert_here_refuses_a_worker_thread(nuke_for, tmp_path):
    nuke, read = nuke_for()
    errors = []
    t = threading.Thread(target=lambda: errors.append(
        pytest.raises(RuntimeError, read.insert_take_here, publish(tmp_path))))
    t.start()
    t.join(10)
    assert errors and nuke.allNodes("Read") == []


def test_latest_version_green_older_orange(nuke_for, tmp_path):
    nuke, read = nuke_for()
    v1 = publish(tmp_path, version=1)
    n1 = nuke.toNode(read.insert_take(v1)["node"])
    assert n1["tile_color"].value() == read.LATEST_COLOUR
    v2 = publish(tmp_path, version=2)
    n2 = nuke.toNode(read.insert_take(v2)["node"])
    assert n2["tile_color"].value() == read.LATEST_COLOUR
    assert n1["tile_color"].value() == read.OUTDATED_COLOUR
    other = nuke.toNode(read.insert_take(publish(tmp_path, name="pier"))["node"])
    assert other["tile_color"].value() == read.LATEST_COLOUR  # another take is not older


def test_an_old_version_is_orange_even_when_it_is_the_only_one_in_the_script(nuke_for, tmp_path):
    nuke, read = nuke_for()
    v1 = publish(tmp_path, version=1)
    publish(tmp_path, version=2)  # published, not in the script
    node = nuke.toNode(read.insert_take(v1)["node"])
    assert node["tile_color"].value() == read.OUTDATED_COLOUR


@pytest.mark.parametrize("bad, message", [
    ({"first": None}, "no first/last"),
    ({"first": 1200}, "empty"),
    ({"pattern": "/takes/a.exr"}, "no frame number"),
])
def test_a_broken_summary_is_refused_before_any_node(nuke_for, tmp_path, bad, message):
    nuke, read = nuke_for()
    take = {**publish(tmp_path), **bad}
    with pytest.raises(read.ReadError, match=message):
        read.insert_take(take)
    assert nuke.allNodes("Read") == [] and nuke.recorder.undo_groups == []
