"""The annotation canvas (pytest-qt): strokes drawn with the mouse -> the strokes JSON the
engine reads; Propose through the real `genplate annotate`; Use -> the panel's request.

The canvas is driven with real mouse events (qtbot press/move/release) on a canvas sized so
the frame fills a known rectangle; expected coordinates are computed here from the pixels
clicked, independently of the canvas's own conversion.
"""
from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from genplate.core.review.annotate import strokes_from_json, strokes_to_json  # noqa: E402
from genplate.panel import commands as C  # noqa: E402
from panel_stub import install_stub  # noqa: E402
from genplate.panel.annotation import AnnotationWindow  # noqa: E402
from genplate.panel.canvas import DEFAULT_PIN_RADIUS, AnnotationCanvas  # noqa: E402
from genplate.panel.engine import EngineClient  # noqa: E402
from genplate.panel.panel import GenplatePanel  # noqa: E402
from genplate.panel.qt import QtCore, QtGui, Qt  # noqa: E402
from genplate.panel.diagnostics import StallMeter  # noqa: E402
from test_panel import STUB, RecordingHost, assert_responsive  # noqa: E402

LEFT = Qt.MouseButton.LeftButton
# A 320x180 frame on a 656x376 canvas: drawn at (8, 8) in 640x360 (an 8 px margin), so a pixel
# (px, py) is at ((px - 8) / 640, (py - 8) / 360) of the frame.
CANVAS_W, CANVAS_H = 656, 376
FX, FY, FW, FH = 8, 8, 640, 360


def norm(px: float, py: float) -> list[float]:
    return [round((px - FX) / FW, 5), round((py - FY) / FH, 5)]


def P(x: float, y: float) -> QtCore.QPoint:
    return QtCore.QPoint(int(x), int(y))


def make_frame(path: Path) -> str:
    """A 16:9 frame with a bright disc on the left (the subject the strokes move)."""
    image = QtGui.QImage(320, 180, QtGui.QImage.Format.Format_RGB888)
    image.fill(QtGui.QColor(38, 62, 96))
    painter = QtGui.QPainter(image)
    painter.fillRect(0, 120, 320, 60, QtGui.QColor(196, 170, 120))   # sand
    painter.setBrush(QtGui.QColor(230, 60, 50))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(QtCore.QPoint(80, 80), 16, 16)                # the red kite
    painter.end()
    assert image.save(str(path))
    return str(path)


def make_beach(path: Path) -> str:
    """A prettier 640x360 frame for the screenshot: sky, sea, sand, the sun and a red kite."""
    w, h = 640, 360
    image = QtGui.QImage(w, h, QtGui.QImage.Format.Format_RGB888)
    painter = QtGui.QPainter(image)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    sky = QtGui.QLinearGradient(0, 0, 0, 0.62 * h)
    sky.setColorAt(0.0, QtGui.QColor(34, 58, 104))
    sky.setColorAt(1.0, QtGui.QColor(236, 170, 120))
    painter.fillRect(0, 0, w, int(0.62 * h), sky)
    painter.fillRect(0, int(0.62 * h), w, int(0.14 * h), QtGui.QColor(46, 92, 120))
    painter.fillRect(0, int(0.76 * h), w, h, QtGui.QColor(206, 180, 136))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QtGui.QColor(255, 226, 170))
    painter.drawEllipse(QtCore.QPointF(0.78 * w, 0.5 * h), 26, 26)
    kite = QtGui.QPolygonF([QtCore.QPointF(0.25 * w, 0.444 * h - 26),
                            QtCore.QPointF(0.25 * w + 18, 0.444 * h),
                            QtCore.QPointF(0.25 * w, 0.444 * h + 30),
                            QtCore.QPointF(0.25 * w - 18, 0.444 * h)])
    painter.setBrush(QtGui.QColor(214, 40, 40))
    painter.drawPolygon(kite)
    painter.setPen(QtGui.QPen(QtGui.QColor(40, 30, 30), 1.2))
    painter.drawLine(QtCore.QPointF(0.25 * w, 0.444 * h + 30), QtCore.QPointF(0.12 * w, 0.9 * h))
    painter.end()
    assert image.save(str(path))
    return str(path)


def drag(qtbot, widget, points, *, button=LEFT):
    """Press at the first point, move through the rest, release at the last."""
    qtbot.mousePress(widget, button, pos=P(*points[0]))
    for x, y in points[1:]:
        qtbot.mouseMove(widget, P(x, y))
    qtbot.mouseRelease(widget, button, pos=P(*points[-1]))


