"""The by-hand smoke run for a real Nuke (genplate.nuke.smoke), exercised here against the fake.

The fake answers every probe the way its records say; on a real Nuke the same report tells
which answer holds. So this checks that each probe asks the right question and reads the
answer, not what Nuke says.
"""
from __future__ import annotations

import importlib
import json

import pytest

import fake_nuke
from test_nuke_read import publish


@pytest.fixture
def smoke_in(request):
    def install(list_form="recorded", config="aces_1.3"):
        nuke = fake_nuke.install(config=config, gui=False, list_form=list_form)  # `nuke -t`
        return nuke, importlib.import_module("genplate.nuke.smoke")

    yield install
    fake_nuke.uninstall()


def run(smoke, capsys, argv, take=None):
    asked = []
    code = smoke.main(argv, show=lambda args: asked.append(args) or {"take": take})
    return code, json.loads(capsys.readouterr().out), asked


def test_smoke_reports_each_open_fact(smoke_in, tmp_path, capsys):
    nuke, smoke = smoke_in()
    take = publish(tmp_path)
    code, report, asked = run(smoke, capsys, ["sh010/harbour", "--root", str(tmp_path)], take)
    assert code == 0, json.dumps(report, indent=1)
    assert asked == [["show", "sh010/harbour", "--json", "--root", str(tmp_path)]]
    facts = {k: v["answer"] for k, v in report["facts"].items()}
    listing = facts["colour_space_list"]
    assert listing["form"] == "recorded" and "scene_linear" in listing["bare_roles"]
    assert listing["genplate_chooses"]["ACEScg"] == {"ok": True, "answer": "ACEScg"}
    assert listing["genplate_chooses"]["ACES2065-1"]["answer"] == "ACES2065-1"
    assert facts["panel_string"]["class"] == "genplate.nuke.dock.DockPanel"
    assert facts["panel_string"]["restore_adds_to_a_pane"] is True
    assert facts["set_name"]["uniquify"].startswith("TypeError")
    assert facts["set_name"]["uncollide_renames_to"] != "genplate_smoke_v001"
    assert facts["execute_in_main_thread_with_result"] == {"catches_exceptions": True,
                                                          "returns_none_then": True}
    knobs = facts["string_knobs"]
    assert knobs["String_Knob"]["value"]["answer"] == knobs["text"]
    assert knobs["Multiline_Eval_String_Knob"]["getText"]["answer"] == knobs["text"]
    assert not knobs["Multiline_Eval_String_Knob"]["value"]["ok"]  # TCL ran on it
    assert facts["undo_cancel"]["cancel_removes_what_the_group_made"] is True
    read = facts["read"]
    assert read["fromUserText_fills"] == {"first": 1001, "last": 1121, "origfirst": 1001,
                                          "origlast": 1121}
    assert read["knobs"]["colorspace"] == "ACEScg" and read["knobs"]["raw"] is False
    assert read["knobs"]["file"] == take["pattern"] and read["frame_range"] == [1001, 1121]
    assert "error" in read["enumerations"]["on_error"]
    assert read["provenance_reads_back"] is True
    assert nuke.allNodes() == []  # nothing left in the script


def test_smoke_tells_the_older_list_form(smoke_in, capsys):
    _nuke, smoke = smoke_in(list_form="role_space")
    code, report, _asked = run(smoke, capsys, [])
    listing = report["facts"]["colour_space_list"]["answer"]
    assert code == 0 and listing["form"] == "role_space"
    assert listing["roles_with_space"]["scene_linear"] == "ACEScg"
    assert listing["genplate_chooses"]["ACEScg"]["answer"] == "scene_linear"
    assert report["facts"]["read"]["answer"]["insert"] == "no take given"


def test_smoke_keeps_the_read_when_asked_and_reports_a_failed_probe(smoke_in, tmp_path,
                                                                    capsys):
    nuke, smoke = smoke_in(config="nuke-default")
    code, report, _asked = run(smoke, capsys, ["x", "--keep"], publish(tmp_path))
    assert code == 1  # no ACEScg in nuke-default: the insert probe says why
    assert "has no colour space 'ACEScg'" in report["facts"]["read"]["error"]
    assert report["facts"]["colour_space_list"]["answer"]["genplate_chooses"]["ACEScg"][
        "ok"] is False


def test_smoke_without_the_engine_prints_one_error(smoke_in, capsys):
    _nuke, smoke = smoke_in()

    def refuse(args):
        raise RuntimeError("cannot start the engine")

    assert smoke.main(["x"], show=refuse) == 2
    assert json.loads(capsys.readouterr().out) == {"error": "RuntimeError: cannot start the engine"}
