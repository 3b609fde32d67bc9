"""The annotation canvas: draw motion on a frame, see what the engine makes of it, use it.

The artist draws over a frame (grabbed from the host, a take's thumbnail, or an image file):
arrows (a subject's tail to where it goes), freehand paths, pins (a subject, its size by
dragging, an optional label) and the eraser, which removes the stroke under the cursor. Undo
(Ctrl+Z) steps back through drawing, erasing and clearing alike.

Strokes are kept in normalised frame coordinates (x right, y down, 0..1 over the frame as
drawn, not the widget) in exactly the JSON ``genplate annotate --strokes`` reads:
``{"kind": "arrow"|"freehand"|"pin", "points": [[x, y], ...], "radius"?: r, "label"?: s}``,
radius in frame heights. The eraser removes strokes here rather than sending "erase" strokes:
what the artist sees on the canvas is exactly what the engine is given.

"Propose" writes the strokes to a file and runs ``genplate annotate`` through the engine
client (a worker thread; the GUI never waits). The proposal comes back as the prompt with the
motion's directions appended (editable) and keyframe images at their grid indexes; "Use"
hands them to the panel, which sends them with ``--keyframe`` and ``--strokes``.
"""
from __future__ import annotations

import json
import math
import os
import time
import uuid
from typing import Callable, Optional

from .qt import QtCore, QtGui, QtWidgets, Qt, Signal, emit
from .thumbnails import ThumbnailLoader

TOOLS = ("arrow", "freehand", "pin", "erase")
DEFAULT_PIN_RADIUS = 0.08   # frame heights: a pin placed with a click, not dragged open
TAP_PX = 4                  # shorter drags are taps: no arrow, no path, a default-sized pin
FREEHAND_STEP_PX = 3        # a freehand path keeps a point every few pixels, not every event
HIT_PX = 8                  # how close the eraser must come to a line
DIGITS = 5                  # the engine's own rounding of stroke coordinates
KEYFRAME_W, KEYFRAME_H = 160, 90

COLOURS = {"arrow": "#ffd84a", "freehand": "#4ad8ff", "pin": "#ff7ad9", "doomed": "#ff4a4a"}


def _event_pos(event) -> QtCore.QPointF:
    """The mouse position as a float point (PySide6 ``position``, PySide2 ``localPos``)."""
    if hasattr(event, "position"):
        return QtCore.QPointF(event.position())
    return QtCore.QPointF(event.localPos())


def _segment_distance(p: QtCore.QPointF, a: QtCore.QPointF, b: QtCore.QPointF) -> float:
    dx, dy = b.x() - a.x(), b.y() - a.y()
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p.x() - a.x()) * dx + (p.y() - a.y()) * dy)
                                               / length2))
    return math.hypot(a.x() + t * dx - p.x(), a.y() + t * dy - p.y())


