"""The by-hand smoke run for a real Resolve, exercised here against the fake."""
from __future__ import annotations

import json

from fake_resolve import FakeResolve
from genplate.resolve import smoke as S
from genplate.resolve.connect import ResolveConnectError
from test_resolve_insert import make_take


def test_smoke_reports_what_resolve_answered(tmp_path, capsys):
    resolve = FakeResolve()
    resolve.project.add_timeline("Edit 1")
    resolve.project.settings["colorScienceMode"] = "davinciYRGB"
    take = make_take(tmp_path)
    asked = []
    code = S.main(["sh010/castle", "--root", str(tmp_path)], attach_fn=lambda: resolve,
                  show=lambda args: asked.append(args) or {"take": take})
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert asked == [["show", "sh010/castle", "--json", "--root", str(tmp_path)]]
    assert report["colour_science_before"] == report["colour_science_after"] == "davinciYRGB"
    assert report["clip_properties"]["Input Color Space"] == "ACEScg"
    assert report["clip_properties"]["Start"] == "1001"
    assert report["insert_detail"]["colour"]["switched"] is True
    assert report["steps"]["grab"]["ok"] and report["third_party_metadata"]["version"] == "1"
    assert report["resolve"]["version_fields"] == [21, 0, 0, 40, ""]
    assert report["facts"]["append_end_frame"] == {"rule": "exclusive", "expected": "exclusive",
                                                   "corrected": False}


def test_smoke_reports_an_end_frame_counting_its_version_did_not_predict(tmp_path, capsys):
    resolve = FakeResolve(version="18.6.6.7")
    resolve.world.end_frame_rule = "exclusive"
    resolve.project.add_timeline("Edit 1")
    take = make_take(tmp_path)
    code = S.main(["x", "--no-grab", "--new-timeline"], attach_fn=lambda: resolve,
                  show=lambda a: {"take": take})
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    measured = {"rule": "exclusive", "expected": "inclusive", "corrected": True}
    assert report["facts"] == {"append_end_frame": measured, "new_timeline_end_frame": measured}
    assert report["steps"]["new_timeline"]["answer"]["warnings"] == []


def test_smoke_reports_a_failed_step_and_exits_non_zero(tmp_path, capsys):
    resolve = FakeResolve()
    resolve.project.add_timeline("Edit 1")
    resolve.world.refuse_append = True
    code = S.main(["x"], attach_fn=lambda: resolve, show=lambda a: {"take": make_take(tmp_path)})
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and not report["steps"]["insert"]["ok"]
    assert "did not place" in report["steps"]["insert"]["error"]


def test_smoke_without_resolve(tmp_path, capsys):
    def refuse():
        raise ResolveConnectError("not_running")

    assert S.main(["x"], attach_fn=refuse, show=lambda a: {"take": {}}) == 2
    assert json.loads(capsys.readouterr().out)["reason"] == "not_running"
