"""Draft batches: several drafts sent at once, then judged and ranked on a contact sheet.

A batch outlives the request that started it (a detached engine process judges and ranks after
its jobs end), so the panel watches for the batch's JSON and then shows the ranks on the takes
and the contact sheet under them. It outlives the panel too: a panel opened again (a new host
session) asks `genplate batches --json` for the shot, shows the last finished batch and follows
one still running. All of that waiting and showing is here; sending the batch is the panel's
submit (panel.py).
"""
from __future__ import annotations

import json
import os

from .labels import verdict_text
from .qt import QtGui, QtWidgets, Qt

SHEET_W, SHEET_H = 520, 150  # the sheet's preview; full size in its own window


class DraftBatchesMixin:
    """Draft batches of GenplatePanel (a mixin: the panel holds the state and the Qt base).

    Uses the panel's monitor, generate, _batches, _ranks, last_batch, _sheet_loader,
    _batch_timer, _provenance_windows, and the other sections' _update_job, refresh_takes
    and _say.
    """

    def _build_sheet(self) -> QtWidgets.QWidget:
        """The last batch's contact sheet, shown under the takes (hidden until one is ranked)."""
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
        return self.sheet_box

    # -- draft batches -------------------------------------------------------------------

    def reopen_batches(self) -> None:
        """The shot's batches as the engine knows them: ranks and the last sheet shown again,
        a batch still being run followed as if sent from here."""
        shot = self.shot.text().strip()
        if not shot:
            return
        # An engine without `batches` (older than this panel) has nothing to reopen: quiet.
        self.client.batches(self.root.text().strip(), shot, self._on_batches,
                            lambda _message: None)

    def _on_batches(self, payload: dict) -> None:
        listed = [b for b in payload.get("batches") or []
                  if isinstance(b, dict) and b.get("batch")]  # newest first
        done = [b for b in listed if b.get("state") == "done"]
        for batch in reversed(done):  # oldest first: a take's newest batch gives its rank
            for draft in batch.get("drafts") or []:
                if isinstance(draft, dict) and draft.get("take_dir") and draft.get("rank"):
                    self._ranks[str(draft["take_dir"])] = int(draft["rank"])
        for batch in listed:
            batch_id = str(batch["batch"])
            if batch.get("state") == "running" and batch.get("batch_json") \
                    and batch_id not in self._batches:
                self._batches[batch_id] = {"batch": batch_id, "jobs": [],
                                           "contact_sheet": str(batch.get("contact_sheet") or ""),
                                           "batch_json": str(batch["batch_json"]),
                                           "log": str(batch.get("log") or "")}
                self._batch_timer.start()
        cut = [str(b["batch"]) for b in listed if b.get("state") == "interrupted"]
        if done and self.last_batch is None:
            newest = done[0]
            self._on_batch_done({"batch": str(newest["batch"]),
                                 "contact_sheet": str(newest.get("contact_sheet") or "")}, newest)
        elif done:
            self.refresh_takes()
        if cut:
            self._say(f"batch {', '.join(cut)} was cut short: `genplate resume` finishes it "
                      f"(no second generation)")

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


__all__ = ["DraftBatchesMixin", "SHEET_W", "SHEET_H"]
