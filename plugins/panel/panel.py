"""The genplate panel: ask for a shot, follow its jobs, and bring its takes into the host.

One widget for every host: Nuke docks it (registerWidgetAsPanel), Resolve shows it in its
script process, and it runs standalone for tests. Everything host-specific goes through the
HostAdapter; everything heavy goes through the engine's command (EngineClient), whose answers
arrive as callbacks on the GUI thread. Nothing here waits on a process or a network.
"""
from __future__ import annotations

import json
import os
import queue
import threading
from typing import Optional

from . import commands as C
from .engine import EngineClient, JobMonitor
from .host import HostAdapter
from .qt import QtCore, QtGui, QtWidgets, Qt, Signal, emit

THUMB_W, THUMB_H = 176, 99
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


def take_label(take: dict) -> str:
    tag = "latest" if take.get("latest") else ""
    kind = take.get("kind") or ""
    extra = ", ".join(x for x in (kind, tag) if x)
    return f"{take.get('name')} v{int(take.get('version') or 0):03d}" + (f"\n{extra}" if extra else "")


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


class ThumbnailLoader(QtCore.QObject):
    """Decodes and scales thumbnails in a worker thread (QImage is safe off the GUI thread).

    A shot with many takes would otherwise spend milliseconds per PNG on the GUI thread each
    time the list is built. ``loaded(path)`` arrives on the GUI thread; ``take(key)`` then
    hands over the image (a QPixmap is made from it there, as Qt requires).
    """

    loaded = Signal(str)

    def __init__(self, width: int, height: int, parent=None) -> None:
        super().__init__(parent)
        self.size = (width, height)
        self._lock = threading.Lock()
        self._done: dict[tuple[str, float], QtGui.QImage] = {}
        self._queue: "queue.Queue[tuple[str, float]]" = queue.Queue()
        self._asked: set[tuple[str, float]] = set()
        self._thread: Optional[threading.Thread] = None

    def request(self, key: tuple[str, float]) -> None:
        with self._lock:
            if key in self._asked:
                return
            self._asked.add(key)
            # Queued under the lock: the worker decides to exit under it too, so a request
            # never lands in a queue nobody reads.
            self._queue.put(key)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="genplate-thumbnails",
                                                daemon=True)
                self._thread.start()

    def take(self, key: tuple[str, float]) -> Optional[QtGui.QImage]:
        with self._lock:
            return self._done.pop(key, None)

    def _work(self) -> None:
        while True:
            try:
                key = self._queue.get(timeout=2.0)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            image = QtGui.QImage(key[0])
            if not image.isNull():
                image = image.scaled(self.size[0], self.size[1],
                                     Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation)
            with self._lock:
                self._done[key] = image
            try:
                emit(self.loaded, key[0])
            except RuntimeError:  # the panel went away meanwhile
                return


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
        self._thumbs: dict[tuple[str, float], QtGui.QIcon] = {}
        self._blank: Optional[QtGui.QIcon] = None
        self._thumb_loader = ThumbnailLoader(THUMB_W, THUMB_H, self)
        self._thumb_loader.loaded.connect(self._on_thumbnail_loaded)
        self._can_promote = False
        self._provenance_windows: list[QtWidgets.QWidget] = []

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
        row.addWidget(self.keyframes, 1)
        row.addWidget(self.grab_keyframe)
        row.addWidget(self.keyframe_index)
        form.addRow("Keyframes", row)

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
        row.addWidget(self.generate)
        row.addWidget(self.request_note, 1)
        form.addRow("", row)

        self.quality.currentIndexChanged.connect(self._sync_quality)
        self.resolution.currentIndexChanged.connect(self._sync_quality)
        self.hdr.toggled.connect(self._sync_quality)
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
        layout.addWidget(self.takes_list, 1)
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
            first_frame=self.first_frame.value(), project=self._project)

    def _sync_quality(self) -> None:
        quality = self.quality.currentData()
        if quality == "draft":
            self.resolution.setEnabled(False)
            self.hdr.setEnabled(False)
            self.exr.setEnabled(False)
            self.hdr.setChecked(False)
            self.exr.setChecked(False)
            self.request_note.setText("360p SDR draft: cheap and fast, for exploring")
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
        self.client.takes(self.root.text().strip(), shot, self._on_takes,
                          lambda m: self._say(f"takes: {m}", error=True))

    def _on_takes(self, payload: dict) -> None:
        takes = [t for t in payload.get("takes", []) if isinstance(t, dict)]
        selected = self.selected_take()
        keep = selected.get("dir") if selected else None
        self._takes = takes
        self.takes_list.clear()
        # Newest first: the take the artist just made is the one they look for.
        for take in sorted(takes, key=lambda t: (t.get("name") or "", -int(t.get("version") or 0))):
            item = QtWidgets.QListWidgetItem(self._thumbnail(take), take_label(take))
            # The item keeps the take's folder; the summary lives in self._takes (one truth).
            item.setData(Qt.ItemDataRole.UserRole, str(take.get("dir") or ""))
            item.setToolTip(f"{take.get('prompt', '')}\n{take.get('pattern')}\n"
                            f"{take.get('first')}-{take.get('last')}  {take.get('colorspace')}")
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
        super().closeEvent(event)


def show_standalone(adapter: Optional[HostAdapter] = None) -> GenplatePanel:
    """Open the panel in its own window (Resolve's script process, or a terminal)."""
    from .qt import app_instance

    app_instance()
    panel = GenplatePanel(adapter)
    panel.resize(640, 860)
    panel.show()
    return panel


__all__ = ["GenplatePanel", "overall_progress", "take_label", "show_standalone"]
