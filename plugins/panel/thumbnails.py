"""Thumbnails decoded and scaled off the GUI thread, for the take list and the canvas."""
from __future__ import annotations

import queue
import threading
from typing import Optional

from .qt import QtCore, QtGui, Qt, Signal, emit


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


__all__ = ["ThumbnailLoader"]
