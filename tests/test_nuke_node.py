"""The generate node, frame grabs and headless generation, in the recording fake of Nuke."""
from __future__ import annotations

import importlib
import json
import sys
import threading
import time
from pathlib import Path

import pytest

import fake_nuke
from test_nuke_read import publish
from test_panel import STUB


@pytest.fixture
def fake(request):
    def install(config="aces_1.3", gui=True):
        nuke = fake_nuke.install(config=config, gui=gui)
        node = importlib.import_module("genplate.nuke.node")
        return nuke, node

    yield install
    fake_nuke.uninstall()


@pytest.fixture
def stub_engine(tmp_path, monkeypatch):
    script = tmp_path / "stub_genplate.py"
    script.write_text(STUB)
    state = tmp_path / "stub_state.json"
    monkeypatch.setenv("STUB_STATE", str(state))
    monkeypatch.setenv("STUB_SINGLE_ADVANCES", "1")
    monkeypatch.setenv("GENPLATE_ENGINE", f"{sys.executable} {script}")
    monkeypatch.setenv("GENPLATE_CONFIG_DIR", str(tmp_path / "config"))
    root = tmp_path / "takes"
    root.mkdir()

    def calls():
        log = state.with_suffix(".log")
        return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []

    return root, calls


REQUEST_KNOBS = ("prompt", "quality", "resolution", "duration", "aspect", "hdr", "exr", "loop",
                 "drafts", "input_frames", "keyframe_frames", "shot", "take_name", "root",
                 "first_frame", "align_to_input")
BUTTONS = ("generate", "promote", "refresh", "cancel")
STATE_KNOBS = ("take", "status", "progress", "last_error")


def test_the_node_has_a_knob_for_every_request_field_and_its_buttons(fake):
    nuke, N = fake()
    group = N.create({"shot": "sh040", "root": "/shows/x/takes", "first_frame": 1009})
    assert group.Class() == "Group" and N.is_generate_node(group)
    for name in REQUEST_KNOBS + BUTTONS + STATE_KNOBS:
        assert group.knob(name) is not None, name
    assert group["quality"].values() == ["draft", "master", "custom"]
    assert group["resolution"].values() == ["360p", "540p", "720p", "1080p"]
    assert group["duration"].values() == ["5s", "10s"]
    assert set(group["aspect"].values()) == {"16:9", "21:9", "4:3", "1:1", "3:4", "9:16"}
    assert group["shot"].value() == "sh040" and group["first_frame"].value() == 1009
    for name in BUTTONS:
        assert group[name].Class() == "PyScript_Knob"
        assert "genplate.nuke.node" in group[name].value()
    assert not group["takes_json"].visible() and not group["jobs_json"].visible()
    assert not group["progress"].enabled()
    assert "knob_changed" in group["knobChanged"].value()
    inner = {n.name(): n for n in group.nodes()}
    assert set(inner) == {"input", "take_read", "Output1"}
    assert inner["Output1"].input(0) is inner["input"]  # no take yet: the input passes through
    assert len(nuke.recorder.undo_groups) == 1  # creating the node is one undo step


def test_a_second_node_gets_the_next_name(fake):
    """setName(name, uncollide=True): Nuke's keyword (types-nuke); `uniquify` was a TypeError
    that left every node with Nuke's default name."""
    nuke, N = fake()
    first, second = N.create({}), N.create({})
    assert (first.name(), second.name()) == ("genplate_generate1", "genplate_generate2")


def test_brackets_and_dollars_in_the_prompt_and_takes_survive(fake, tmp_path):
    """The prompt is the artist's text and the takes are JSON: read raw (getText), never as
    TCL, which Nuke's Eval string knobs evaluate."""
    nuke, N = fake()
    group = N.create({"shot": "sh040", "root": "/r"})
    group["prompt"].setValue("a [red] kite, $5 budget look")
    assert N.fields_from_node(group).prompt == "a [red] kite, $5 budget look"
    take = {**publish(tmp_path), "prompt": "a [red] kite"}
    N.apply_takes(group, [take])
    assert group["take"].value() == "harbour v001 (draft)"
    from genplate.nuke import node_status

    assert node_status._takes(group)[0]["prompt"] == "a [red] kite"
    assert group["takes_json"].Class() == "String_Knob"


