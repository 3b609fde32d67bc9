"""The genplate panel: ask for a shot, follow its jobs, and bring its takes into the host.

One widget for every host: Nuke docks it (registerWidgetAsPanel), Resolve shows it in its
script process, and it runs standalone for tests. Everything host-specific goes through the
HostAdapter; everything heavy goes through the engine's command (EngineClient), whose answers
arrive as callbacks on the GUI thread. Nothing here waits on a process or a network.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Optional

from . import commands as C
from .engine import EngineClient, JobMonitor
from .host import HostAdapter
from .qt import QtCore, QtGui, QtWidgets, Qt, Signal, emit
from .thumbnails import ThumbnailLoader

THUMB_W, THUMB_H = 176, 99
SHEET_W, SHEET_H = 520, 150  # the sheet's preview; full size in its own window
MAX_DRAFTS = 16
TERMINAL_STATES = ("ready", "failed", "cancelled")

# How far along a job is, over its whole life: each state's share of the bar. The engine
# reports `progress` as the fraction of the current step ("generating", "downloading",
# "ingesting"), so the bar adds that fraction of the step's share to where the step begins.
_STEP_SPAN = {
    "queued": (0.0, 0.02),
    "submitted": (0.02, 0.05),
    "running": (0.05, 0.65),
    "delivered": (0.65, 0.75),
    "fetched": (0.75, 0.77),
    "ingesting": (0.77, 1.0),
    "ready": (1.0, 1.0),
}


def overall_progress(job: dict) -> float:
    """0..1 for a job summary from `genplate jobs --json` (failed/cancelled keep their place)."""
    state = job.get("state", "queued")
    start, end = _STEP_SPAN.get(state, (0.0, 0.0))
    fraction = job.get("progress")
    if state in ("failed", "cancelled"):
        return 0.0
    if isinstance(fraction, (int, float)) and 0.0 <= fraction <= 1.0:
        return start + (end - start) * float(fraction)
    return start


def take_label(take: dict, rank: Optional[int] = None) -> str:
    tag = "latest" if take.get("latest") else ""
    kind = take.get("kind") or ""
    extra = ", ".join(x for x in (kind, tag) if x)
    label = f"{take.get('name')} v{int(take.get('version') or 0):03d}" + (f"\n{extra}" if extra else "")
    verdict = verdict_text(take.get("scores"))
    if verdict or rank:
        label += "\n" + " ".join(x for x in (f"#{rank}" if rank else "", verdict) if x)
    return label


def verdict_text(scores) -> str:
    """The judge's verdict in a few words: "ok 87.5" or "broken 41.0" ("" if not judged)."""
    if not isinstance(scores, dict) or not scores.get("verdict"):
        return ""
    score = scores.get("score")
    number = f" {float(score):.1f}" if isinstance(score, (int, float)) else ""
    return f"{scores['verdict']}{number}"


def take_tooltip(take: dict) -> str:
    tip = (f"{take.get('prompt', '')}\n{take.get('pattern')}\n"
           f"{take.get('first')}-{take.get('last')}  {take.get('colorspace')}")
    scores = take.get("scores")
    if isinstance(scores, dict) and scores.get("verdict"):
        tip += f"\njudged {verdict_text(scores)}"
        for line in list(scores.get("reasons") or []) + list(scores.get("warnings") or []):
            tip += f"\n  - {line}"
    return tip


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