@pytest.fixture
def canvas(qtbot, tmp_path):
    widget = AnnotationCanvas()
    qtbot.addWidget(widget)
    widget.resize(CANVAS_W, CANVAS_H)
    widget.show()
    qtbot.waitExposed(widget)
    assert widget.set_frame(make_frame(tmp_path / "frame.png"))
    assert widget.frame_rect() == QtCore.QRectF(FX, FY, FW, FH)
    return widget


def draw_scene(qtbot, canvas):
    """An arrow, a freehand path, a labelled pin and a pin dragged to size; what was drawn."""
    canvas.set_tool("arrow")
    drag(qtbot, canvas, [(168, 188), (300, 150), (488, 108)])
    canvas.set_tool("freehand")
    path = [(100, 300), (130, 290), (160, 270), (190, 260), (230, 262), (260, 280)]
    drag(qtbot, canvas, path)
    canvas.set_tool("pin")
    canvas.pin_label = "the red kite"
    drag(qtbot, canvas, [(168, 188)])                    # a click: the default size
    canvas.pin_label = ""
    drag(qtbot, canvas, [(500, 300), (520, 300), (536, 300)])  # dragged open 36 px
    return [
        {"kind": "arrow", "points": [norm(168, 188), norm(488, 108)]},
        {"kind": "freehand", "points": [norm(x, y) for x, y in path]},
        {"kind": "pin", "points": [norm(168, 188)], "radius": DEFAULT_PIN_RADIUS,
         "label": "the red kite"},
        {"kind": "pin", "points": [norm(500, 300)], "radius": round(36 / FH, 5)},
    ]


def test_strokes_drawn_with_the_mouse_come_out_as_the_engines_json(qtbot, canvas):
    drawn = draw_scene(qtbot, canvas)
    out = canvas.strokes()
    assert out == drawn
    # exactly the shape core/review/annotate.py reads: it parses and writes it back unchanged
    assert strokes_to_json(strokes_from_json(json.loads(json.dumps(out)))) == out


def test_a_tap_is_not_an_arrow_and_a_drag_off_the_frame_is_clamped(qtbot, canvas):
    canvas.set_tool("arrow")
    drag(qtbot, canvas, [(200, 200), (201, 201)])       # a tap: nothing drawn
    assert canvas.strokes() == []
    drag(qtbot, canvas, [(600, 100), (650, 40), (655, 2)])  # leaves the frame at the right/top
    assert canvas.strokes() == [{"kind": "arrow", "points": [norm(600, 100), [1.0, 0.0]]}]


def test_erase_removes_the_stroke_under_the_cursor_and_undo_brings_it_back(qtbot, canvas):
    drawn = draw_scene(qtbot, canvas)
    canvas.set_tool("erase")
    qtbot.mouseMove(canvas, P(250, 170))  # hovering marks what a click would take
    assert canvas.stroke_at(QtCore.QPointF(250, 170)) == 0 and canvas._hover == 0
    drag(qtbot, canvas, [(250, 170)])  # on the arrow's line, away from the pin at its tail
    assert canvas.strokes() == drawn[1:]
    drag(qtbot, canvas, [(40, 40)])    # nothing there: nothing erased
    assert canvas.strokes() == drawn[1:]
    drag(qtbot, canvas, [(520, 300)])  # inside the second pin's disc
    assert canvas.strokes() == drawn[1:3]

    canvas.undo()                      # the second erase
    assert canvas.strokes() == drawn[1:]
    canvas.undo()                      # the first: the arrow back in its place
    assert canvas.strokes() == drawn
    canvas.undo()                      # the last stroke drawn
    assert canvas.strokes() == drawn[:3]

    canvas.clear()
    assert canvas.strokes() == []
    canvas.undo()                      # a clear is undone too
    assert canvas.strokes() == drawn[:3]

    # Escape abandons an erase drag: what it took comes back, and nothing is left to undo
    qtbot.mousePress(canvas, LEFT, pos=P(250, 170))
    qtbot.mouseMove(canvas, P(120, 296))   # over the freehand path too
    assert canvas.strokes() == drawn[2:3]
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    qtbot.mouseRelease(canvas, LEFT, pos=P(120, 296))
    assert canvas.strokes() == drawn[:3]


