"""The panel's "Jobs" section: every job the panel follows, with its state and progress bar.

The queue only shows what the engine reports (through the JobMonitor's signals) and asks the
engine to cancel; it never changes a job itself. Kept apart from the takes so the two lists,
which update at different times and from different answers, do not share code by accident.
"""
from __future__ import annotations

import json
from typing import Optional

from .labels import overall_progress
from .qt import QtGui, QtWidgets, Qt

TERMINAL_STATES = ("ready", "failed", "cancelled")


class JobQueueMixin:
    """The jobs section of GenplatePanel (a mixin: the panel holds the state and the Qt base).

    Uses the panel's client, monitor, _jobs, _job_items, shot, _sync_buttons, _say and
    refresh_takes.
    """

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


__all__ = ["JobQueueMixin", "TERMINAL_STATES"]
