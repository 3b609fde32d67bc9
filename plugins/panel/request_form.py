"""The panel's "Shot request" section: the fields an artist fills in before pressing Generate.

The form is the largest part of the panel and the one that changes with Ray3's options, so it
lives here on its own: building the fields, filling them from the host's context, keeping the
quality presets consistent, grabbing frames from the host, and reading the fields back as one
RequestFields. Sending the request is the panel's (panel.py); drawing motion is motion.py's.
"""
from __future__ import annotations

import os

from . import commands as C
from .qt import QtWidgets, Signal, emit

MAX_DRAFTS = 16


class _FramePicker(QtWidgets.QWidget):
    """A frame for the request: a PNG path, typed, browsed, or grabbed from the host."""

    grabRequested = Signal(str)

    def __init__(self, which: str, can_grab: bool, parent=None) -> None:
        super().__init__(parent)
        self.which = which
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.path = QtWidgets.QLineEdit()
        self.path.setPlaceholderText("none")
        self.path.setClearButtonEnabled(True)
        self.grab = QtWidgets.QPushButton("From host")
        self.grab.setToolTip("render this frame from the host through its viewer transform "
                             "(8-bit PNG)" if can_grab else "this host cannot grab frames")
        self.grab.setEnabled(can_grab)
        self.grab.clicked.connect(lambda: emit(self.grabRequested, self.which))
        browse = QtWidgets.QToolButton()
        browse.setText("…")
        browse.setToolTip("choose an image file")
        browse.clicked.connect(self._browse)
        layout.addWidget(self.path, 1)
        layout.addWidget(self.grab)
        layout.addWidget(browse)

    def _browse(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, f"{self.which} frame", self.path.text() or "", "Images (*.png *.jpg *.jpeg)")
        if path:
            self.path.setText(path)


