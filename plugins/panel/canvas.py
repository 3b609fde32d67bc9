"""The annotation canvas: a frame with strokes drawn over it, in the JSON annotate reads.

The artist draws over a frame (grabbed from the host, a take's thumbnail, or an image file):
arrows (a subject's tail to where it goes), freehand paths, pins (a subject, its size by
dragging, an optional label) and the eraser, which removes the stroke under the cursor. Undo
(Ctrl+Z) steps back through drawing, erasing and clearing alike.

Strokes are kept in normalised frame coordinates (x right, y down, 0..1 over the frame as
drawn, not the widget) in exactly the JSON ``genplate annotate --strokes`` reads:
``{"kind": "arrow"|"freehand"|"pin", "points": [[x, y], ...], "radius"?: r, "label"?: s}``,
radius in frame heights. The eraser removes strokes here rather than sending "erase" strokes:
what the artist sees on the canvas is exactly what the engine is given.

The window around the canvas (its tools, Propose and Use) is in annotation.py.
"""
from __future__ import annotations

import json
import math
from typing import Optional

from .qt import QtCore, QtGui, QtWidgets, Qt, Signal, emit

TOOLS = ("arrow", "freehand", "pin", "erase")
DEFAULT_PIN_RADIUS = 0.08   # frame heights: a pin placed with a click, not dragged open
TAP_PX = 4                  # shorter drags are taps: no arrow, no path, a default-sized pin
FREEHAND_STEP_PX = 3        # a freehand path keeps a point every few pixels, not every event
HIT_PX = 8                  # how close the eraser must come to a line
DIGITS = 5                  # the engine's own rounding of stroke coordinates

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


__all__ = ["AnnotationCanvas", "TOOLS", "DEFAULT_PIN_RADIUS"]
