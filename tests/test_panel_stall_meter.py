"""The stall meter (genplate.panel.diagnostics) that the panel tests and bench_panel trust: it
must see the GUI thread's own work, and tell it apart from the collector and the neighbours."""
from __future__ import annotations

import gc
import time

import pytest

pytest.importorskip("pytestqt")

from genplate.panel.diagnostics import StallMeter  # noqa: E402
from genplate.panel.qt import QtCore  # noqa: E402


def _later(qtbot, work) -> None:
    """Run ``work`` from the event loop, as a handler would, and let the meter tick after it."""
    QtCore.QTimer.singleShot(20, work)
    qtbot.wait(120)


def test_a_handler_that_works_80_ms_is_a_stall_of_its_own(qtbot):
    meter = StallMeter(5)
    meter.start()

    def busy():
        end = time.thread_time() + 0.08
        while time.thread_time() < end:
            pass

    _later(qtbot, busy)
    meter.stop()
    assert meter.worst_cpu_ms >= 75
    assert meter.worst_ms >= 75
    if meter.worst_own_ms is not None:  # the run-queue wait is taken off, never our own work
        assert meter.worst_own_ms >= 70


def test_the_garbage_collector_is_counted_apart_from_the_handlers_work(qtbot):
    cycles = []
    for _ in range(300_000):  # a heap with many cycles, as a long-lived host holds
        node = {}
        node["self"] = node
        cycles.append(node)
    meter = StallMeter(5)
    meter.start()
    took = {}

    def collect():
        start = time.perf_counter()
        gc.collect()
        took["ms"] = (time.perf_counter() - start) * 1000

    try:
        _later(qtbot, collect)
    finally:
        meter.stop()
        del cycles
    assert took["ms"] > 20, took  # else the heap was too small to show anything
    assert meter.worst_gc_ms >= 0.8 * took["ms"]
    assert meter.worst_cpu_ms < meter.worst_gc_ms
    assert meter.report()["worst_gc_ms"] == round(meter.worst_gc_ms, 1)
    assert gc.callbacks.count(meter._on_gc) == 0  # stop() leaves the collector as it was
