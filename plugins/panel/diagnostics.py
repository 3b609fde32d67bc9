"""How responsive the panel's event loop is, measured with a fast QTimer heartbeat.

A host's UI freezes exactly when its event loop stalls, so this is the number that matters for
"never freezes Nuke". Tests and bench/bench_panel.py run it beside the panel; inside a host it
can be started by hand to check a slow machine.

Two numbers per gap between heartbeat ticks, because a busy machine also stalls a loop that
does nothing wrong:
- ``worst_ms``: the longest gap beyond one interval, wall clock, whatever the cause - our work,
  or the OS giving both cores to other processes;
- ``worst_cpu_ms``: the most CPU time the GUI thread itself burned within one gap: handlers,
  layout, painting, JSON parsing - the part of a stall that is ours on any machine.
Blocking waits burn no CPU and would hide from the second number; the panel has none on the
GUI thread (engine processes start in worker threads: ``EngineClient.worst_start_ms`` says how
long a start took there, time QProcess.start would have spent blocking the loop).
On an idle machine ``worst_ms`` is about the larger of the two; on a loaded one it also
measures the neighbours.
"""
from __future__ import annotations

import time
from typing import Optional

from .qt import QtCore, Slot


class StallMeter(QtCore.QObject):
    """Ticks every ``interval_ms`` and records the longest gaps (see the module's docstring)."""

    def __init__(self, interval_ms: int = 5, parent: Optional[QtCore.QObject] = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self.reset()

    def start(self) -> None:
        self.reset()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def reset(self) -> None:
        self.worst_ms = 0.0
        self.worst_cpu_ms = 0.0
        self.ticks = 0
        self.gaps_over: dict[int, int] = {16: 0, 50: 0, 100: 0}
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()

    @Slot()
    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        stall = (now - self._last) * 1000.0 - self.interval_ms
        self.worst_ms = max(self.worst_ms, stall)
        self.worst_cpu_ms = max(self.worst_cpu_ms, (cpu - self._last_cpu) * 1000.0)
        for limit in self.gaps_over:
            if stall > limit:
                self.gaps_over[limit] += 1
        self._last, self._last_cpu = now, cpu
        self.ticks += 1

    def report(self) -> dict:
        return {"worst_ms": round(self.worst_ms, 1), "worst_cpu_ms": round(self.worst_cpu_ms, 1),
                "ticks": self.ticks, "gaps_over_ms": dict(self.gaps_over)}


__all__ = ["StallMeter"]