def test_a_take_that_fails_half_way_leaves_no_undo_step_and_no_half_set_read(
        fake, tmp_path, monkeypatch):
    nuke, N = fake()
    group = N.create({})
    before = len(nuke.recorder.undo_groups)
    real_apply = N.R.apply_plan

    def fails_half_way(node, plan, colorspace):
        node["file"].fromUserText(plan["file_text"])
        raise N.R.ReadError("the disk went away")

    monkeypatch.setattr(N.R, "apply_plan", fails_half_way)
    with pytest.raises(N.R.ReadError, match="disk went away"):
        N.show_take(group, publish(tmp_path))
    assert len(nuke.recorder.undo_groups) == before and ("Undo.cancel",) in nuke.recorder.calls
    assert group.node("take_read")["file"].value() == ""  # Undo.cancel undid the half
    monkeypatch.setattr(N.R, "apply_plan", real_apply)


def test_knobs_become_the_request(fake):
    nuke, N = fake()
    group = N.create({"shot": "sh040", "root": "/r"})
    group["prompt"].setValue("  gulls over the breakwater ")
    group["quality"].setValue("custom")
    group["resolution"].setValue("720p")
    group["hdr"].setValue(True)
    group["exr"].setValue(True)
    group["aspect"].setValue("21:9")
    fields = N.fields_from_node(group, grabbed={"start": "/tmp/s.png"})
    assert (fields.prompt, fields.quality, fields.resolution, fields.hdr, fields.exr,
            fields.aspect, fields.shot, fields.root, fields.start_frame) == \
        ("gulls over the breakwater", "custom", "720p", True, True, "21:9", "sh040", "/r",
         "/tmp/s.png")
    from genplate.panel.commands import submit_args

    args = submit_args(fields)
    assert "--hdr" in args and "--exr" in args and args[-1] == "gulls over the breakwater"


def test_the_take_starts_at_the_inputs_first_frame_unless_told_otherwise(fake):
    nuke, N = fake()
    group = N.create({"first_frame": 1001})
    group["prompt"].setValue("x")
    assert N.fields_from_node(group).first_frame == 1001  # no input: the knob
    group.setInput(0, _source(nuke, first=1009, last=1100))
    assert N.fields_from_node(group).first_frame == 1009
    group["align_to_input"].setValue(False)
    assert N.fields_from_node(group).first_frame == 1001


def _source(nuke, first=1001, last=1048):
    src = nuke.nodes.Read()
    src["first"].setValue(first)
    src["last"].setValue(last)
    return src


def test_input_frames_render_through_the_viewer_transform_for_those_frames_only(fake, tmp_path):
    nuke, N = fake("aces_2.0")
    viewer = nuke.nodes.Viewer()
    viewer["viewerProcess"].setValue("ACES 2.0 - SDR 100 nits (Rec.709) (sRGB - Display)")
    src = _source(nuke)
    group = N.create({})
    group.setInput(0, src)
    group["input_frames"].setValue("keyframes")
    group["keyframe_frames"].setValue("1013, 1037")
    assert N.input_frames_wanted(group) == {"keyframes": {12: 1013, 36: 1037}}
    before = len(nuke.recorder.undo_groups)
    grabbed = N.grab_input_frames(group)
    assert sorted(grabbed["keyframes"]) == [12, 36]
    for path in grabbed["keyframes"].values():
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [(f, l) for _w, f, l, _m in nuke.recorder.executed] == [(1013, 1013), (1037, 1037)]
    assert all(on_main for *_x, on_main in nuke.recorder.executed)
    sets = [c[1] for c in nuke.recorder.calls if c[0] == "change"]
    assert any(".display='sRGB - Display'" in c for c in sets)
    assert any(".view='ACES 2.0 - SDR 100 nits (Rec.709)'" in c for c in sets)
    assert any(".file_type='png'" in c for c in sets) and any(".datatype='8 bit'" in c for c in sets)
    assert any(".raw=True" in c for c in sets)  # the display transform already happened
    assert nuke.allNodes("Write") == [] and nuke.allNodes("OCIODisplay") == []  # cleaned up
    assert len(nuke.recorder.undo_groups) == before  # the grab is not in the artist's undo


