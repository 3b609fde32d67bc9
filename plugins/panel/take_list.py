"""The panel's "Takes" section: the shot's published takes and what an artist does with one.

Listing (newest first, with thumbnails loaded off the GUI thread), inserting into the host,
promoting a draft, opening its folder and showing its provenance: everything that starts from
a take the artist selected. The contact sheet shown under the list belongs to the draft batches
(batches.py); the words on each item come from labels.py.
"""
from __future__ import annotations

import json
import os
from typing import Optional

from .labels import take_label, take_tooltip
from .qt import QtCore, QtGui, QtWidgets, Qt

THUMB_W, THUMB_H = 176, 99


class TakeListMixin:
    """The takes section of GenplatePanel (a mixin: the panel holds the state and the Qt base).

    Uses the panel's adapter, client, monitor, shot, root, _takes, _takes_asked, _takes_shown,
    _thumbs, _blank, _thumb_loader, _ranks, _can_promote, _provenance_windows, and the other
    sections' _build_sheet, _update_job, _sync_buttons and _say.
    """

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
        layout.addWidget(self._build_sheet())
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


__all__ = ["TakeListMixin", "THUMB_W", "THUMB_H"]
