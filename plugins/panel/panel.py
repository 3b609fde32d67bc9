"""The genplate panel: ask for a shot, follow its jobs, and bring its takes into the host.

One widget for every host: Nuke docks it (registerWidgetAsPanel), Resolve shows it in its
script process, and it runs standalone for tests. Everything host-specific goes through the
HostAdapter; everything heavy goes through the engine's command (EngineClient), whose answers
arrive as callbacks on the GUI thread. Nothing here waits on a process or a network.

This module holds the widget itself: its state, its layout, sending a request, the buttons'
state and the status line. Each section of the panel is a mixin in its own module:
request_form.py (the shot request), job_queue.py (the jobs), take_list.py (the takes),
batches.py (draft batches and their contact sheet) and motion.py (drawing motion); the words
shown for jobs and takes are in labels.py.
"""
from __future__ import annotations

from typing import Optional

from .batches import SHEET_H, SHEET_W, DraftBatchesMixin
from .engine import EngineClient, JobMonitor
from .host import HostAdapter
from .job_queue import TERMINAL_STATES, JobQueueMixin
from .motion import MotionMixin
from .qt import QtCore, QtGui, QtWidgets, Qt, Signal, emit
from .request_form import RequestFormMixin
from .take_list import THUMB_H, THUMB_W, TakeListMixin
from .thumbnails import ThumbnailLoader


class GenplatePanel(RequestFormMixin, JobQueueMixin, TakeListMixin, DraftBatchesMixin,
                    MotionMixin, QtWidgets.QWidget):
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

    # -- start ---------------------------------------------------------------------------

    def _start(self) -> None:
        self.monitor.start()
        self.refresh_takes()
        self.reopen_batches()
        self.client.probe_command("promote", self._on_promote_probe)
        self._sync_buttons()

    def _on_promote_probe(self, available: bool) -> None:
        self._can_promote = available
        self._sync_buttons()

    # -- sending the request -------------------------------------------------------------

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


__all__ = ["GenplatePanel", "show_standalone"]
