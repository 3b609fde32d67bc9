"""The dock panel inside (a fake of) Nuke, and headless generation against the real engine."""
from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

import fake_nuke  # noqa: E402
from test_nuke_read import publish  # noqa: E402


@pytest.fixture
def nuke(tmp_path, monkeypatch):
    monkeypatch.setenv("GENPLATE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GENPLATE_ENGINE", f"{sys.executable} -m genplate.core.cli")
    monkeypatch.delenv("GENPLATE_ROOT", raising=False)
    monkeypatch.delenv("GENPLATE_SHOT", raising=False)
    fake = fake_nuke.install(config="aces_2.0")
    fake.root()["name"].setValue(str(tmp_path / "shows" / "sh030_comp_v004.nk"))
    fake.root()["first_frame"].setValue(1009)
    yield fake
    fake_nuke.uninstall()


def make_dock(qtbot):
    dock = importlib.import_module("genplate.nuke.dock")
    panel = dock.DockPanel()
    qtbot.addWidget(panel, before_close_func=lambda w: w.client.shutdown())
    panel.show()
    return panel


def test_the_dock_builds_with_no_arguments_and_reads_the_script(qtbot, nuke, tmp_path):
    panel = make_dock(qtbot)
    assert panel.adapter.name == "nuke"
    assert panel.shot.text() == "sh030"
    assert panel.root.text() == str(tmp_path / "shows" / "takes")
    assert panel.first_frame.value() == 1009
    assert panel.start_frame.grab.isEnabled() and panel.grab_keyframe.isEnabled()


def _built_docks(nuke, panel, qtbot):
    for widget in panel.widgets():
        qtbot.addWidget(widget, before_close_func=lambda w: w.client.shutdown())
    return [c for c in nuke.recorder.calls if c[0] == "panel.build"]


def test_show_panel_builds_the_dock_once_into_the_properties_pane(qtbot, nuke):
    """restorePanel(id) already builds the panel and adds it to a pane (nukescripts/panels.py
    addPanel -> addToPane); adding the result to another pane again built it twice."""
    from genplate.nuke import menus

    menus.install()
    panel = menus.show_panel()
    assert _built_docks(nuke, panel, qtbot) == [("panel.build", "com.genplate.panel", "DockPanel")]
    assert [c for c in nuke.recorder.calls if c[0] == "pane.add"] == [
        ("pane.add", "Properties.1", "com.genplate.panel")]
    assert panel.widgets()[0].adapter.name == "nuke"


def test_a_saved_layout_restores_the_dock(qtbot, nuke):
    import nukescripts

    from genplate.nuke import menus

    menus.install()
    panel = nukescripts.panels.restorePanel("com.genplate.panel")  # what Nuke calls on restore
    assert panel is not None, "the registered widget string did not evaluate"
    assert _built_docks(nuke, panel, qtbot) == [("panel.build", "com.genplate.panel", "DockPanel")]


def test_grabbing_renders_the_selected_node_at_the_playhead(qtbot, nuke):
    panel = make_dock(qtbot)
    source = nuke.nodes.Read()
    source.setSelected(True)
    nuke.frame(1017)
    qtbot.mouseClick(panel.start_frame.grab, _left())
    path = panel.start_frame.path.text()
    assert path.endswith(".1017.png") and Path(path).read_bytes()[:4] == b"\x89PNG"
    assert [(f, l) for _w, f, l, _m in nuke.recorder.executed] == [(1017, 1017)]


def test_grabbing_without_a_selection_says_what_to_do(qtbot, nuke):
    panel = make_dock(qtbot)
    qtbot.mouseClick(panel.end_frame.grab, _left())
    assert "select the node" in panel.status.text()
    assert panel.end_frame.path.text() == ""


def test_insert_from_the_dock_makes_the_read_on_the_main_thread(qtbot, nuke, tmp_path):
    panel = make_dock(qtbot)
    take = publish(tmp_path / "takes")
    panel._on_takes({"takes": [take]})
    panel.takes_list.item(0).setSelected(True)
    qtbot.mouseClick(panel.insert, _left())
    reads = nuke.allNodes("Read")
    assert len(reads) == 1 and reads[0]["colorspace"].value() == "ACEScg"
    assert nuke.recorder.off_main == []
    assert "gp_sh010_harbour_v001" in panel.status.text()


def test_the_adapter_queues_work_from_a_worker_onto_the_main_thread(nuke):
    from genplate.nuke.adapter import NukeAdapter

    ran = []
    t = threading.Thread(target=NukeAdapter().run_on_main_thread,
                         args=(lambda x: ran.append((x, threading.current_thread().name)), 7),
                         name="worker")
    t.start()
    t.join(5)
    assert ran == []  # queued, not run on the worker
    nuke.run_main_queue()
    assert ran == [(7, threading.main_thread().name)]


def test_script_names_give_shots():
    fake_nuke.install()
    try:
        from genplate.nuke.adapter import script_shot

        assert script_shot("/a/sh010_comp_v003.nk") == "sh010"
        assert script_shot("SEQ020_0100_comp.nk") == "SEQ020"
        assert script_shot("untitled.nk") == ""
    finally:
        fake_nuke.uninstall()


@pytest.mark.slow
def test_headless_generate_with_the_real_engine(nuke, tmp_path):
    """`nuke -t`: no GUI, no Qt; the node waits for a real offline take and outputs it."""
    fake_nuke.set_env_gui(nuke, False)
    from genplate.nuke import headless
    from genplate.nuke import node as N

    group = N.create()  # knobs from the script: shot sh030, takes beside it, first frame 1009
    assert group["root"].value() == str(tmp_path / "shows" / "takes")
    group["prompt"].setValue("tide pools at low tide, overcast")
    try:
        take = headless.generate(group, poll=0.5, timeout=300)
    finally:
        _end_workers()
    assert take["kind"] == "draft" and take["first"] == 1009  # aligned to the script's shot
    read = group.node("take_read")
    assert read["file"].value() == take["pattern"]
    assert Path(take["pattern"] % take["first"]).is_file()
    assert read["colorspace"].value() == "ACEScg"  # ACES 2.0 config, ACEScg take
    assert group.node("Output1").input(0) is read
    assert group["status"].value() == "done"


def _end_workers() -> None:
    from genplate.core.jobs import ledger as L

    ledger = L.Ledger()
    for job in ledger.jobs():
        if not job.terminal:
            ledger.request_cancel(job.id)
    time.sleep(0.5)
    for job in ledger.jobs():
        if not job.terminal and job.worker_pid:
            try:
                os.kill(job.worker_pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _left():
    from genplate.panel.qt import Qt

    return Qt.MouseButton.LeftButton