class AnnotationCanvas(QtWidgets.QWidget):
    """A frame with strokes drawn over it. ``strokes()`` is the JSON list annotate reads."""

    strokesChanged = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("annotationCanvas")
        self.setMouseTracking(True)  # the eraser shows what it would remove before a click
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 200)
        self.pin_label = ""
        self._image = QtGui.QImage()
        self._frame_path = ""
        self._scaled: Optional[QtGui.QPixmap] = None
        self._strokes: list[dict] = []
        # Undo steps: ("add", [(index, stroke)]), ("erase", [(index, stroke), ...] in removal
        # order), ("clear", [(index, stroke), ...]).
        self._history: list[tuple[str, list[tuple[int, dict]]]] = []
        self._tool = "arrow"
        self._live: Optional[dict] = None
        self._press: Optional[QtCore.QPointF] = None
        self._erased: list[tuple[int, dict]] = []
        self._hover = -1
        self.revision = 0  # bumps on every change: a proposal knows which drawing it answered

    # -- the frame -----------------------------------------------------------------------

    def set_frame(self, path: str) -> bool:
        image = QtGui.QImage(path) if path else QtGui.QImage()
        if path and image.isNull():
            return False
        self._image, self._frame_path, self._scaled = image, path if path else "", None
        self.update()
        return True

    @property
    def frame_path(self) -> str:
        return self._frame_path

    def frame_rect(self) -> QtCore.QRectF:
        """Where the frame is drawn: the widget less a margin, at the frame's aspect ratio."""
        area = QtCore.QRectF(self.rect()).adjusted(8, 8, -8, -8)
        w, h = (self._image.width(), self._image.height()) if not self._image.isNull() else (16, 9)
        scale = min(area.width() / w, area.height() / h)
        size = QtCore.QSizeF(w * scale, h * scale)
        return QtCore.QRectF(area.center().x() - size.width() / 2,
                             area.center().y() - size.height() / 2, size.width(), size.height())

    def normalised(self, pos: QtCore.QPointF) -> list[float]:
        r = self.frame_rect()
        x = min(1.0, max(0.0, (pos.x() - r.x()) / r.width()))
        y = min(1.0, max(0.0, (pos.y() - r.y()) / r.height()))
        return [round(x, DIGITS), round(y, DIGITS)]

    def to_widget(self, point) -> QtCore.QPointF:
        r = self.frame_rect()
        return QtCore.QPointF(r.x() + point[0] * r.width(), r.y() + point[1] * r.height())

    # -- the strokes ---------------------------------------------------------------------

    def strokes(self) -> list[dict]:
        return json.loads(json.dumps(self._strokes))  # a copy the caller may change

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"tool {tool!r} is not one of {', '.join(TOOLS)}")
        self._tool = tool
        self._hover = -1
        self.setCursor(Qt.CursorShape.PointingHandCursor if tool == "erase"
                       else Qt.CursorShape.CrossCursor)
        self.update()

    @property
    def tool(self) -> str:
        return self._tool

    def can_undo(self) -> bool:
        return bool(self._history)

    def undo(self) -> None:
        # Not mid-gesture: an erase drag's removals are recorded only when it ends.
        if not self._history or self._press is not None:
            return
        action, items = self._history.pop()
        if action == "add":
            for index, _stroke in items:
                del self._strokes[index]
        else:  # put erased or cleared strokes back where they were, the last removed first
            for index, stroke in reversed(items):
                self._strokes.insert(index, stroke)
        self._changed()

    def clear(self) -> None:
        if not self._strokes or self._press is not None:
            return
        self._history.append(("clear", list(enumerate(self._strokes))[::-1]))
        self._strokes = []
        self._changed()

    def stroke_at(self, pos: QtCore.QPointF) -> int:
        """The index of the topmost stroke under ``pos`` (widget coordinates), or -1."""
        r = self.frame_rect()
        for index in range(len(self._strokes) - 1, -1, -1):
            stroke = self._strokes[index]
            points = [self.to_widget(p) for p in stroke["points"]]
            if stroke["kind"] == "pin":
                reach = max(HIT_PX, stroke.get("radius", 0.0) * r.height())
                if math.hypot(pos.x() - points[0].x(), pos.y() - points[0].y()) <= reach:
                    return index
                continue
            line = points if len(points) > 1 else points * 2
            if any(_segment_distance(pos, a, b) <= HIT_PX for a, b in zip(line[:-1], line[1:])):
                return index
        return -1

    def _add(self, stroke: dict) -> None:
        self._strokes.append(stroke)
        self._history.append(("add", [(len(self._strokes) - 1, stroke)]))
        self._changed()

    def _changed(self) -> None:
        self.revision += 1
        self._hover = -1
        self.update()
        emit(self.strokesChanged)

    # -- the mouse -----------------------------------------------------------------------

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        pos = _event_pos(event)
        self._press = pos
        point = self.normalised(pos)
        if self._tool == "arrow":
            self._live = {"kind": "arrow", "points": [point, point]}
        elif self._tool == "freehand":
            self._live = {"kind": "freehand", "points": [point]}
        elif self._tool == "pin":
            self._live = {"kind": "pin", "points": [point], "radius": DEFAULT_PIN_RADIUS}
        else:
            self._erased = []
            self._erase_at(pos)
        self.update()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        pos = _event_pos(event)
        if self._press is None:  # hovering: show what the eraser would take
            if self._tool == "erase":
                hover = self.stroke_at(pos)
                if hover != self._hover:
                    self._hover = hover
                    self.update()
            return
        if self._tool == "erase":
            self._erase_at(pos)
        elif self._live is not None:
            kind = self._live["kind"]
            if kind == "arrow":
                self._live["points"][1] = self.normalised(pos)
            elif kind == "freehand":
                last = self.to_widget(self._live["points"][-1])
                if math.hypot(pos.x() - last.x(), pos.y() - last.y()) >= FREEHAND_STEP_PX:
                    self._live["points"].append(self.normalised(pos))
            else:
                self._live["radius"] = self._pin_radius(self._press, pos)
        self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.button() != Qt.MouseButton.LeftButton or self._press is None:
            return super().mouseReleaseEvent(event)
        pos = _event_pos(event)
        press, live = self._press, self._live
        self._press, self._live = None, None
        if self._tool == "erase":
            self._erase_at(pos)
            if self._erased:
                self._history.append(("erase", self._erased))
                self._erased = []
                self._changed()
            return
        if live is None:
            return
        dragged = math.hypot(pos.x() - press.x(), pos.y() - press.y())
        kind = live["kind"]
        if kind == "arrow":
            live["points"][1] = self.normalised(pos)
            if dragged >= TAP_PX:
                self._add(live)
        elif kind == "freehand":
            if live["points"][-1] != self.normalised(pos):
                live["points"].append(self.normalised(pos))
            if len(live["points"]) >= 2 and self._path_px(live["points"]) >= TAP_PX:
                self._add(live)
        else:
            live["radius"] = self._pin_radius(press, pos)
            if self.pin_label.strip():
                live["label"] = self.pin_label.strip()
            self._add(live)
        self.update()

    def leaveEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self._hover != -1:
            self._hover = -1
            self.update()
        super().leaveEvent(event)

    def _pin_radius(self, centre: QtCore.QPointF, pos: QtCore.QPointF) -> float:
        """A pin dragged open is as big as the drag (in frame heights); a click is default."""
        dragged = math.hypot(pos.x() - centre.x(), pos.y() - centre.y())
        if dragged < 2 * TAP_PX:
            return DEFAULT_PIN_RADIUS
        return round(min(1.0, dragged / self.frame_rect().height()), DIGITS)

    def _path_px(self, points) -> float:
        pts = [self.to_widget(p) for p in points]
        return sum(math.hypot(b.x() - a.x(), b.y() - a.y()) for a, b in zip(pts[:-1], pts[1:]))

    def _erase_at(self, pos: QtCore.QPointF) -> None:
        index = self.stroke_at(pos)
        if index >= 0:
            self._erased.append((index, self._strokes.pop(index)))
            self._hover = -1
            self.update()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.key() == Qt.Key.Key_Escape and self._press is not None:
            # Abandon the gesture: the stroke being drawn, or what this erase drag took so far.
            for index, stroke in reversed(self._erased):
                self._strokes.insert(index, stroke)
            self._press, self._live, self._erased = None, None, []
            self.update()
            return
        super().keyPressEvent(event)

    # -- drawing -------------------------------------------------------------------------

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's name)
        painter = QtGui.QPainter(self)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QtGui.QColor("#1d1d1d"))
        r = self.frame_rect()
        if self._image.isNull():
            painter.fillRect(r, QtGui.QColor("#2b2b2b"))
            painter.setPen(QtGui.QColor("#9a9a9a"))
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter,
                             "no frame yet: grab one from the host, use the selected take's "
                             "thumbnail, or choose an image")
        else:
            size = r.size().toSize()
            if self._scaled is None or self._scaled.size() != size:
                # Scaled once per size, not on every repaint while a stroke is dragged.
                self._scaled = QtGui.QPixmap.fromImage(self._image.scaled(
                    size, Qt.AspectRatioMode.IgnoreAspectRatio,
                    Qt.TransformationMode.SmoothTransformation))
            painter.drawPixmap(r.topLeft(), self._scaled)
        for index, stroke in enumerate(self._strokes):
            self._draw(painter, stroke, doomed=index == self._hover)
        if self._live is not None:
            self._draw(painter, self._live)
        painter.end()

    def _draw(self, painter: QtGui.QPainter, stroke: dict, *, doomed: bool = False) -> None:
        kind = stroke["kind"]
        colour = QtGui.QColor(COLOURS["doomed" if doomed else kind])
        points = [self.to_widget(p) for p in stroke["points"]]
        # A dark outline under each stroke keeps it readable on bright and dark frames alike.
        for pen in (QtGui.QPen(QtGui.QColor(0, 0, 0, 150), 5.0), QtGui.QPen(colour, 2.5)):
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            if kind == "pin":
                radius = stroke.get("radius", DEFAULT_PIN_RADIUS) * self.frame_rect().height()
                painter.drawEllipse(points[0], radius, radius)
                painter.drawEllipse(points[0], 2.5, 2.5)
                continue
            if kind == "arrow":
                points = [points[0], points[-1]]
            painter.drawPolyline(QtGui.QPolygonF(points))
            if len(points) >= 2:
                self._draw_head(painter, points)
        if kind == "pin" and stroke.get("label"):
            self._draw_label(painter, points[0], stroke, colour)

    def _draw_head(self, painter: QtGui.QPainter, points: list) -> None:
        tip = points[-1]
        # Aim the head along the last few pixels of the path (a freehand end is jittery).
        base = next((p for p in reversed(points[:-1])
                     if math.hypot(tip.x() - p.x(), tip.y() - p.y()) >= 6), points[0])
        if tip == base:
            return
        angle = math.atan2(tip.y() - base.y(), tip.x() - base.x())
        for side in (-1, 1):
            a = angle + math.pi + side * math.radians(28)
            painter.drawLine(tip, QtCore.QPointF(tip.x() + 13 * math.cos(a),
                                                 tip.y() + 13 * math.sin(a)))

    def _draw_label(self, painter, centre: QtCore.QPointF, stroke: dict, colour) -> None:
        radius = stroke.get("radius", DEFAULT_PIN_RADIUS) * self.frame_rect().height()
        metrics = painter.fontMetrics()
        text = stroke["label"]
        box = QtCore.QRectF(0, 0, metrics.horizontalAdvance(text) + 10, metrics.height() + 4)
        box.moveCenter(QtCore.QPointF(centre.x(), centre.y() - radius - box.height() / 2 - 3))
        if box.top() < self.frame_rect().top():  # no room above: below the pin
            box.moveCenter(QtCore.QPointF(centre.x(), centre.y() + radius + box.height() / 2 + 3))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QtGui.QColor(0, 0, 0, 170))
        painter.drawRoundedRect(box, 3, 3)
        painter.setPen(colour)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