@pytest.mark.parametrize("mode, expected", [
    ("start frame", {"start": 1001}),
    ("start and end frames", {"start": 1001, "end": 1048}),
    ("none", {}),
])
def test_input_modes(fake, mode, expected):
    nuke, N = fake()
    group = N.create({})
    group.setInput(0, _source(nuke))
    group["input_frames"].setValue(mode)
    assert N.input_frames_wanted(group) == expected


@pytest.mark.parametrize("frames, message", [("", "list the input frames"),
                                             ("1200", "outside"), ("x", "not a frame")])
def test_bad_keyframe_frames_are_refused_with_what_to_change(fake, frames, message):
    nuke, N = fake()
    group = N.create({})
    group.setInput(0, _source(nuke))
    group["input_frames"].setValue("keyframes")
    group["keyframe_frames"].setValue(frames)
    with pytest.raises(N.F.FrameGrabError, match=message):
        N.input_frames_wanted(group)


def test_input_mode_without_an_input_says_so_on_the_node(fake, stub_engine):
    nuke, N = fake()
    group = N.create({})
    group["prompt"].setValue("x")
    group["input_frames"].setValue("start frame")
    N.on_generate(group)
    assert group["status"].value() == "not sent"
    assert "needs something connected" in group["last_error"].value()
    assert not [c for c in stub_engine[1]() if c[0] == "submit"]


def test_takes_fill_the_selector_and_the_output_follows_it(fake, tmp_path):
    nuke, N = fake("aces_2.0")
    group = N.create({})
    v1, v2 = publish(tmp_path, version=1), publish(tmp_path, version=2)
    N.apply_takes(group, [v1, v2])
    assert group["take"].values() == ["harbour v002 (draft)", "harbour v001 (draft)"]
    assert group["take"].value() == "harbour v002 (draft)"
    read = group.node("take_read")
    output = group.node("Output1")
    assert output.input(0) is read
    assert read["file"].value() == v2["pattern"] and read["colorspace"].value() == "ACEScg"
    assert [read[k].value() for k in ("first", "last", "origfirst", "origlast")] == \
        [1001, 1121, 1001, 1121]
    assert read["raw"].value() is False and read.name() == "take_read"
    group["take"].setValue("harbour v001 (draft)")
    nuke._this, nuke._this_knob = group, group["take"]  # what Nuke sets for knobChanged
    exec(compile(group["knobChanged"].value(), "<knobChanged>", "exec"), {})
    assert read["file"].value() == v1["pattern"]
    assert group["label"].value() == "harbour v001"


def test_the_selector_offers_the_nodes_own_takes_once_it_has_some(fake, tmp_path):
    nuke, N = fake()
    group = N.create({})
    mine, other = publish(tmp_path, name="harbour"), publish(tmp_path, name="pier")
    N.apply_takes(group, [mine, other])
    assert len(group["take"].values()) == 2  # nothing made here yet: the shot's takes
    from genplate.nuke import node_status

    node_status._jobs_submitted(group, ["j1"], [], ["harbour"])
    N.apply_takes(group, [mine, other])
    assert group["take"].values() == ["harbour v001 (draft)"]
    assert not group["take_names_json"].visible()


def test_each_button_script_runs_its_handler_on_its_own_imports(fake, stub_engine):
    nuke, N = fake()
    group = N.create({})
    nuke._this = group
    group["generate"].execute()
    assert group["status"].value() == "not sent" and "write a prompt" in group["last_error"].value()
    group["promote"].execute()
    assert group["status"].value() == "choose a take to promote"
    group["cancel"].execute()
    assert group["status"].value() == "nothing to cancel"
    group["refresh"].execute()  # refresh with no jobs lists takes in a worker
    assert group["status"].value() == "refreshing…"


def test_generate_in_the_gui_follows_the_job_in_a_worker_and_changes_nodes_on_main(
        fake, stub_engine, tmp_path):
    nuke, N = fake()
    root, calls = stub_engine
    group = N.create({"shot": "sh040", "root": str(root)})
    group["prompt"].setValue("tidal pool macro")
    from genplate.nuke import follow

    monkey_poll = follow.POLL_SECONDS
    follow.POLL_SECONDS = 0.05
    try:
        N.on_generate(group)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and group["take"].value() == "(none)":
            nuke.run_main_queue(timeout=0.05)
    finally:
        follow.POLL_SECONDS = monkey_poll
    assert json.loads(group["take_names_json"].value()) == ["tidal"]
    assert group["take"].value() == "tidal v001 (draft)", (group["status"].value(),
                                                           group["last_error"].value())
    assert group["status"].value() == "done" and group["progress"].value() == 1.0
    assert json.loads(group["jobs_json"].value()) == []
    assert nuke.recorder.off_main == []  # the worker changed nothing itself
    posted = [c for c in nuke.recorder.calls if c[0] == "executeInMainThread"]
    assert posted and all(thread.startswith("genplate-") for *_x, thread in posted)
    submit = [c for c in calls() if c[0] == "submit"][0]
    assert submit[submit.index("--shot") + 1] == "sh040"