class GenplatePanel(QtWidgets.QWidget):
    """The dockable panel. ``adapter`` is the host; ``client`` defaults to the engine command."""

    statusChanged = Signal(str)

    def __init__(self, adapter: Optional[HostAdapter] = None,
                 client: Optional[EngineClient] = None, parent=None, *,
                 poll_ms: int = 2000, idle_poll_ms: int = 10000) -> None:
        super().__init__(parent)
        self.setObjectName("genplatePanel")
        self.setWindowTitle("genplate")
        self.adapter = adapter or HostAdapter()
        self.client = client or EngineClient(self)
        self.monitor = JobMonitor(self.client, self, fast_ms=poll_ms, idle_ms=idle_poll_ms)
        self._poll_ms = poll_ms
        self._jobs: dict[str, dict] = {}
        self._job_items: dict[str, QtWidgets.QTreeWidgetItem] = {}
        self._takes: list[dict] = []
        self._takes_asked = self._takes_shown = 0  # refreshes asked for / the newest shown
        self._thumbs: dict[tuple[str, float], QtGui.QIcon] = {}
        self._blank: Optional[QtGui.QIcon] = None
        self._thumb_loader = ThumbnailLoader(THUMB_W, THUMB_H, self)
        self._thumb_loader.loaded.connect(self._on_thumbnail_loaded)
        self._can_promote = False
        self._provenance_windows: list[QtWidgets.QWidget] = []
        self._annotation = None            # the canvas window, made on first use
        self._strokes_file = ""            # the canvas's strokes behind the keyframes in use
        self._batches: dict[str, dict] = {}  # draft batches still being run, by batch id
        self._ranks: dict[str, int] = {}   # take folder -> its rank in its finished batch
        self.last_batch: Optional[dict] = None
        self._sheet_loader = ThumbnailLoader(SHEET_W, SHEET_H, self)
        self._sheet_loader.loaded.connect(self._on_sheet_loaded)
        self._batch_timer = QtCore.QTimer(self)
        self._batch_timer.setInterval(max(100, poll_ms))
        self._batch_timer.timeout.connect(self._check_batches)

        self._takes_timer = QtCore.QTimer(self)
        self._takes_timer.setSingleShot(True)
        self._takes_timer.setInterval(400)
        self._takes_timer.timeout.connect(self.refresh_takes)
        self._build()
        self._load_context()
        self._sync_quality()

        self.monitor.activeJobs.connect(self._on_active_jobs)
        self.monitor.jobFinished.connect(self._on_job_finished)
        self.monitor.pollFailed.connect(lambda m: self._say(f"jobs: {m}", error=True))
        QtCore.QTimer.singleShot(0, self._start)

    # -- layout --------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        splitter = QtWidgets.QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        outer.addWidget(splitter, 1)
        splitter.addWidget(self._build_request())
        splitter.addWidget(self._build_queue())
        splitter.addWidget(self._build_takes())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 2)
        self.status = QtWidgets.QLabel("")
        self.status.setObjectName("genplateStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.status)

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

    def _build_queue(self) -> QtWidgets.QWidget:
        box = QtWidgets.QGroupBox("Jobs")
        layout = QtWidgets.QVBoxLayout(box)
        self.queue = QtWidgets.QTreeWidget()
        self.queue.setObjectName("queue")
        self.queue.setColumnCount(4)
        self.queue.setHeaderLabels(["take", "state", "progress", "message"])
        self.queue.setRootIsDecorated(False)
        self.queue.setUniformRowHeights(True)
        self.queue.header().setStretchLastSection(True)
        self.queue.setColumnWidth(0, 170)
        self.queue.setColumnWidth(1, 80)
        self.queue.setColumnWidth(2, 130)
        self.queue.itemSelectionChanged.connect(self._sync_buttons)
        layout.addWidget(self.queue, 1)
        row = QtWidgets.QHBoxLayout()
        self.cancel = QtWidgets.QPushButton("Cancel job")
        self.cancel.setObjectName("cancel")
        self.cancel.clicked.connect(self.cancel_selected)
        clear = QtWidgets.QPushButton("Clear finished")
        clear.clicked.connect(self._clear_finished)
        row.addWidget(self.cancel)
        row.addWidget(clear)
        row.addStretch(1)
        layout.addLayout(row)
        return box

    def _build_takes(self) -> QtWidgets.QWidget:
        box = QtWidgets.QGroupBox("Takes of this shot")
        self.takes_box = box
        layout = QtWidgets.QVBoxLayout(box)
        self.takes_list = QtWidgets.QListWidget()
        self.takes_list.setObjectName("takes")
        self.takes_list.setViewMode(QtWidgets.QListView.ViewMode.IconMode)
        self.takes_list.setIconSize(QtCore.QSize(THUMB_W, THUMB_H))
        self.takes_list.setResizeMode(QtWidgets.QListView.ResizeMode.Adjust)
        self.takes_list.setMovement(QtWidgets.QListView.Movement.Static)
        self.takes_list.setGridSize(QtCore.QSize(THUMB_W + 12, THUMB_H + 56))
        self.takes_list.setWordWrap(True)
        self.takes_list.setSpacing(4)
        self.takes_list.itemSelectionChanged.connect(self._sync_buttons)
        self.takes_list.itemDoubleClicked.connect(lambda _i: self.insert_selected())
        # At least one row of takes with their labels (name, kind, verdict), sheet or not.
        self.takes_list.setMinimumHeight(THUMB_H + 72)
        layout.addWidget(self.takes_list, 1)
        self.sheet_box = QtWidgets.QWidget()
        sheet_layout = QtWidgets.QVBoxLayout(self.sheet_box)
        sheet_layout.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        self.sheet_note = QtWidgets.QLabel("")
        self.sheet_note.setObjectName("sheetNote")
        self.sheet_note.setWordWrap(True)
        self.open_sheet = QtWidgets.QPushButton("Contact sheet")
        self.open_sheet.setToolTip("the batch's contact sheet at full size")
        self.open_sheet.clicked.connect(self.show_contact_sheet)
        hide = QtWidgets.QToolButton()
        hide.setText("✕")
        hide.setToolTip("hide the contact sheet")
        hide.clicked.connect(lambda: self.sheet_box.setVisible(False))
        row.addWidget(self.sheet_note, 1)
        row.addWidget(self.open_sheet)
        row.addWidget(hide)
        sheet_layout.addLayout(row)
        self.sheet_view = QtWidgets.QLabel()
        self.sheet_view.setObjectName("contactSheet")
        self.sheet_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        sheet_layout.addWidget(self.sheet_view)
        self.sheet_box.setVisible(False)
        layout.addWidget(self.sheet_box)
        row = QtWidgets.QHBoxLayout()
        self.insert = QtWidgets.QPushButton("Insert")
        self.insert.setObjectName("insert")
        self.insert.clicked.connect(self.insert_selected)
        self.promote = QtWidgets.QPushButton("Promote to master")
        self.promote.setObjectName("promote")
        self.promote.clicked.connect(self.promote_selected)
        self.open_folder = QtWidgets.QPushButton("Open folder")
        self.open_folder.clicked.connect(self.open_selected_folder)
        self.provenance = QtWidgets.QPushButton("Provenance")
        self.provenance.clicked.connect(self.show_selected_provenance)
        refresh = QtWidgets.QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_takes)
        for w in (self.insert, self.promote, self.open_folder, self.provenance):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(refresh)
        layout.addLayout(row)
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

    def _start(self) -> None:
        self.monitor.start()
        self.refresh_takes()
        self.client.probe_command("promote", self._on_promote_probe)
        self._sync_buttons()

    def _on_promote_probe(self, available: bool) -> None:
        self._can_promote = available
        self._sync_buttons()

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

    def submit(self) -> None:
        fields = self.fields()
        problems = fields.problems()
        if problems:
            self._say("; ".join(problems), error=True)
            return
        self.generate.setEnabled(False)
        count = self.draft_count.value() if fields.quality == "draft" else 1
        if count > 1:
            self._say(f"sending: a batch of {count} drafts of {fields.shot} …")
            self.client.drafts(fields, count, self._on_drafts_submitted, self._on_submit_failed)
            return
        self._say(f"sending: {fields.quality} {fields.shot} …")
        self.client.submit(fields, self._on_submitted, self._on_submit_failed)

    def _on_submitted(self, payload: dict) -> None:
        self.generate.setEnabled(True)
        job = payload.get("job") or {}
        if not job.get("id"):
            self._say("the engine accepted nothing (no job in its answer)", error=True)
            return
        self._update_job(job)
        self.monitor.watch(job)
        self._say(f"job {job['id']} queued: {job.get('shot')}/{job.get('name')}")

    def _on_submit_failed(self, message: str) -> None:
        self.generate.setEnabled(True)
        self._say(f"not sent: {message}", error=True)

    # -- draft batches -------------------------------------------------------------------

    def _on_drafts_submitted(self, payload: dict) -> None:
        self.generate.setEnabled(True)
        jobs = [j for j in payload.get("jobs") or [] if isinstance(j, dict) and j.get("id")]
        batch_id = str(payload.get("batch") or "")
        if not jobs or not batch_id:
            self._say("the engine accepted no drafts (no batch in its answer)", error=True)
            return
        for job in jobs:
            self._update_job(job)
            self.monitor.watch(job)
        # The batch is done when its JSON lands beside the contact sheet (written last, whole):
        # the detached batch process judges, retries and ranks after the jobs themselves end.
        self._batches[batch_id] = {"batch": batch_id, "jobs": [j["id"] for j in jobs],
                                   "contact_sheet": str(payload.get("contact_sheet") or ""),
                                   "batch_json": str(payload.get("batch_json") or ""),
                                   "log": str(payload.get("log") or "")}
        self._batch_timer.start()
        cost = payload.get("estimate_usd")
        self._say(f"batch {batch_id}: {len(jobs)} drafts queued"
                  + (f", est. ${float(cost):.2f}" if isinstance(cost, (int, float)) else "")
                  + "; they are judged and ranked when all are done")

    def _check_batches(self) -> None:
        for batch_id, batch in list(self._batches.items()):
            path = batch["batch_json"]
            if not path or not os.path.isfile(path):
                continue
            try:
                with open(path, encoding="utf-8") as fh:
                    result = json.load(fh)
            except (OSError, ValueError):
                continue  # not readable yet: next tick
            del self._batches[batch_id]
            self._on_batch_done(batch, result)
        if not self._batches:
            self._batch_timer.stop()

    def _on_batch_done(self, batch: dict, result: dict) -> None:
        drafts = [d for d in result.get("drafts") or [] if isinstance(d, dict)]
        for draft in drafts:
            if draft.get("take_dir") and draft.get("rank"):
                self._ranks[str(draft["take_dir"])] = int(draft["rank"])
        ok = sum(1 for d in drafts if d.get("verdict") == "ok")
        sheet = str(result.get("contact_sheet") or batch["contact_sheet"])
        self.last_batch = dict(result, contact_sheet=sheet)
        best = next((d for d in drafts if d.get("rank") == 1), None)
        note = (f"batch {batch['batch']}: {len(drafts)} drafts ranked, {ok} ok"
                + (f"; best {best.get('name')} v{int(best.get('version') or 0):03d}"
                   f" ({verdict_text(best)})" if best and best.get("version") else ""))
        self.sheet_note.setText(note)
        self.sheet_note.setToolTip(sheet)
        self.sheet_box.setVisible(True)
        try:
            self._sheet_loader.request((sheet, os.path.getmtime(sheet)))
        except OSError:
            self.sheet_view.setText(f"(no contact sheet at {sheet})")
        self._say(note)
        self.refresh_takes()

    def _on_sheet_loaded(self, path: str) -> None:
        try:
            image = self._sheet_loader.take((path, os.path.getmtime(path)))
        except OSError:
            return
        if image is not None and not image.isNull():
            self.sheet_view.setPixmap(QtGui.QPixmap.fromImage(image))
            self.sheet_view.setToolTip(path)

    def show_contact_sheet(self) -> None:
        if not self.last_batch:
            return
        path = self.last_batch["contact_sheet"]
        window = QtWidgets.QScrollArea()
        window.setObjectName("genplateContactSheet")
        window.setWindowTitle(f"contact sheet: batch {self.last_batch.get('batch')}")
        label = QtWidgets.QLabel()
        label.setPixmap(QtGui.QPixmap(path))
        window.setWidget(label)
        window.resize(1000, 700)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.show()
        self._provenance_windows = [w for w in self._provenance_windows if w.isVisible()]
        self._provenance_windows.append(window)

    # -- drawing motion ------------------------------------------------------------------

    def open_annotation(self) -> None:
        """The canvas window (non-modal: a modal dialog inside a host's loop freezes it)."""
        if self._annotation is None:
            from .canvas import AnnotationWindow

            grab = self._grab_for_canvas if self.adapter.can_grab_frames() else None
            self._annotation = AnnotationWindow(self.client, self._annotation_context, grab=grab,
                                                take_frame=self._selected_thumbnail)
            self._annotation.used.connect(self._use_annotation)
            self._annotation.resize(820, 760)
        window = self._annotation
        if not window.canvas.frame_path:
            for path in (self.start_frame.path.text().strip(), self._selected_thumbnail()):
                if path and os.path.isfile(path) and window.set_frame(path):
                    break
        window.show()
        window.raise_()
        window.activateWindow()

    def _annotation_context(self) -> dict:
        root, shot = self.root.text().strip(), self.shot.text().strip()
        if root and os.path.isabs(os.path.expanduser(root)) and shot:
            # Beside the shot's takes: a queued job reads these keyframes later, and the take
            # that comes of them names them in its provenance.
            out = os.path.join(os.path.expanduser(root), shot, "annotations")
        else:
            out = os.path.join(tempfile.gettempdir(), "genplate-annotations")
        return {"prompt": self.prompt.toPlainText().strip(),
                "duration": self.duration.currentData(), "out_dir": out}

    def _grab_for_canvas(self) -> str:
        paths = self.adapter.grab_frames(["start"])
        return paths[0] if paths else ""

    def _selected_thumbnail(self) -> str:
        take = self.selected_take()
        return str(take.get("thumbnail") or "") if take else ""

    def _use_annotation(self, text: str) -> None:
        used = json.loads(text)
        self.prompt.setPlainText(used.get("prompt") or "")
        self.keyframes.setText(", ".join(used.get("keyframe_args") or []))
        dropped = []
        # The annotated frame is keyframe 0 now; the engine refuses keyframes with start/end
        # frames or a loop, so those give way (said, not silently).
        for name, picker in (("start frame", self.start_frame), ("end frame", self.end_frame)):
            if picker.path.text().strip():
                picker.path.clear()
                dropped.append(name)
        if self.loop.isChecked():
            self.loop.setChecked(False)
            dropped.append("loop")
        self._set_strokes(str(used.get("strokes_file") or ""), int(used.get("strokes") or 0))
        self._say("the drawn motion is in the request" +
                  (f" (cleared: {', '.join(dropped)}: keyframes replace them)" if dropped else ""))

    def _set_strokes(self, path: str, count: int = 0) -> None:
        self._strokes_file = path
        self.strokes_row.setVisible(bool(path))
        self.strokes_note.setText(f"motion drawn: {count} stroke(s) sent with the request"
                                  if path else "")
        self.strokes_note.setToolTip(path)

    # -- jobs ----------------------------------------------------------------------------

    def _on_active_jobs(self, text: str) -> None:
        for job in json.loads(text):
            self._update_job(job)
        self._sync_buttons()

    def _on_job_finished(self, text: str) -> None:
        job = json.loads(text)
        self._update_job(job)
        if job.get("state") == "ready":
            self._say(f"take ready: {job.get('shot')}/{job.get('name')}")
            if job.get("shot") == self.shot.text().strip():
                self.refresh_takes()
        elif job.get("state") == "failed":
            self._say(f"job {job.get('id')} failed: {job.get('error')}", error=True)
        self._sync_buttons()

    def _update_job(self, job: dict) -> None:
        job_id = job["id"]
        self._jobs[job_id] = job
        item = self._job_items.get(job_id)
        if item is None:
            item = QtWidgets.QTreeWidgetItem()
            self.queue.insertTopLevelItem(0, item)  # newest first, where the eye starts
            item.setData(0, Qt.ItemDataRole.UserRole, job_id)
            bar = QtWidgets.QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            bar.setMaximumHeight(16)
            self.queue.setItemWidget(item, 2, bar)
            self._job_items[job_id] = item
        state = job.get("state", "?")
        label = f"{job.get('shot')}/{job.get('name')}"
        item.setText(0, label)
        item.setText(1, state + (" (cancelling)" if job.get("cancel_requested")
                                 and state not in TERMINAL_STATES else ""))
        item.setText(3, job.get("error") or job.get("message") or "")
        tip = f"{job.get('prompt', '')}\njob {job_id} on {job.get('backend')}"
        if job.get("estimate_usd"):
            tip += f"  ≈ ${float(job['estimate_usd']):.2f}"
        for col in range(4):
            item.setToolTip(col, tip)
        if state == "failed":
            item.setForeground(1, QtGui.QBrush(QtGui.QColor("#e06c5a")))
        elif state == "ready":
            item.setForeground(1, QtGui.QBrush(QtGui.QColor("#6cbf6c")))
        bar = self.queue.itemWidget(item, 2)
        if isinstance(bar, QtWidgets.QProgressBar):
            value = 1000 if state == "ready" else int(overall_progress(job) * 1000)
            bar.setValue(value)
            bar.setFormat(f"{value / 10:.0f}%" if state not in ("failed", "cancelled") else state)

    def selected_job(self) -> Optional[dict]:
        items = self.queue.selectedItems()
        if not items:
            return None
        return self._jobs.get(items[0].data(0, Qt.ItemDataRole.UserRole))

    def cancel_selected(self) -> None:
        job = self.selected_job()
        if job is None or job.get("state") in TERMINAL_STATES:
            return
        self.cancel.setEnabled(False)
        self.client.cancel(job["id"], self._on_cancelled,
                           lambda m: self._say(f"cancel: {m}", error=True))

    def _on_cancelled(self, payload: dict) -> None:
        job = payload.get("job") or {}
        if job.get("id"):
            self._update_job(job)
            self._say(f"job {job['id']}: cancel requested" if job.get("state") not in
                      TERMINAL_STATES else f"job {job['id']}: {job.get('state')}")
        self._sync_buttons()

    def _clear_finished(self) -> None:
        for job_id, job in list(self._jobs.items()):
            if job.get("state") in TERMINAL_STATES:
                item = self._job_items.pop(job_id)
                self.queue.takeTopLevelItem(self.queue.indexOfTopLevelItem(item))
                del self._jobs[job_id]
        self._sync_buttons()

    # -- takes ---------------------------------------------------------------------------

    def refresh_takes(self) -> None:
        shot = self.shot.text().strip()
        if not shot:
            return
        self.takes_box.setTitle(f"Takes of {shot}")
        self._takes_asked += 1
        asked = self._takes_asked
        self.client.takes(self.root.text().strip(), shot,
                          lambda payload: self._on_takes(payload, asked),
                          lambda m: self._say(f"takes: {m}", error=True))

    def _on_takes(self, payload: dict, asked: Optional[int] = None) -> None:
        if asked is not None:
            # Two refreshes in flight (a job done, a batch judged) may answer out of order:
            # an older listing never replaces a newer one (it could lack fresh scores).
            if asked < self._takes_shown:
                return
            self._takes_shown = asked
        takes = [t for t in payload.get("takes", []) if isinstance(t, dict)]
        selected = self.selected_take()
        keep = selected.get("dir") if selected else None
        self._takes = takes
        self.takes_list.clear()
        # Newest first: the take the artist just made is the one they look for.
        for take in sorted(takes, key=lambda t: (t.get("name") or "", -int(t.get("version") or 0))):
            rank = self._ranks.get(str(take.get("dir") or ""))
            item = QtWidgets.QListWidgetItem(self._thumbnail(take), take_label(take, rank))
            # The item keeps the take's folder; the summary lives in self._takes (one truth).
            item.setData(Qt.ItemDataRole.UserRole, str(take.get("dir") or ""))
            item.setToolTip(take_tooltip(take) + (f"\nrank {rank} in its draft batch"
                                                  if rank else ""))
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.takes_list.addItem(item)
            if keep and take.get("dir") == keep:
                item.setSelected(True)
        self.takes_box.setTitle(f"Takes of {self.shot.text().strip()} ({len(takes)})")
        self._sync_buttons()

    def _thumbnail(self, take: dict) -> QtGui.QIcon:
        """The take's thumbnail if already loaded, else a placeholder while a worker loads it."""
        path = str(take.get("thumbnail") or "")
        try:
            key = (path, os.path.getmtime(path))
        except OSError:
            return self._placeholder()
        icon = self._thumbs.get(key)
        if icon is not None:
            return icon
        image = self._thumb_loader.take(key)
        if image is not None:
            icon = QtGui.QIcon(QtGui.QPixmap.fromImage(image))
            self._thumbs[key] = icon
            return icon
        self._thumb_loader.request(key)
        return self._placeholder()

    def _placeholder(self) -> QtGui.QIcon:
        if self._blank is None:
            pixmap = QtGui.QPixmap(THUMB_W, THUMB_H)
            pixmap.fill(QtGui.QColor("#3a3a3a"))
            self._blank = QtGui.QIcon(pixmap)
        return self._blank

    def _on_thumbnail_loaded(self, path: str) -> None:
        for row in range(self.takes_list.count()):
            item = self.takes_list.item(row)
            take = self.take_at(item)
            if take is not None and str(take.get("thumbnail") or "") == path:
                item.setIcon(self._thumbnail(take))

    def selected_take(self) -> Optional[dict]:
        items = self.takes_list.selectedItems()
        return self.take_at(items[0]) if items else None

    def take_at(self, item: QtWidgets.QListWidgetItem) -> Optional[dict]:
        folder = item.data(Qt.ItemDataRole.UserRole)
        return next((t for t in self._takes if str(t.get("dir") or "") == folder), None)

    def insert_selected(self) -> None:
        take = self.selected_take()
        if take is None:
            return
        self.adapter.run_on_main_thread(self._insert, take)

    def _insert(self, take: dict) -> None:
        try:
            made = self.adapter.insert_take(take) or {}
        except Exception as exc:
            self._say(f"insert failed: {exc}", error=True)
            return
        what = ", ".join(f"{k} {v}" for k, v in made.items()) or "done"
        self._say(f"inserted {take.get('name')} v{int(take.get('version') or 0):03d}: {what}")

    def promote_selected(self) -> None:
        take = self.selected_take()
        if take is None or not self._can_promote:
            return
        self.promote.setEnabled(False)
        self.client.promote(take["dir"], self._on_promoted,
                            lambda m: (self._say(f"promote: {m}", error=True),
                                       self._sync_buttons()))

    def _on_promoted(self, payload: dict) -> None:
        job = payload.get("job") or {}
        if job.get("id"):
            self._update_job(job)
            self.monitor.watch(job)
            self._say(f"promoting: job {job['id']}")
        self._sync_buttons()

    def open_selected_folder(self) -> None:
        take = self.selected_take()
        if take is None:
            return
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(take.get("dir"))))

    def show_selected_provenance(self) -> None:
        take = self.selected_take()
        if take is None:
            return
        self.client.show(take["dir"], self._on_provenance,
                         lambda m: self._say(f"provenance: {m}", error=True))

    def _on_provenance(self, payload: dict) -> None:
        take = payload.get("take") or {}
        # Non-modal on purpose: a modal dialog in a host's event loop is how panels freeze it.
        window = QtWidgets.QPlainTextEdit()
        window.setObjectName("genplateProvenance")
        window.setWindowTitle(f"provenance: {take.get('shot')}/{take.get('name')} "
                              f"v{int(take.get('version') or 0):03d}")
        window.setReadOnly(True)
        window.setPlainText(json.dumps(payload.get("record", payload), indent=2, default=str))
        window.resize(560, 640)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.show()
        self._provenance_windows = [w for w in self._provenance_windows if w.isVisible()]
        self._provenance_windows.append(window)

    # -- state of the buttons ------------------------------------------------------------

    def _sync_buttons(self) -> None:
        job = self.selected_job()
        self.cancel.setEnabled(bool(job) and job.get("state") not in TERMINAL_STATES
                               and not job.get("cancel_requested"))
        take = self.selected_take()
        has = take is not None
        self.insert.setEnabled(has and self.adapter.can_insert())
        self.insert.setToolTip("" if self.adapter.can_insert()
                               else f"the {self.adapter.name} host has nowhere to insert a take")
        self.open_folder.setEnabled(has)
        self.provenance.setEnabled(has)
        if not self._can_promote:
            self.promote.setEnabled(False)
            self.promote.setToolTip("this engine has no `genplate promote` command yet")
        else:
            is_draft = has and take.get("kind") == "draft"
            self.promote.setEnabled(is_draft)
            self.promote.setToolTip("make a master from this draft" if is_draft
                                    else "choose a draft take to promote")

    def _say(self, message: str, *, error: bool = False) -> None:
        self.status.setStyleSheet("color: #e06c5a;" if error else "")
        self.status.setText(message)
        emit(self.statusChanged, message)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.monitor.fast_ms = self._poll_ms
        super().showEvent(event)

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        # A docked panel behind another tab still follows its jobs, at the idle pace: each poll
        # is an engine process, and nobody is looking at the bars.
        self.monitor.fast_ms = self.monitor.idle_ms
        super().hideEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        # The jobs go on in their engine workers; only the polling stops.
        self.monitor.stop()
        self._batch_timer.stop()
        if self._annotation is not None:
            self._annotation.close()
        super().closeEvent(event)


def show_standalone(adapter: Optional[HostAdapter] = None) -> GenplatePanel:
    """Open the panel in its own window (Resolve's script process, or a terminal)."""
    from .qt import app_instance

    app_instance()
    panel = GenplatePanel(adapter)
    panel.resize(640, 860)
    panel.show()
    return panel


__all__ = ["GenplatePanel", "overall_progress", "take_label", "take_tooltip", "verdict_text",
           "show_standalone", "ThumbnailLoader"]