class RequestFormMixin:
    """The request section of GenplatePanel (a mixin: the panel holds the state and the Qt base).

    Uses the panel's adapter, _takes_timer, submit, _say and the motion mixin's _set_strokes /
    open_annotation; everything it builds (prompt, quality, shot, root, generate, ...) becomes
    an attribute of the panel.
    """

    def _build_request(self) -> QtWidgets.QWidget:
        box = QtWidgets.QGroupBox("Shot request")
        form = QtWidgets.QFormLayout(box)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.prompt = QtWidgets.QPlainTextEdit()
        self.prompt.setObjectName("prompt")
        self.prompt.setPlaceholderText("what the shot shows: subject, action, camera, light…")
        self.prompt.setFixedHeight(64)
        form.addRow("Prompt", self.prompt)

        row = QtWidgets.QHBoxLayout()
        self.quality = QtWidgets.QComboBox()
        self.quality.addItem("Draft (360p SDR)", "draft")
        self.quality.addItem("Master (HDR + EXR)", "master")
        self.quality.addItem("Custom", "custom")
        self.quality.setToolTip("drafts are cheap and fast for exploring; a master is the "
                                "high-fidelity take")
        self.resolution = QtWidgets.QComboBox()
        self.resolution.addItems(list(C.RESOLUTIONS))
        self.resolution.setCurrentText("1080p")
        self.duration = QtWidgets.QComboBox()
        self.duration.addItem("5 s (121 frames)", "5s")
        self.duration.addItem("10 s (241 frames)", "10s")
        self.aspect = QtWidgets.QComboBox()
        self.aspect.addItems(list(C.ASPECT_RATIOS))
        for label, widget in (("", self.quality), ("", self.resolution), ("", self.duration),
                              ("", self.aspect)):
            row.addWidget(widget)
        row.addStretch(1)
        form.addRow("Quality", row)

        row = QtWidgets.QHBoxLayout()
        self.hdr = QtWidgets.QCheckBox("HDR")
        self.exr = QtWidgets.QCheckBox("EXR")
        self.loop = QtWidgets.QCheckBox("Loop")
        for w in (self.hdr, self.exr, self.loop):
            row.addWidget(w)
        row.addStretch(1)
        form.addRow("", row)

        can_grab = self.adapter.can_grab_frames()
        self.start_frame = _FramePicker("start", can_grab)
        self.end_frame = _FramePicker("end", can_grab)
        self.start_frame.grabRequested.connect(self._grab)
        self.end_frame.grabRequested.connect(self._grab)
        form.addRow("Start frame", self.start_frame)
        form.addRow("End frame", self.end_frame)

        row = QtWidgets.QHBoxLayout()
        self.keyframes = QtWidgets.QLineEdit()
        self.keyframes.setPlaceholderText("48=/path/a.png, 96=/path/b.png  (24 fps grid)")
        self.grab_keyframe = QtWidgets.QPushButton("Grab at")
        self.grab_keyframe.setEnabled(can_grab)
        self.keyframe_index = QtWidgets.QSpinBox()
        self.keyframe_index.setRange(1, 240)
        self.keyframe_index.setValue(48)
        self.grab_keyframe.clicked.connect(
            lambda: self._grab(f"keyframe:{self.keyframe_index.value()}"))
        self.draw_motion = QtWidgets.QPushButton("Draw motion…")
        self.draw_motion.setObjectName("drawMotion")
        self.draw_motion.setToolTip("draw arrows, paths and pins on a frame: they become "
                                    "keyframes and directions in the prompt")
        self.draw_motion.clicked.connect(self.open_annotation)
        row.addWidget(self.keyframes, 1)
        row.addWidget(self.grab_keyframe)
        row.addWidget(self.keyframe_index)
        row.addWidget(self.draw_motion)
        form.addRow("Keyframes", row)

        row = QtWidgets.QHBoxLayout()
        self.strokes_note = QtWidgets.QLabel("")
        self.strokes_note.setObjectName("strokesNote")
        self.forget_strokes = QtWidgets.QToolButton()
        self.forget_strokes.setText("✕")
        self.forget_strokes.setToolTip("do not send the drawn strokes with the request")
        self.forget_strokes.clicked.connect(lambda: self._set_strokes(""))
        row.addWidget(self.strokes_note)
        row.addWidget(self.forget_strokes)
        row.addStretch(1)
        self.strokes_row = QtWidgets.QWidget()
        self.strokes_row.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        self.strokes_row.setVisible(False)
        form.addRow("", self.strokes_row)

        row = QtWidgets.QHBoxLayout()
        self.shot = QtWidgets.QLineEdit()
        self.shot.setObjectName("shot")
        self.shot.setMaximumWidth(120)
        self.root = QtWidgets.QLineEdit()
        self.root.setPlaceholderText("takes root (default $GENPLATE_ROOT)")
        browse = QtWidgets.QToolButton()
        browse.setText("…")
        browse.clicked.connect(self._browse_root)
        self.first_frame = QtWidgets.QSpinBox()
        self.first_frame.setRange(0, 10_000_000)
        self.first_frame.setValue(1001)
        self.first_frame.setToolTip("first frame number of the take (aligned to the shot)")
        row.addWidget(self.shot)
        row.addWidget(QtWidgets.QLabel("root"))
        row.addWidget(self.root, 1)
        row.addWidget(browse)
        row.addWidget(QtWidgets.QLabel("from"))
        row.addWidget(self.first_frame)
        form.addRow("Shot", row)

        row = QtWidgets.QHBoxLayout()
        self.generate = QtWidgets.QPushButton("Generate")
        self.generate.setObjectName("generate")
        self.generate.setDefault(True)
        self.generate.clicked.connect(self.submit)
        self.request_note = QtWidgets.QLabel("")
        self.request_note.setObjectName("requestNote")
        self.draft_count = QtWidgets.QSpinBox()
        self.draft_count.setObjectName("draftCount")
        self.draft_count.setRange(1, MAX_DRAFTS)
        self.draft_count.setValue(1)
        self.draft_count.setPrefix("drafts: ")
        self.draft_count.setToolTip("more than one: a batch of drafts, run together, judged and "
                                    "ranked on a contact sheet")
        row.addWidget(self.generate)
        row.addWidget(self.draft_count)
        row.addWidget(self.request_note, 1)
        form.addRow("", row)

        self.quality.currentIndexChanged.connect(self._sync_quality)
        self.resolution.currentIndexChanged.connect(self._sync_quality)
        self.hdr.toggled.connect(self._sync_quality)
        self.draft_count.valueChanged.connect(self._sync_quality)
        self.shot.textChanged.connect(lambda _t: self._takes_timer.start())
        self.root.textChanged.connect(lambda _t: self._takes_timer.start())
        return box

    # -- context -------------------------------------------------------------------------

    def _load_context(self) -> None:
        try:
            ctx = self.adapter.context() or {}
        except Exception as exc:  # a host without a script open still gets a usable panel
            ctx = {}
            self._say(f"host context unavailable: {exc}", error=True)
        self.shot.setText(str(ctx.get("shot") or "sh010"))
        self.root.setText(str(ctx.get("root") or os.environ.get("GENPLATE_ROOT", "")))
        try:
            self.first_frame.setValue(int(ctx.get("first_frame") or 1001))
        except (TypeError, ValueError):
            pass
        self._project = str(ctx.get("project") or "")

    # -- request -------------------------------------------------------------------------

    def fields(self) -> C.RequestFields:
        keyframes = {}
        for part in self.keyframes.text().replace(";", ",").split(","):
            index, sep, path = part.strip().partition("=")
            if sep and index.strip().isdigit() and path.strip():
                keyframes[int(index)] = path.strip()
        return C.RequestFields(
            prompt=self.prompt.toPlainText().strip(), quality=self.quality.currentData(),
            resolution=self.resolution.currentText(), duration=self.duration.currentData(),
            aspect=self.aspect.currentText(), hdr=self.hdr.isChecked(),
            exr=self.exr.isChecked(), loop=self.loop.isChecked(),
            start_frame=self.start_frame.path.text().strip(),
            end_frame=self.end_frame.path.text().strip(), keyframes=keyframes,
            shot=self.shot.text().strip(), root=self.root.text().strip(),
            first_frame=self.first_frame.value(), project=self._project,
            strokes=self._strokes_file)

    def _sync_quality(self) -> None:
        quality = self.quality.currentData()
        self.draft_count.setEnabled(quality == "draft")
        if quality == "draft":
            self.resolution.setEnabled(False)
            self.hdr.setEnabled(False)
            self.exr.setEnabled(False)
            self.hdr.setChecked(False)
            self.exr.setChecked(False)
            count = self.draft_count.value()
            self.request_note.setText(
                "360p SDR draft: cheap and fast, for exploring" if count == 1 else
                f"{count} 360p SDR drafts at once, judged and ranked on a contact sheet")
            return
        self.resolution.setEnabled(True)
        if quality == "master":
            if self.resolution.currentText() not in C.MASTER_RESOLUTIONS:
                self.resolution.setCurrentText("1080p")
            self.hdr.setChecked(True)
            self.exr.setChecked(True)
            self.hdr.setEnabled(False)
            self.exr.setEnabled(False)
            self.request_note.setText(f"{self.resolution.currentText()} HDR master with EXR")
            return
        hdr_ok = self.resolution.currentText() in C.MASTER_RESOLUTIONS
        self.hdr.setEnabled(hdr_ok)
        if not hdr_ok:
            self.hdr.setChecked(False)
        self.exr.setEnabled(hdr_ok and self.hdr.isChecked())
        if not self.exr.isEnabled():
            self.exr.setChecked(False)
        self.request_note.setText("HDR and EXR need 720p or 1080p" if not hdr_ok else "")

    def _grab(self, which: str) -> None:
        try:
            paths = self.adapter.grab_frames([which])
        except Exception as exc:
            self._say(f"could not grab the {which} frame: {exc}", error=True)
            return
        if not paths:
            return
        if which == "start":
            self.start_frame.path.setText(paths[0])
        elif which == "end":
            self.end_frame.path.setText(paths[0])
        elif which.startswith("keyframe:"):
            index = which.split(":", 1)[1]
            text = self.keyframes.text().strip()
            entry = f"{index}={paths[0]}"
            self.keyframes.setText(f"{text}, {entry}" if text else entry)

    def _browse_root(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "takes root", self.root.text())
        if path:
            self.root.setText(path)


__all__ = ["RequestFormMixin", "MAX_DRAFTS"]
