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

Two refinements keep the numbers about the panel, measured where the system can say so:
- ``worst_own_ms``: the wall-clock gap less the time the GUI thread sat runnable while other
  processes had the cores (Linux's per-thread run-queue wait, /proc/thread-self/schedstat);
  what is left is our work and our waits (the GIL, a lock). None where the kernel does not
  tell. On a 2-core machine a starting engine process alone cost the loop 20-40 ms of queue.
- Python's cyclic garbage collector runs in whichever thread allocates when a generation
  fills; in a process that holds many objects a full collection can take hundreds of ms, paid
  by the GUI thread. It is the runtime's, not a handler's: counted apart (``worst_gc_ms``)
  and left out of ``worst_cpu_ms`` and ``worst_own_ms``.
"""
from __future__ import annotations

import gc
import threading
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
        self._thread = threading.get_ident()  # the loop's own thread: the one we tick in
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def reset(self) -> None:
        self.worst_ms = 0.0
        self.worst_cpu_ms = 0.0
        self.worst_gc_ms = 0.0
        self.ticks = 0
        self.gaps_over: dict[int, int] = {16: 0, 50: 0, 100: 0}
        self._thread = threading.get_ident()
        self._gc_ms = 0.0  # the collector's time on the loop's thread, since the last tick
        self._gc_from: Optional[float] = None
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._last_queue = _run_queue_ms()
        # None where the kernel does not say how long the thread waited for a core
        self.worst_own_ms: Optional[float] = None if self._last_queue is None else 0.0

    def _on_gc(self, phase: str, info: dict) -> None:
        if threading.get_ident() != self._thread:
            return
        if phase == "start":
            self._gc_from = time.perf_counter()
        elif self._gc_from is not None:
            self._gc_ms += (time.perf_counter() - self._gc_from) * 1000.0
            self._gc_from = None

    @Slot()
    def _tick(self) -> None:
        now, cpu, queue = time.perf_counter(), time.thread_time(), _run_queue_ms()
        stall = (now - self._last) * 1000.0 - self.interval_ms
        collected, self._gc_ms = self._gc_ms, 0.0
        self.worst_ms = max(self.worst_ms, stall)
        self.worst_gc_ms = max(self.worst_gc_ms, collected)
        self.worst_cpu_ms = max(self.worst_cpu_ms, (cpu - self._last_cpu) * 1000.0 - collected)
        if self.worst_own_ms is not None and queue is not None and self._last_queue is not None:
            own = stall - (queue - self._last_queue) - collected
            self.worst_own_ms = max(self.worst_own_ms, own)
        for limit in self.gaps_over:
            if stall > limit:
                self.gaps_over[limit] += 1
        self._last, self._last_cpu, self._last_queue = now, cpu, queue
        self.ticks += 1

    def report(self) -> dict:
        own = None if self.worst_own_ms is None else round(self.worst_own_ms, 1)
        return {"worst_ms": round(self.worst_ms, 1), "worst_cpu_ms": round(self.worst_cpu_ms, 1),
                "worst_own_ms": own, "worst_gc_ms": round(self.worst_gc_ms, 1),
                "ticks": self.ticks, "gaps_over_ms": dict(self.gaps_over)}


def _run_queue_ms() -> Optional[float]:
    """How long this thread has waited, runnable, for a core (Linux schedstat), or None."""
    try:
        with open("/proc/thread-self/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e6
    except (OSError, ValueError, IndexError):
        return None


__all__ = ["StallMeter"]
