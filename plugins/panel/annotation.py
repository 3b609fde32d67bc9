"""The annotation window: the canvas with its tools, the Propose round trip, and Use.

"Propose" writes the strokes to a file and runs ``genplate annotate`` through the engine
client (a worker thread; the GUI never waits). The proposal comes back as the prompt with the
motion's directions appended (editable) and keyframe images at their grid indexes; "Use"
hands them to the panel, which sends them with ``--keyframe`` and ``--strokes``.

Kept apart from the canvas (canvas.py), which only draws and edits strokes: this window is
where the strokes meet the engine and the panel.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from typing import Callable, Optional

from .canvas import TOOLS, AnnotationCanvas
from .qt import QtCore, QtGui, QtWidgets, Qt, Signal, emit
from .thumbnails import ThumbnailLoader

KEYFRAME_W, KEYFRAME_H = 160, 90


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


__all__ = ["AnnotationWindow", "write_strokes"]