def test_the_window_undoes_with_ctrl_z_and_its_button(qtbot, tmp_path):
    window = AnnotationWindow(EngineClient(), lambda: {"out_dir": str(tmp_path)})
    qtbot.addWidget(window)
    window.resize(820, 760)
    window.show()
    qtbot.waitExposed(window)
    window.set_frame(make_frame(tmp_path / "frame.png"))
    c = window.canvas
    assert not window.propose_button.isEnabled()  # nothing drawn yet
    c.set_tool("arrow")
    r = c.frame_rect()
    drag(qtbot, c, [(r.left() + 40, r.center().y()), (r.right() - 40, r.center().y())])
    qtbot.mouseClick(window.tool_buttons["pin"], LEFT)
    assert c.tool == "pin"
    window.pin_label.setText("the boat")
    drag(qtbot, c, [(r.left() + 40, r.center().y())])
    assert [s["kind"] for s in c.strokes()] == ["arrow", "pin"]
    assert c.strokes()[1]["label"] == "the boat"
    assert window.propose_button.isEnabled()

    window.activateWindow()
    c.setFocus()
    qtbot.waitUntil(lambda: c.hasFocus(), timeout=2000)
    qtbot.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [s["kind"] for s in c.strokes()] == ["arrow"]
    qtbot.mouseClick(window.undo_button, LEFT)
    assert c.strokes() == [] and not window.undo_button.isEnabled()
    assert not window.propose_button.isEnabled()


# -- Propose against the real engine ------------------------------------------------------

@pytest.fixture
def real_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("GENPLATE_ENGINE", f"{sys.executable} -m genplate.core.cli")
    root = tmp_path / "takes"
    root.mkdir()
    return root


def test_propose_with_the_real_engine_fills_the_panels_prompt_and_keyframes(qtbot, tmp_path,
                                                                          real_engine):
    host = RecordingHost(real_engine, tmp_path)
    panel = GenplatePanel(host, poll_ms=60000, idle_poll_ms=60000)
    qtbot.addWidget(panel, before_close_func=lambda w: w.client.shutdown())
    panel.resize(640, 860)
    panel.show()
    panel.prompt.setPlainText("a red kite over the beach, late afternoon")
    panel.start_frame.path.setText(make_frame(tmp_path / "frame.png"))
    panel.loop.setChecked(True)

    qtbot.mouseClick(panel.draw_motion, LEFT)  # beside the keyframes row
    window = panel._annotation
    qtbot.waitExposed(window)
    assert window.canvas.frame_path == str(tmp_path / "frame.png")  # the request's start frame
    c = window.canvas
    r = c.frame_rect()
    kite = (r.left() + 0.25 * r.width(), r.top() + 0.444 * r.height())
    c.set_tool("pin")
    window.pin_label.setText("the red kite")
    drag(qtbot, c, [kite])
    c.set_tool("arrow")
    drag(qtbot, c, [kite, (r.left() + 0.8 * r.width(), kite[1] - 0.1 * r.height())])
    drawn = c.strokes()

    meter = StallMeter(5)
    meter.start()
    qtbot.mouseClick(window.propose_button, LEFT)
    assert not window.propose_button.isEnabled()  # one proposal at a time, GUI still live
    qtbot.waitUntil(lambda: window.proposal is not None or "annotate:" in window.note.text(),
                    timeout=60000)
    assert window.proposal is not None, window.note.text()
    proposal = window.proposal
    assert window.proposal_box.isVisible()
    text = window.prompt.toPlainText()
    assert text.startswith("a red kite over the beach, late afternoon.")
    assert "The red kite moves left to right across the frame." in text
    labels = [window.keyframes.item(i).text() for i in range(window.keyframes.count())]
    assert labels == ["#0", "#60", "#120"]
    # the proposal's files are where the panel said: beside the shot's takes
    for frame in proposal["keyframes"]:
        assert Path(frame["path"]).is_file()
        assert Path(frame["path"]).parent.parent == real_engine / "sh020" / "annotations"
    assert json.loads(Path(proposal["strokes_file"]).read_text()) == drawn
    qtbot.waitUntil(lambda: not window.keyframes.item(2).icon().isNull()
                    and window.keyframes.item(2).icon().pixmap(16, 9).toImage().pixelColor(8, 4)
                    != QtGui.QColor("#3a3a3a"), timeout=10000)
    meter.stop()
    assert_responsive(meter, window)  # the engine ran and thumbnails decoded off the GUI thread

    window.prompt.setPlainText(text + " Golden light.")
    qtbot.mouseClick(window.use_button, LEFT)
    fields = panel.fields()
    assert fields.prompt == text + " Golden light."
    assert fields.keyframes == {k["index"]: k["path"] for k in proposal["keyframes"]}
    assert fields.strokes == proposal["strokes_file"]
    assert fields.start_frame == "" and not fields.loop  # keyframes replace them, said so
    assert "cleared: start frame, loop" in panel.status.text()
    assert panel.strokes_row.isVisibleTo(panel)
    args = C.submit_args(fields)
    assert args[args.index("--strokes") + 1] == proposal["strokes_file"]

    # forgetting the strokes takes them out of the request again
    panel.forget_strokes.click()
    assert panel.fields().strokes == "" and not panel.strokes_row.isVisibleTo(panel)

    # the drawing changed after the proposal: the window says so
    drag(qtbot, c, [(r.left() + 30, r.bottom() - 30), (r.left() + 30, r.top() + 30)])
    assert "Propose again" in window.note.text()


