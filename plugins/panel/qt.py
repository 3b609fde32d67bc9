"""One Qt for the host side: PySide6 (Nuke 16+, Resolve with a modern Python), else PySide2.

Import Qt only from here: ``from genplate.panel.qt import QtCore, QtGui, QtWidgets, Signal,
Slot``. Names follow Qt 6 (``QAction`` in QtGui, ``exec``, scoped enums), and under PySide2 the
few that moved are aliased so the panel's code is written once.

Inside Nuke the host decides (its own PySide is already imported); elsewhere PySide6 wins. A
stray system PySide2 is never picked while PySide6 is importable.
"""
from __future__ import annotations

import sys

try:
    if "PySide2" in sys.modules and "PySide6" not in sys.modules:
        raise ImportError("the host already runs PySide2")
    from PySide6 import QtCore, QtGui, QtWidgets  # type: ignore[import-not-found]

    QT_API = "PySide6"
except ImportError:
    from PySide2 import QtCore, QtGui, QtWidgets  # type: ignore[import-not-found,no-redef]

    QT_API = "PySide2"
    # Qt 6 moved QAction/QShortcut to QtGui; give PySide2 the same spelling.
    if not hasattr(QtGui, "QAction"):
        QtGui.QAction = QtWidgets.QAction
    if not hasattr(QtGui, "QShortcut"):
        QtGui.QShortcut = QtWidgets.QShortcut
    for _cls in (QtWidgets.QApplication, QtWidgets.QDialog, QtWidgets.QMenu, QtCore.QEventLoop):
        if not hasattr(_cls, "exec"):
            _cls.exec = _cls.exec_

Signal = QtCore.Signal
Slot = QtCore.Slot
Qt = QtCore.Qt


def _emit_drops_a_bool_reference() -> bool:
    """Whether this PySide's SignalInstance.emit() hands back True/False without a reference.

    PySide6 6.12 on Python 3.11 does (bools are not immortal before 3.12): every emit from
    Python takes one reference from True, and after some hundreds the interpreter aborts
    ("bool_dealloc"), mid-session or at exit. Measured once here rather than assumed by version.
    """
    class _Probe(QtCore.QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True) + sys.getrefcount(False)
    for _ in range(8):
        probe.ping.emit()
    return sys.getrefcount(True) + sys.getrefcount(False) < before - 4


_EMIT_COMPENSATE = _emit_drops_a_bool_reference()


def emit(signal, *args):
    """``signal.emit(*args)``, giving back the reference a faulty PySide's emit takes from bools.

    Use it for every emit from Python code in genplate's host side.
    """
    result = signal.emit(*args)
    if _EMIT_COMPENSATE and (result is True or result is False):
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(result))
    return result


def app_instance() -> "QtWidgets.QApplication":
    """The running QApplication (the host's), or a new one for a standalone panel."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(sys.argv[:1])
    return app


__all__ = ["QtCore", "QtGui", "QtWidgets", "Signal", "Slot", "Qt", "QT_API", "app_instance",
           "emit"]
