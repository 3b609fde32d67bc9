"""The genplate panel for Resolve, in genplate's own Python: `python -m genplate.resolve.panel_main`.

Started by the Scripts-menu launcher (genplate.resolve.launcher). It attaches to the running
Resolve Studio (external scripting), shows the shared panel with the ResolveAdapter plus a
strip of Resolve-only choices (track, takes stacking, a timeline from takes), and quits when
Resolve goes away, so no orphan window outlives it (hosts.md §3.3). Jobs run in engine
workers and survive the panel and Resolve closing.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

from genplate.panel.panel import GenplatePanel
from genplate.panel.qt import Qt, QtCore, QtWidgets, app_instance

from .adapter import ResolveAdapter
from .connect import MESSAGES, ResolveConnectError, attach

WATCH_MS = 5000
WAKE = "wake"


# -- one panel per user: the Scripts menu clicked twice brings the open one forward ---------

def instance_dir() -> Path:
    try:
        user = getpass.getuser()
    except Exception:  # no login name (some containers): one folder for all
        user = "user"
    return Path(tempfile.gettempdir()) / f"genplate-resolve-{user}"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform.startswith("win"):
        import subprocess

        try:
            done = subprocess.run(["tasklist", "/FI", f"PID eq {pid}", "/NH"],
                                  capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return False
        return str(pid) in (done.stdout or "")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def claim_instance(folder: Optional[Path] = None) -> bool:
    """True when this process is the panel; False (and the open one is woken) otherwise."""
    folder = folder or instance_dir()
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / "panel.pid"
    try:
        pid = int(lock.read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid and pid != os.getpid() and pid_alive(pid):
        (folder / WAKE).write_text(str(time.time()))
        return False
    tmp = folder / f".panel.{os.getpid()}.tmp"
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, lock)
    return True


def release_instance(folder: Optional[Path] = None) -> None:
    lock = (folder or instance_dir()) / "panel.pid"
    try:
        if int(lock.read_text().strip()) == os.getpid():
            lock.unlink()
    except (OSError, ValueError):
        pass


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="genplate-resolve",
                                     description="genplate's panel, attached to Resolve Studio")
    parser.add_argument("--product", default="", help="product name Resolve reported")
    parser.add_argument("--version", default="", help="Resolve's version")
    parser.add_argument("--root", default="", help="takes root (default: $GENPLATE_ROOT)")
    return parser.parse_args(argv)


class ResolveControls(QtWidgets.QGroupBox):
    """Resolve-only choices: where a take goes, and a timeline from a set of takes."""

    def __init__(self, adapter: ResolveAdapter, panel: GenplatePanel, parent=None) -> None:
        super().__init__("Resolve", parent)
        self.adapter = adapter
        self.panel = panel
        layout = QtWidgets.QGridLayout(self)
        self.track = QtWidgets.QSpinBox()
        self.track.setObjectName("genplateResolveTrack")
        self.track.setRange(0, 99)
        self.track.setSpecialValueText("first free")
        self.track.setPrefix("V")
        self.track.valueChanged.connect(self._sync)
        self.stack = QtWidgets.QCheckBox("new versions as takes on the timeline clip")
        self.stack.setChecked(True)
        self.stack.toggled.connect(self._sync)
        self.on_timeline = QtWidgets.QCheckBox("place at the playhead")
        self.on_timeline.setChecked(True)
        self.on_timeline.toggled.connect(self._sync)
        self.timeline_button = QtWidgets.QPushButton("New timeline from takes")
        self.timeline_button.setObjectName("genplateResolveTimeline")
        self.timeline_button.clicked.connect(self.timeline_from_takes)
        hint = QtWidgets.QLabel("Grabbed frames: a marker named start, end or keyframe:N, "
                                "else the frame under the playhead.")
        hint.setWordWrap(True)
        self.note = QtWidgets.QLabel("")
        self.note.setObjectName("genplateResolveNote")
        self.note.setWordWrap(True)
        layout.addWidget(QtWidgets.QLabel("track"), 0, 0)
        layout.addWidget(self.track, 0, 1)
        layout.addWidget(self.on_timeline, 0, 2)
        layout.addWidget(self.stack, 1, 0, 1, 3)
        layout.addWidget(self.timeline_button, 2, 0, 1, 3)
        layout.addWidget(hint, 3, 0, 1, 3)
        layout.addWidget(self.note, 4, 0, 1, 3)

    def _sync(self) -> None:
        self.adapter.track = self.track.value() or None
        self.adapter.stack_takes = self.stack.isChecked()
        self.adapter.on_timeline = self.on_timeline.isChecked()

    def chosen_takes(self) -> list[dict]:
        """The selected takes, or every listed take when fewer than two are selected."""
        lst, take_at = self.panel.takes_list, self.panel.take_at
        selected = [take_at(i) for i in lst.selectedItems()]
        if len(selected) >= 2:
            return selected
        return [take_at(lst.item(n)) for n in range(lst.count())]

    def timeline_from_takes(self) -> None:
        """The listed (or selected) takes as a new timeline, through the scripting API."""
        takes = [t for t in self.chosen_takes() if t]
        if not takes:
            self.say("no takes listed for this shot")
            return
        name = f"genplate {takes[0].get('shot', '')}".strip()
        self.timeline_button.setEnabled(False)
        try:
            result = self.adapter.timeline_from_takes(takes, name)
        except Exception as exc:  # the artist sees why; Qt's loop never sees an exception
            self.say(f"timeline from takes failed: {exc}", error=True)
            return
        finally:
            self.timeline_button.setEnabled(True)
        extra = f" ({'; '.join(result['warnings'])})" if result.get("warnings") else ""
        self.say(f"new timeline {result['timeline']}: {result['clips']} of {result['takes']} "
                 f"takes placed{extra}", error=bool(result.get("warnings")))

    def say(self, message: str, *, error: bool = False) -> None:
        self.note.setStyleSheet("color: #e06c5a;" if error else "")
        self.note.setText(message)


class ResolveWindow(QtWidgets.QWidget):
    """The panel and the Resolve strip in one window; closes itself when Resolve is gone."""

    def __init__(self, resolve: Any, adapter: ResolveAdapter, *, panel: Optional[GenplatePanel] = None,
                 watch_ms: int = WATCH_MS, instance: Optional[Path] = None) -> None:
        super().__init__()
        self.setObjectName("genplateResolveWindow")
        self.setWindowTitle("genplate — DaVinci Resolve")
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        self.resolve = resolve
        self.adapter = adapter
        self.panel = panel or GenplatePanel(adapter)
        self.controls = ResolveControls(adapter, self.panel)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.panel, 1)
        layout.addWidget(self.controls)
        self.watch = QtCore.QTimer(self)
        self.watch.setInterval(watch_ms)
        self.watch.timeout.connect(self.check_resolve)
        self.watch.start()
        self.instance = instance
        self.wakes = 0
        if instance is not None:
            self._watcher = QtCore.QFileSystemWatcher([str(instance)], self)
            self._watcher.directoryChanged.connect(self._maybe_wake)

    def _maybe_wake(self, _path: str = "") -> None:
        wake = self.instance / WAKE if self.instance else None
        if wake is None or not wake.exists():
            return
        try:
            wake.unlink()
        except OSError:
            pass
        self.wakes += 1
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def check_resolve(self) -> bool:
        try:
            alive = bool(self.resolve.GetVersionString())
        except Exception:
            alive = False
        if not alive:
            self.watch.stop()
            self.close()
        return alive


def main(argv: Optional[list[str]] = None, *, attach_fn: Callable[..., Any] = attach,
         show_error: Optional[Callable[[str], None]] = None, run: bool = True,
         instance: Optional[Path] = None) -> Any:
    """Attach and show the window; exit code (or the window when ``run`` is False)."""
    args = parse_args(argv)
    app = app_instance()
    folder = instance_dir() if instance is None else instance
    if not claim_instance(folder):
        print("genplate: the Resolve panel is already open; brought it forward", file=sys.stderr)
        return 0
    try:
        resolve = attach_fn(product_hint=args.product or None)
    except Exception as exc:  # noqa: BLE001 - any failure to attach is shown, never a crash
        message = str(exc) if isinstance(exc, ResolveConnectError) else (
            f"genplate could not attach to DaVinci Resolve ({type(exc).__name__}: {exc}). "
            f"{MESSAGES['unknown']}")
        print(f"genplate: {message}", file=sys.stderr)
        if show_error is None:
            QtWidgets.QMessageBox.critical(None, "genplate — DaVinci Resolve", message)
        else:
            show_error(message)
        release_instance(folder)
        return 2
    adapter = ResolveAdapter(resolve, root=args.root)
    window = ResolveWindow(resolve, adapter, instance=folder)
    window.resize(660, 940)
    window.show()
    if not run:
        return window
    try:
        return app.exec()
    finally:
        release_instance(folder)


if __name__ == "__main__":
    sys.exit(main())