def test_propose_refuses_without_a_frame_or_strokes(qtbot, tmp_path):
    calls = []

    class Client:
        def annotate(self, *args, **kw):
            calls.append(args)

    window = AnnotationWindow(Client(), lambda: {"out_dir": str(tmp_path)})
    qtbot.addWidget(window)
    window.propose()
    assert "choose a frame" in window.note.text()
    window.set_frame(make_frame(tmp_path / "frame.png"))
    window.propose()
    assert "draw an arrow" in window.note.text()
    assert not window.set_frame(str(tmp_path / "missing.png"))
    assert "cannot read" in window.note.text()
    assert calls == []


# -- submit passes the strokes (scripted stand-in: no job is run) -------------------------

ANNOTATE_STUB = STUB.replace("\ncmd = argv[0]\n", "\ncmd = argv[0]\n" + textwrap.dedent('''
    if cmd == "annotate":  # the proposal's shape, with stand-in pictures
        out_dir = Path(opt("--out")); out_dir.mkdir(parents=True, exist_ok=True)
        strokes = json.loads(Path(opt("--strokes")).read_text())
        sf = out_dir / "f_strokes.json"; sf.write_text(json.dumps(strokes))
        frames = []
        for i in (0, 120):
            p = out_dir / f"f_kf{i:03d}.png"; png(p)
            frames.append({"index": i, "path": str(p), "note": ""})
        prompt = [a for a in argv if a.startswith("--prompt=")][0][len("--prompt="):]
        out({"prompt": prompt + " The subject rises.", "keyframes": frames, "strokes": strokes,
             "strokes_file": str(sf), "camera": None,
             "keyframe_args": [f"{f['index']}={f['path']}" for f in frames]})
'''), 1)


@pytest.fixture
def annotate_stub(tmp_path, monkeypatch):
    assert ANNOTATE_STUB != STUB
    engine = install_stub(tmp_path, monkeypatch, ANNOTATE_STUB)
    return engine.root, engine.calls


def test_generate_after_use_sends_the_keyframes_and_the_strokes_file(qtbot, tmp_path,
                                                                    annotate_stub):
    root, calls = annotate_stub
    panel = GenplatePanel(RecordingHost(root, tmp_path), poll_ms=60000, idle_poll_ms=60000)
    qtbot.addWidget(panel, before_close_func=lambda w: w.client.shutdown())
    panel.show()
    panel.prompt.setPlainText("-kites at dusk")  # a prompt that looks like an option
    panel.open_annotation()
    window = panel._annotation
    window.set_frame(make_frame(tmp_path / "frame.png"))
    r = window.canvas.frame_rect()
    drag(qtbot, window.canvas, [(r.center().x(), r.bottom() - 20), (r.center().x(), r.top() + 20)])
    qtbot.mouseClick(window.propose_button, LEFT)
    qtbot.waitUntil(lambda: window.proposal is not None, timeout=30000)
    annotate = [c for c in calls() if c[0] == "annotate"][0]
    assert annotate[1] == str(tmp_path / "frame.png") and "--prompt=-kites at dusk" in annotate
    sent_strokes = json.loads(Path(annotate[annotate.index("--strokes") + 1]).read_text())
    assert sent_strokes == window.canvas.strokes()

    qtbot.mouseClick(window.use_button, LEFT)
    qtbot.mouseClick(panel.generate, LEFT)
    qtbot.waitUntil(lambda: any(c[0] == "submit" for c in calls()), timeout=30000)
    submit = [c for c in calls() if c[0] == "submit"][0]
    strokes_file = window.proposal["strokes_file"]
    assert submit[submit.index("--strokes") + 1] == strokes_file
    assert [submit[i + 1] for i, a in enumerate(submit) if a == "--keyframe"] == \
        window.proposal["keyframe_args"]
    assert submit[-2:] == ["--", "-kites at dusk The subject rises."]
    qtbot.waitUntil(lambda: panel.queue.topLevelItemCount() == 1, timeout=30000)


# -- the screenshot for the README --------------------------------------------------------