def test_cancel_sends_cancel_for_the_nodes_jobs(fake, stub_engine):
    nuke, N = fake()
    root, calls = stub_engine
    group = N.create({"shot": "sh040", "root": str(root)})
    group["jobs_json"].setValue(json.dumps(["j0001"]))
    (Path(root).parent / "stub_state.json").write_text(json.dumps({"n": 1, "jobs": {"j0001": {
        "id": "j0001", "state": "running", "prompt": "p", "shot": "sh040", "name": "p",
        "kind": "draft", "polls": 1, "root": str(root), "cancel_requested": False}}}))
    N.on_cancel(group)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(c[0] == "cancel" for c in calls()):
        time.sleep(0.05)
    assert ["cancel", "j0001", "--json"] in calls()


def test_promote_refuses_a_take_that_is_not_a_draft(fake, tmp_path):
    nuke, N = fake()
    group = N.create({})
    N.apply_takes(group, [publish(tmp_path, kind="master")])
    N.on_promote(group)
    assert "not a draft" in group["last_error"].value()


def test_headless_generate_waits_for_the_take(fake, stub_engine):
    nuke, N = fake(gui=False)
    root, calls = stub_engine
    group = N.create({"shot": "sh050", "root": str(root)})
    group["prompt"].setValue("fog bank rolling in")
    import genplate.nuke

    take = genplate.nuke.generate(group, poll=0.05)
    assert take["shot"] == "sh050" and take["name"] == "fog" and take["version"] == 1
    assert group["take"].value() == "fog v001 (draft)"
    assert group.node("take_read")["file"].value() == take["pattern"]
    assert nuke.recorder.calls and not [c for c in nuke.recorder.calls if c[0] == "menu"]
    assert threading.active_count() >= 1


def test_headless_generate_raises_when_the_job_fails(fake, stub_engine):
    nuke, N = fake(gui=False)
    root, _calls = stub_engine
    group = N.create({"shot": "sh050", "root": str(root)})
    group["prompt"].setValue("fail on purpose")
    from genplate.nuke import headless

    with pytest.raises(headless.GenerateError, match="moderated"):
        headless.generate(group, poll=0.05)
    assert group["status"].value() == "failed"
    assert "moderated" in group["last_error"].value()


def test_headless_generate_refuses_a_node_that_is_not_genplates(fake):
    nuke, N = fake(gui=False)
    from genplate.nuke import headless

    with pytest.raises(headless.GenerateError, match="needs a genplate generate node"):
        headless.generate(nuke.nodes.Read())


def test_opening_a_script_resumes_following_its_nodes_jobs(fake, stub_engine):
    nuke, N = fake()
    root, calls = stub_engine
    idle = N.create({"shot": "sh040", "root": str(root)})
    busy = N.create({"shot": "sh040", "root": str(root)})
    busy["jobs_json"].setValue(json.dumps(["j0001"]))
    (Path(root).parent / "stub_state.json").write_text(json.dumps({"n": 1, "jobs": {"j0001": {
        "id": "j0001", "state": "running", "prompt": "saved job", "shot": "sh040",
        "name": "saved", "kind": "draft", "polls": 1, "root": str(root),
        "cancel_requested": False}}}))
    from genplate.nuke import follow, menus

    saved = follow.POLL_SECONDS
    follow.POLL_SECONDS = 0.05
    try:
        assert menus.resume_nodes() == 1
        assert busy["status"].value() == "refreshing…" and idle["status"].value() == "idle"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and busy["take"].value() == "(none)":
            nuke.run_main_queue(timeout=0.05)
    finally:
        follow.POLL_SECONDS = saved
    assert busy["take"].value() == "saved v001 (draft)"
    assert ["jobs", "j0001", "--json"] in calls()
