"""The shared panel in Resolve mode (pytest-qt): the real engine command, a fake Resolve.

Takes are published on disk with genplate.core.takes, the panel lists them through the real
`genplate takes --json`, and inserting, grabbing frames and building a timeline of takes land in
the recording fake of Resolve (tests/fake_resolve.py, held to fusionscript-stubs).
"""
from __future__ import annotations

import os
import sys

import pytest

pytest.importorskip("pytestqt")

from fake_resolve import FakeResolve, FakeScriptModule, png_bytes  # noqa: E402
from genplate.core.takes import versions as V  # noqa: E402
from genplate.resolve import panel_main as M  # noqa: E402
from genplate.resolve.adapter import ResolveAdapter, png_header  # noqa: E402
from genplate.resolve.connect import ResolveConnectError  # noqa: E402


def publish(root, shot="sh010", name="harbour", frames=(1001, 1012), job="j1"):
    staging = V.reserve(root, shot, name, job)
    for f in range(frames[0], frames[1] + 1):
        staging.frame_path(f).write_bytes(b"v/1\x01")
    staging.thumbnail_path.write_bytes(png_bytes(16, 9))
    return V.commit(staging, {
        "kind": "draft", "frames": {"first": frames[0], "last": frames[1],
                                    "count": frames[1] - frames[0] + 1, "fps": 24},
        "colour": {"working_space": "ACEScg"}, "request": {"prompt": "harbour at dawn"},
        "remote_id": f"gen-{job}"})


@pytest.fixture
def engine(tmp_path, monkeypatch):
    monkeypatch.setenv("GENPLATE_ENGINE", f"{sys.executable} -m genplate.core.cli")
    monkeypatch.setenv("GENPLATE_CONFIG_DIR", str(tmp_path / "config"))
    root = tmp_path / "takes"
    root.mkdir()
    return root


@pytest.fixture
def resolve():
    r = FakeResolve()
    r.project.add_timeline("sh010", tracks=2)
    return r


def select_version(panel, version):
    for n in range(panel.takes_list.count()):
        item = panel.takes_list.item(n)
        item.setSelected(panel.take_at(item)["version"] == version)


def close_quietly(window):
    """No engine command may outlive the test (a QProcess torn down with Python crashes)."""
    window.watch.stop()
    window.panel.monitor.stop()
    window.panel.client.shutdown()


def make_window(qtbot, resolve, root, tmp_path, **kw):
    adapter = ResolveAdapter(resolve, still_dir=str(tmp_path), root=str(root))
    window = M.ResolveWindow(resolve, adapter, **kw)
    qtbot.addWidget(window, before_close_func=close_quietly)
    window.show()
    # Let the panel's deferred start run while it exists (it is queued with singleShot(0)).
    qtbot.wait(50)
    return window


def test_panel_in_resolve_mode_lists_and_inserts_takes(qtbot, resolve, engine, tmp_path):
    publish(engine, job="j1")
    publish(engine, job="j2")
    window = make_window(qtbot, resolve, engine, tmp_path)
    panel = window.panel
    assert panel.shot.text() == "sh010" and panel.root.text() == str(engine)
    qtbot.waitUntil(lambda: panel.takes_list.count() == 2, timeout=15000)
    select_version(panel, 1)
    assert panel.insert.isEnabled()
    panel.insert_selected()
    qtbot.waitUntil(lambda: "inserted harbour v001" in panel.status.text(), timeout=5000)
    timeline = resolve.project.current
    (item,) = timeline.tracks[0]
    assert item.start == 86400 and item.duration == 12
    assert item.clip.props["Input Color Space"] == "ACEScg"
    # The second version stacks on the same timeline clip as a take.
    select_version(panel, 2)
    panel.insert_selected()
    qtbot.waitUntil(lambda: "inserted harbour v002" in panel.status.text(), timeout=5000)
    assert "take 2 of 2" in panel.status.text()
    assert item.GetTakesCount() == 2 and len(timeline.tracks[0]) == 1


def test_resolve_strip_sets_the_track_and_the_stacking(qtbot, resolve, engine, tmp_path):
    publish(engine, job="j1")
    publish(engine, job="j2")
    window = make_window(qtbot, resolve, engine, tmp_path)
    window.controls.track.setValue(2)
    window.controls.stack.setChecked(False)
    assert window.adapter.track == 2 and window.adapter.stack_takes is False
    panel = window.panel
    qtbot.waitUntil(lambda: panel.takes_list.count() == 2, timeout=15000)
    select_version(panel, 2)
    panel.insert_selected()
    qtbot.waitUntil(lambda: "inserted" in panel.status.text(), timeout=5000)
    assert len(resolve.project.current.tracks[1]) == 1


def test_grab_the_start_frame_from_the_timeline(qtbot, resolve, engine, tmp_path):
    window = make_window(qtbot, resolve, engine, tmp_path)
    resolve.project.current.playhead = 86410
    window.panel._grab("start")
    path = window.panel.start_frame.path.text()
    assert path.endswith("start_86410.png") and png_header(path)[2] == 8