def test_screenshot_of_the_canvas_with_strokes_and_a_proposal(qtbot, tmp_path, real_engine):
    """The canvas as the README shows it: a frame, strokes, and the engine's proposal.
    `GENPLATE_SCREENSHOTS=1 pytest -k screenshot` writes it to docs/img/annotation_canvas.png."""
    out_dir = tmp_path / "proposals"
    window = AnnotationWindow(EngineClient(), lambda: {
        "prompt": "a red kite over the beach, late afternoon", "duration": "5s",
        "out_dir": str(out_dir)})
    qtbot.addWidget(window, before_close_func=lambda w: w.client.shutdown())
    window.resize(820, 700)
    window.show()
    qtbot.waitExposed(window)
    window.set_frame(make_beach(tmp_path / "beach.png"))
    c = window.canvas
    r = c.frame_rect()

    def at(x, y):
        return (r.left() + x * r.width(), r.top() + y * r.height())

    c.set_tool("pin")
    window.pin_label.setText("the red kite")
    drag(qtbot, c, [at(0.25, 0.444), at(0.25 + 0.12 * 9 / 16, 0.444)])
    c.set_tool("arrow")
    drag(qtbot, c, [at(0.25, 0.444), at(0.55, 0.3), at(0.82, 0.3)])
    c.set_tool("freehand")
    wave = [at(0.1 + 0.05 * i, 0.85 + 0.04 * ((-1) ** i)) for i in range(9)]
    drag(qtbot, c, wave)
    c.set_tool("erase")
    drag(qtbot, c, [wave[4]])  # the wave was a mistake: erased, as an artist would
    c.set_tool("pin")
    window.pin_label.setText("the sun")
    drag(qtbot, c, [at(0.78, 0.5)])
    c.set_tool("arrow")
    window.tool_buttons["arrow"].setChecked(True)
    qtbot.mouseClick(window.propose_button, LEFT)
    qtbot.waitUntil(lambda: window.proposal is not None or "annotate:" in window.note.text(),
                    timeout=60000)
    assert window.proposal is not None, window.note.text()
    qtbot.waitUntil(lambda: all(window.keyframes.item(i).icon().pixmap(16, 9).toImage()
                                .pixelColor(8, 4) != QtGui.QColor("#3a3a3a")
                                for i in range(window.keyframes.count())), timeout=10000)
    assert [s["kind"] for s in c.strokes()] == ["pin", "arrow", "pin"]
    shot = tmp_path / "annotation_canvas.png"
    assert window.grab().save(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("GENPLATE_SCREENSHOTS"):  # refresh the README's picture on purpose only
        target = Path(__file__).resolve().parent.parent / "docs" / "img" / shot.name
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(shot.read_bytes())
        os.replace(tmp, target)


@pytest.mark.slow
def test_the_real_engine_takes_the_drawn_keyframes_and_keeps_the_strokes(qtbot, tmp_path,
                                                                        real_engine):
    """Propose, Use, Generate against the real engine: the queued job carries the proposal's
    keyframes and the strokes its take will record."""
    from genplate.core.jobs import ledger as L
    from test_panel_engine import _end_workers

    panel = GenplatePanel(RecordingHost(real_engine, tmp_path), poll_ms=60000,
                          idle_poll_ms=60000)
    qtbot.addWidget(panel, before_close_func=lambda w: w.client.shutdown())
    panel.show()
    try:
        panel.prompt.setPlainText("a red kite over the beach")
        panel.open_annotation()
        window = panel._annotation
        window.set_frame(make_frame(tmp_path / "frame.png"))
        r = window.canvas.frame_rect()
        drag(qtbot, window.canvas, [(r.left() + 0.25 * r.width(), r.center().y()),
                                    (r.left() + 0.8 * r.width(), r.center().y())])
        qtbot.mouseClick(window.propose_button, LEFT)
        qtbot.waitUntil(lambda: window.proposal is not None, timeout=60000)
        qtbot.mouseClick(window.use_button, LEFT)
        qtbot.mouseClick(panel.generate, LEFT)
        qtbot.waitUntil(lambda: panel.queue.topLevelItemCount() == 1
                        or "not sent" in panel.status.text(), timeout=60000)
        assert panel.queue.topLevelItemCount() == 1, panel.status.text()
        job_id = panel.queue.topLevelItem(0).data(0, Qt.ItemDataRole.UserRole)
        job = L.Ledger().get(job_id)
        assert job.publish["strokes"] == window.canvas.strokes()
        assert [k["index"] for k in job.request["keyframes"]] == [0, 60, 120]
        assert "moves left to right" in job.request["prompt"]
    finally:
        _end_workers()