def write_strokes(strokes: list[dict], folder: str) -> str:
    """The strokes as a JSON file in ``folder`` (written whole, then renamed into place)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "canvas_strokes.json")
    tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(strokes, fh)
    os.replace(tmp, path)
    return path


class AnnotationWindow(QtWidgets.QWidget):
    """The canvas with its tools, the Propose round trip and the proposal to use.

    ``context()`` tells the window what the panel holds right now: {"prompt", "duration",
    "out_dir"} (out_dir: where proposals' keyframes are kept; each proposal gets a folder
    of its own in it, because a queued job still reads the images of an earlier one).
    ``used`` carries JSON {"prompt", "keyframe_args", "strokes_file", "strokes"} to the panel.
    """

    used = Signal(str)

    def __init__(self, client, context: Callable[[], dict], *,
                 grab: Optional[Callable[[], str]] = None,
                 take_frame: Optional[Callable[[], str]] = None, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("genplateAnnotation")
        self.setWindowTitle("genplate: draw motion")
        self.client = client
        self._context = context
        self._grab, self._take_frame = grab, take_frame
        self.proposal: Optional[dict] = None
        self._proposed_revision = -1
        self._pending = False
        self._thumbs = ThumbnailLoader(KEYFRAME_W, KEYFRAME_H, self)
        self._thumbs.loaded.connect(self._on_thumbnail)
        self._build()
        self._sync()

    # -- layout --------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)

        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Frame"))
        self.from_host = QtWidgets.QPushButton("From host")
        self.from_host.setEnabled(self._grab is not None)
        self.from_host.clicked.connect(self._use_host_frame)
        self.from_take = QtWidgets.QPushButton("Selected take")
        self.from_take.setToolTip("draw on the selected take's thumbnail")
        self.from_take.setEnabled(self._take_frame is not None)
        self.from_take.clicked.connect(self._use_take_frame)
        browse = QtWidgets.QPushButton("Image…")
        browse.clicked.connect(self._browse)
        self.frame_label = QtWidgets.QLabel("")
        self.frame_label.setObjectName("frameLabel")
        self.frame_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for w in (self.from_host, self.from_take, browse):
            row.addWidget(w)
        row.addWidget(self.frame_label, 1)
        layout.addLayout(row)

        row = QtWidgets.QHBoxLayout()
        self.tools = QtWidgets.QButtonGroup(self)
        self.tools.setExclusive(True)
        self.tool_buttons: dict[str, QtWidgets.QToolButton] = {}
        tips = {"arrow": "drag from a subject to where it goes",
                "freehand": "drag the path a subject follows",
                "pin": "click a subject (drag to size it); its label names it in the prompt",
                "erase": "click a stroke to remove it"}
        for tool in TOOLS:
            button = QtWidgets.QToolButton()
            button.setText(tool.capitalize())
            button.setCheckable(True)
            button.setToolTip(tips[tool])
            button.setObjectName(f"tool_{tool}")
            button.clicked.connect(lambda _c=False, t=tool: self.canvas.set_tool(t))
            self.tools.addButton(button)
            self.tool_buttons[tool] = button
            row.addWidget(button)
        self.pin_label = QtWidgets.QLineEdit()
        self.pin_label.setObjectName("pinLabel")
        self.pin_label.setPlaceholderText("pin label (optional), e.g. the red kite")
        self.pin_label.textChanged.connect(self._on_pin_label)
        row.addWidget(self.pin_label, 1)
        self.undo_button = QtWidgets.QPushButton("Undo")
        self.undo_button.setToolTip("undo the last stroke, erase or clear (Ctrl+Z)")
        self.clear_button = QtWidgets.QPushButton("Clear")
        row.addWidget(self.undo_button)
        row.addWidget(self.clear_button)
        layout.addLayout(row)

        self.canvas = AnnotationCanvas()
        self.canvas.strokesChanged.connect(self._sync)
        self.undo_button.clicked.connect(self.canvas.undo)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.tool_buttons["arrow"].setChecked(True)
        self.canvas.set_tool("arrow")
        layout.addWidget(self.canvas, 1)
        undo = QtGui.QShortcut(QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.Undo), self)
        undo.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        undo.activated.connect(self.canvas.undo)
        self._undo_shortcut = undo

        row = QtWidgets.QHBoxLayout()
        self.propose_button = QtWidgets.QPushButton("Propose")
        self.propose_button.setObjectName("propose")
        self.propose_button.setToolTip("turn the strokes into keyframes and prompt directions "
                                       "(local, nothing is sent or paid)")
        self.propose_button.clicked.connect(self.propose)
        self.note = QtWidgets.QLabel("")
        self.note.setObjectName("annotationNote")
        self.note.setWordWrap(True)
        row.addWidget(self.propose_button)
        row.addWidget(self.note, 1)
        layout.addLayout(row)

        self.proposal_box = QtWidgets.QGroupBox("Proposal")
        box = QtWidgets.QVBoxLayout(self.proposal_box)
        self.prompt = QtWidgets.QPlainTextEdit()
        self.prompt.setObjectName("proposedPrompt")
        self.prompt.setFixedHeight(58)
        self.prompt.setToolTip("the prompt with the motion's directions appended: edit freely")
        box.addWidget(self.prompt)
        self.keyframes = QtWidgets.QListWidget()
        self.keyframes.setObjectName("proposedKeyframes")
        self.keyframes.setViewMode(QtWidgets.QListView.ViewMode.IconMode)
        self.keyframes.setFlow(QtWidgets.QListView.Flow.LeftToRight)
        self.keyframes.setWrapping(False)
        self.keyframes.setIconSize(QtCore.QSize(KEYFRAME_W, KEYFRAME_H))
        self.keyframes.setGridSize(QtCore.QSize(KEYFRAME_W + 10, KEYFRAME_H + 24))
        self.keyframes.setMovement(QtWidgets.QListView.Movement.Static)
        self.keyframes.setFixedHeight(KEYFRAME_H + 34)
        box.addWidget(self.keyframes)
        row = QtWidgets.QHBoxLayout()
        self.use_button = QtWidgets.QPushButton("Use")
        self.use_button.setObjectName("use")
        self.use_button.setToolTip("put this prompt and these keyframes into the request")
        self.use_button.clicked.connect(self.use)
        row.addWidget(self.use_button)
        row.addStretch(1)
        box.addLayout(row)
        self.proposal_box.setVisible(False)
        layout.addWidget(self.proposal_box)

    # -- the frame -----------------------------------------------------------------------

    def set_frame(self, path: str) -> bool:
        if not self.canvas.set_frame(path):
            self._say(f"cannot read {path} as an image", error=True)
            return False
        self.frame_label.setText(os.path.basename(path))
        self.frame_label.setToolTip(path)
        self._sync()
        return True

    def _use_host_frame(self) -> None:
        try:
            path = self._grab() if self._grab else ""
        except Exception as exc:
            self._say(f"could not grab a frame: {exc}", error=True)
            return
        if path:
            self.set_frame(path)

    def _use_take_frame(self) -> None:
        path = self._take_frame() if self._take_frame else ""
        if not path:
            self._say("select a take in the panel first", error=True)
            return
        self.set_frame(path)

    def _browse(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "frame to draw on", self.canvas.frame_path, "Images (*.png *.jpg *.jpeg *.exr)")
        if path:
            self.set_frame(path)

    def _on_pin_label(self, text: str) -> None:
        self.canvas.pin_label = text

    # -- propose and use -----------------------------------------------------------------

    def propose(self) -> None:
        strokes = self.canvas.strokes()
        if not self.canvas.frame_path:
            self._say("choose a frame to draw on first", error=True)
            return
        if not strokes:
            self._say("draw an arrow, a path or a pin first", error=True)
            return
        context = self._context() or {}
        folder = os.path.join(str(context.get("out_dir") or ""),
                              time.strftime("annotation_%Y%m%d-%H%M%S_") + uuid.uuid4().hex[:4])
        try:
            strokes_file = write_strokes(strokes, folder)
        except OSError as exc:
            self._say(f"cannot write the strokes to {folder}: {exc}", error=True)
            return
        self._pending = True
        self._proposed_revision = self.canvas.revision
        self._sync()
        self._say("proposing …")
        self.client.annotate(self.canvas.frame_path, strokes_file,
                             str(context.get("prompt") or ""), folder, self._on_proposal,
                             self._on_failure, duration=str(context.get("duration") or "5s"))

    def _on_proposal(self, payload: dict) -> None:
        self._pending = False
        self.proposal = payload
        self.prompt.setPlainText(str(payload.get("prompt") or ""))
        self.keyframes.clear()
        for frame in payload.get("keyframes") or []:
            item = QtWidgets.QListWidgetItem(self._placeholder(), f"#{int(frame['index'])}")
            item.setToolTip(f"{frame.get('note', '')}\n{frame.get('path', '')}")
            item.setData(Qt.ItemDataRole.UserRole, str(frame.get("path") or ""))
            self.keyframes.addItem(item)
            self._request_thumbnail(str(frame.get("path") or ""))
        self.proposal_box.setVisible(True)
        count = len(payload.get("keyframes") or [])
        camera = payload.get("camera")
        self._say(f"{count} keyframe(s)" + (f"; read as a camera move: {camera}" if camera else "")
                  + ". Edit the prompt, then Use.")
        self._sync()

    def _on_failure(self, message: str) -> None:
        self._pending = False
        self._say(f"annotate: {message}", error=True)
        self._sync()

    def use(self) -> None:
        if not self.proposal:
            return
        payload = {"prompt": self.prompt.toPlainText().strip(),
                   "keyframe_args": list(self.proposal.get("keyframe_args") or []),
                   "strokes_file": str(self.proposal.get("strokes_file") or ""),
                   "strokes": len(self.proposal.get("strokes") or [])}
        emit(self.used, json.dumps(payload))
        self._say("used: the prompt and keyframes are in the request")

    # -- keyframe thumbnails -------------------------------------------------------------

    def _request_thumbnail(self, path: str) -> None:
        try:
            self._thumbs.request((path, os.path.getmtime(path)))
        except OSError:
            pass

    def _on_thumbnail(self, path: str) -> None:
        for row in range(self.keyframes.count()):
            item = self.keyframes.item(row)
            if item.data(Qt.ItemDataRole.UserRole) != path:
                continue
            try:
                image = self._thumbs.take((path, os.path.getmtime(path)))
            except OSError:
                image = None
            if image is not None and not image.isNull():
                item.setIcon(QtGui.QIcon(QtGui.QPixmap.fromImage(image)))

    def _placeholder(self) -> QtGui.QIcon:
        pixmap = QtGui.QPixmap(KEYFRAME_W, KEYFRAME_H)
        pixmap.fill(QtGui.QColor("#3a3a3a"))
        return QtGui.QIcon(pixmap)

    # -- state ---------------------------------------------------------------------------

    def _sync(self) -> None:
        has_strokes = bool(self.canvas.strokes())
        self.undo_button.setEnabled(self.canvas.can_undo())
        self.clear_button.setEnabled(has_strokes)
        self.propose_button.setEnabled(not self._pending and has_strokes
                                       and bool(self.canvas.frame_path))
        stale = self.proposal is not None and self.canvas.revision != self._proposed_revision
        self.use_button.setEnabled(self.proposal is not None and not self._pending)
        if stale and not self._pending:
            self._say("the drawing changed since this proposal: Propose again to include it")

    def _say(self, message: str, *, error: bool = False) -> None:
        self.note.setStyleSheet("color: #e06c5a;" if error else "")
        self.note.setText(message)


__all__ = ["AnnotationCanvas", "AnnotationWindow", "write_strokes", "TOOLS",
           "DEFAULT_PIN_RADIUS"]