def test_a_timeline_from_the_listed_takes(qtbot, resolve, engine, tmp_path):
    publish(engine, job="j1")
    publish(engine, job="j2")
    window = make_window(qtbot, resolve, engine, tmp_path)
    qtbot.waitUntil(lambda: window.panel.takes_list.count() == 2, timeout=15000)
    window.controls.timeline_from_takes()
    qtbot.waitUntil(lambda: "new timeline" in window.controls.note.text()
                    or "failed" in window.controls.note.text(), timeout=30000)
    assert "new timeline genplate sh010: 2 of 2 takes placed" in window.controls.note.text(), \
        window.controls.note.text()
    timeline = resolve.project.timelines[-1]
    assert [i.duration for i in timeline.tracks[0]] == [12, 12]  # every frame of each take
    clips = [i.GetMediaPoolItem() for i in timeline.tracks[0]]
    colours = {c.third_party["genplate.version"]: c.colour for c in clips}
    assert colours == {"1": "Orange", "2": "Green"}
    assert all(c.props["Input Color Space"] == "ACEScg" for c in clips)
    assert not resolve.world.called("ImportTimelineFromFile")


def test_the_window_closes_when_resolve_goes_away(qtbot, resolve, engine, tmp_path):
    window = make_window(qtbot, resolve, engine, tmp_path, watch_ms=50)
    assert window.check_resolve()
    resolve.version = ""
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=3000)


def test_main_explains_a_failed_attach(qapp, capsys, tmp_path):
    shown = []

    def refuse(product_hint=None):
        raise ResolveConnectError("scripting_off")

    assert M.main(["--product", "DaVinci Resolve Studio"], attach_fn=refuse,
                  show_error=shown.append, instance=tmp_path / "instance") == 2
    assert not (tmp_path / "instance" / "panel.pid").exists()
    assert "External scripting using: Local" in shown[0]
    assert "External scripting" in capsys.readouterr().err


def test_main_shows_any_failure_to_attach_instead_of_crashing(qapp, capsys, tmp_path):
    """fusionscript with the wrong Python raises SystemError (WheheoHu/pybmd #11)."""
    shown = []

    def crash(product_hint=None):
        raise SystemError("initialization of fusionscript failed without raising an exception")

    assert M.main([], attach_fn=crash, show_error=shown.append,
                  instance=tmp_path / "instance") == 2
    assert "SystemError" in shown[0] and "fusionscript" in shown[0]
    assert not (tmp_path / "instance" / "panel.pid").exists()


def test_main_attaches_and_shows_the_window(qtbot, resolve, engine, tmp_path):
    module = FakeScriptModule(resolve)
    window = M.main(["--root", str(engine)], run=False, instance=tmp_path / "instance",
                    attach_fn=lambda product_hint=None: M.attach(product_hint=product_hint,
                                                                 module=module))
    qtbot.addWidget(window, before_close_func=close_quietly)
    qtbot.wait(50)
    assert window.isVisible() and window.adapter.resolve is resolve
    assert window.panel.root.text() == str(engine)


@pytest.mark.slow
def test_a_draft_from_a_timeline_frame_on_the_offline_backend_lands_on_the_timeline(
        qtbot, resolve, engine, tmp_path):
    """The whole loop in Resolve mode: a frame from the timeline starts a draft, the offline
    backend makes it, the engine publishes it, and the panel puts it on the timeline."""
    timeline = resolve.project.current
    timeline.playhead = 86424
    window = make_window(qtbot, resolve, engine, tmp_path)
    panel = window.panel
    panel._grab("start")
    assert panel.start_frame.path.text().endswith("start_86424.png")
    panel.prompt.setPlainText("harbour at dawn, slow dolly")
    panel.submit()
    qtbot.waitUntil(lambda: panel.queue.topLevelItemCount() == 1, timeout=20000)
    item = panel.queue.topLevelItem(0)
    qtbot.waitUntil(lambda: item.text(1) in ("ready", "failed"), timeout=240000)
    assert item.text(1) == "ready", item.text(3)
    qtbot.waitUntil(lambda: panel.takes_list.count() == 1, timeout=20000)
    take = panel.take_at(panel.takes_list.item(0))
    assert take["shot"] == "sh010" and take["kind"] == "draft"
    panel.takes_list.item(0).setSelected(True)
    panel.insert_selected()
    qtbot.waitUntil(lambda: "inserted" in panel.status.text(), timeout=5000)
    (placed,) = timeline.tracks[0]
    assert placed.start == 86424 and placed.duration == take["last"] - take["first"] + 1
    clip = placed.GetMediaPoolItem()
    assert clip.third_party["genplate.job_id"] == take["job_id"]
    assert clip.props["Input Color Space"] == "ACEScg" and clip.colour == "Green"


def test_one_panel_per_user_and_a_second_start_wakes_it(qtbot, resolve, engine, tmp_path):
    folder = tmp_path / "instance"
    assert M.claim_instance(folder) is True
    assert M.claim_instance(folder) is True  # our own pid: still ours
    (folder / "panel.pid").write_text(str(2 ** 22 + 4321))  # a dead panel's lock is taken over
    assert M.claim_instance(folder) is True
    window = make_window(qtbot, resolve, engine, tmp_path, instance=folder)
    (folder / "panel.pid").write_text(str(os.getppid()))  # another live panel
    assert M.main([], instance=folder, attach_fn=lambda **k: pytest.fail("attached twice")) == 0
    qtbot.waitUntil(lambda: window.wakes == 1, timeout=5000)
    assert not (folder / "wake").exists()
    M.release_instance(folder)
    assert (folder / "panel.pid").exists()  # not ours to remove
