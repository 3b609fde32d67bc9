"""How responsive the panel's event loop is: the longest gap between ticks of a fast QTimer.

A host's UI freezes exactly when its event loop stalls, so this is the number that matters for
"never freezes Nuke". Tests and bench/bench_panel.py run it beside the panel; inside a host it
can be started by hand to check a slow machine.
"""
from __future__ import annotations

import time
from typing import Optional

from .qt import QtCore, Slot


class StallMeter(QtCore.QObject):
    """Ticks every ``interval_ms``; ``worst_ms`` is the longest time beyond one interval."""

    def __init__(self, interval_ms: int = 5, parent: Optional[QtCore.QObject] = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last: Optional[float] = None
        self.worst_ms = 0.0
        self.ticks = 0
        self.gaps_over: dict[int, int] = {16: 0, 50: 0, 100: 0}

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def reset(self) -> None:
        self.worst_ms = 0.0
        self.ticks = 0
        self.gaps_over = {k: 0 for k in self.gaps_over}
        self._last = time.perf_counter()

    @Slot()
    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            stall = (now - self._last) * 1000.0 - self.interval_ms
            self.worst_ms = max(self.worst_ms, stall)
            for limit in self.gaps_over:
                if stall > limit:
                    self.gaps_over[limit] += 1
        self._last = now
        self.ticks += 1


__all__ = ["StallMeter"]
