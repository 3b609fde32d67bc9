"""The panel's client of the engine: `genplate ... --json` in a QProcess, never blocking the GUI.

Each call starts the engine's command as a child process and returns at once; its answer
arrives through Qt signals on the GUI thread (QProcess lives there and reports through the
event loop), so slots may touch widgets and, in Nuke, the script. Jobs run in detached engine
workers (``genplate submit``), so they survive the host closing; the ``JobMonitor`` picks them up
again by polling ``genplate jobs --json --active`` on a QTimer.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

from . import commands as C
from .engine_config import EngineNotFound, engine_command, engine_environment
from .qt import QtCore, Signal, Slot

Answer = Callable[[dict], None]
Failure = Callable[[str], None]


class _Call(QtCore.QObject):
    """One running engine command; emits ``answered(dict)`` or ``failed(str)`` exactly once."""

    answered = Signal(object)
    failed = Signal(str)

    def __init__(self, argv: list[str], env: dict, timeout_ms: int, parent: QtCore.QObject,
                 *, raw: bool = False) -> None:
        super().__init__(parent)
        self.argv = argv
        self._raw = raw  # answer {"exit_code": n} instead of parsing JSON (probes)
        self._settled = False
        self._process = QtCore.QProcess(self)
        environment = QtCore.QProcessEnvironment()
        for key, value in env.items():
            environment.insert(key, value)
        self._process.setProcessEnvironment(environment)
        self._process.finished.connect(self._on_finished)
        self._process.errorOccurred.connect(self._on_error)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timeout)
        self._timeout_ms = timeout_ms

    def start(self) -> None:
        self._timer.start(self._timeout_ms)
        self._process.start(self.argv[0], self.argv[1:])

    @property
    def running(self) -> bool:
        return not self._settled

    def stop(self) -> None:
        """Kill the command (the panel is going away); no callback runs."""
        if self._settled:
            return
        self._settled = True
        self._timer.stop()
        self._process.kill()
        self._process.waitForFinished(2000)
        self.deleteLater()

    @Slot(int, QtCore.QProcess.ExitStatus)
    def _on_finished(self, code: int, status: Any) -> None:
        stdout = bytes(self._process.readAllStandardOutput().data()).decode("utf-8", "replace")
        stderr = bytes(self._process.readAllStandardError().data()).decode("utf-8", "replace")
        if status != QtCore.QProcess.ExitStatus.NormalExit:
            self._settle(None, f"`genplate {self._name()}` crashed: {stderr.strip()[-300:]}")
            return
        if self._raw:
            self._settle({"exit_code": code, "stdout": stdout}, None)
            return
        try:
            payload = C.parse_answer(stdout, stderr, code)
        except C.CommandFailed as exc:
            self._settle(None, str(exc))
        else:
            self._settle(payload, None)

    @Slot(QtCore.QProcess.ProcessError)
    def _on_error(self, error: Any) -> None:
        if error == QtCore.QProcess.ProcessError.FailedToStart:
            self._settle(None, f"cannot start the engine ({self.argv[0]}): "
                               f"{self._process.errorString()}")

    @Slot()
    def _on_timeout(self) -> None:
        if not self._settled:
            self._process.kill()
            self._settle(None, f"`genplate {self._name()}` gave no answer in "
                               f"{self._timeout_ms / 1000:.0f} s")

    def _name(self) -> str:
        return next((a for a in self.argv[1:] if not a.startswith("-") and "/" not in a
                     and "\\" not in a and not a.endswith(".cli")), "?")

    def _settle(self, payload: Optional[dict], error: Optional[str]) -> None:
        if self._settled:
            return
        self._settled = True
        self._timer.stop()
        if error is None:
            self.answered.emit(payload)
        else:
            self.failed.emit(error)
        self.deleteLater()


class EngineClient(QtCore.QObject):
    """Starts engine commands and hands their JSON answers to callbacks on the GUI thread.

    Create it on the GUI thread. Callbacks receive the parsed answer (dict) or the engine's
    one-line error; they run from the event loop, never from a worker.
    """

    busyChanged = Signal(int)   # number of commands in flight

    def __init__(self, parent: Optional[QtCore.QObject] = None, *,
                 command: Optional[list[str]] = None) -> None:
        super().__init__(parent)
        self._command = list(command) if command else None
        self._source = "given" if command else ""
        self._calls: set[_Call] = set()
        self._has: dict[str, bool] = {}
        self.worst_start_ms = 0.0

    # -- the command ---------------------------------------------------------------------

    def command(self) -> list[str]:
        """The engine's argv prefix (raises EngineNotFound with what to do)."""
        if self._command is None:
            self._command, self._source = engine_command()
        return list(self._command)

    def call(self, args: list[str], on_answer: Optional[Answer] = None,
             on_failure: Optional[Failure] = None, *, timeout: float = 60.0,
             raw: bool = False) -> Optional[_Call]:
        """Run `genplate <args>`; exactly one of the callbacks runs later, on the GUI thread."""
        try:
            prefix = self.command()
        except EngineNotFound as exc:
            message = str(exc)
            if on_failure is not None:
                # Later, not now: callers expect callbacks after call() returns.
                QtCore.QTimer.singleShot(0, lambda: on_failure(message))
            return None
        call = _Call(prefix + list(args), engine_environment(source=self._source),
                     int(timeout * 1000), self, raw=raw)
        self._calls.add(call)
        if on_answer is not None:
            call.answered.connect(on_answer)
        if on_failure is not None:
            call.failed.connect(on_failure)
        call.answered.connect(lambda _p, c=call: self._forget(c))
        call.failed.connect(lambda _e, c=call: self._forget(c))
        started = time.perf_counter()
        call.start()
        # QProcess.start waits for the child's exec: the one blocking moment; keep its worst.
        self.worst_start_ms = max(self.worst_start_ms, (time.perf_counter() - started) * 1000.0)
        self.busyChanged.emit(len(self._calls))
        return call

    def _forget(self, call: _Call) -> None:
        self._calls.discard(call)
        self.busyChanged.emit(len(self._calls))

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    def shutdown(self) -> None:
        """Stop every command still running (its callbacks never run).

        Only polls and look-ups are lost: a submitted job already runs in its own detached
        worker, and a submit cut short leaves a queued job that `genplate resume` finishes.
        """
        for call in list(self._calls):
            call.stop()
        self._calls.clear()

    # -- the commands the panel uses -----------------------------------------------------

    def submit(self, fields: C.RequestFields, on_answer: Answer, on_failure: Failure) -> None:
        self.call(C.submit_args(fields), on_answer, on_failure, timeout=120.0)

    def jobs(self, on_answer: Answer, on_failure: Failure, *, active: bool = False,
             shot: str = "", limit: int = 50) -> Optional[_Call]:
        return self.call(C.jobs_args(active=active, shot=shot, limit=limit), on_answer, on_failure)

    def job(self, job_id: str, on_answer: Answer, on_failure: Failure) -> None:
        self.call(C.job_args(job_id), on_answer, on_failure)

    def cancel(self, job_id: str, on_answer: Answer, on_failure: Failure) -> None:
        self.call(C.cancel_args(job_id), on_answer, on_failure)

    def takes(self, root: str, shot: str, on_answer: Answer, on_failure: Failure) -> None:
        self.call(C.takes_args(root, shot), on_answer, on_failure)

    def show(self, take: str, on_answer: Answer, on_failure: Failure, *, root: str = "") -> None:
        self.call(C.show_args(take, root), on_answer, on_failure)

    def promote(self, take: str, on_answer: Answer, on_failure: Failure, *, root: str = "") -> None:
        self.call(C.promote_args(take, root), on_answer, on_failure, timeout=120.0)

    def probe_command(self, name: str, on_result: Callable[[bool], None]) -> None:
        """Whether the engine has a subcommand (`genplate NAME --help` exits 0); cached."""
        if name in self._has:
            result = self._has[name]
            QtCore.QTimer.singleShot(0, lambda: on_result(result))
            return

        def answered(payload: dict) -> None:
            self._has[name] = payload.get("exit_code") == 0
            on_result(self._has[name])

        self.call([name, "--help"], answered, lambda _message: on_result(False), raw=True)


class JobMonitor(QtCore.QObject):
    """Follows the engine's jobs: polls `genplate jobs --json --active` on a QTimer.

    Polls every ``fast_ms`` while jobs are active and every ``idle_ms`` otherwise (to notice
    jobs started elsewhere: another panel, a terminal, a previous Nuke session). A poll is
    skipped while the previous one is still running, so a slow engine never piles processes
    up. When a job leaves the active list its final record is fetched once and
    ``jobFinished`` reports it.
    """

    activeJobs = Signal(list)       # [job summary dict] currently not terminal
    jobFinished = Signal(dict)      # a job's summary once it is ready/failed/cancelled
    pollFailed = Signal(str)

    def __init__(self, client: EngineClient, parent: Optional[QtCore.QObject] = None, *,
                 fast_ms: int = 1000, idle_ms: int = 10000) -> None:
        super().__init__(parent)
        self.client = client
        self.fast_ms, self.idle_ms = fast_ms, idle_ms
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.poll)
        self._pending: Optional[_Call] = None
        self._active: dict[str, dict] = {}
        self._stopped = True

    def start(self) -> None:
        self._stopped = False
        self.poll()

    def stop(self) -> None:
        self._stopped = True
        self._timer.stop()

    def watch(self, job: dict) -> None:
        """A job this panel just submitted: show it now and poll fast."""
        self._active[job["id"]] = job
        self.activeJobs.emit(list(self._active.values()))
        if not self._stopped:
            self._timer.start(min(self._timer.remainingTime() if self._timer.isActive()
                                  else self.fast_ms, self.fast_ms))

    @property
    def active(self) -> list[dict]:
        return list(self._active.values())

    @Slot()
    def poll(self) -> None:
        if self._pending is not None and self._pending.running:
            return
        self._pending = self.client.jobs(self._on_jobs, self._on_failure, active=True)

    def _on_jobs(self, payload: dict) -> None:
        self._pending = None
        jobs = [j for j in payload.get("jobs", []) if isinstance(j, dict) and j.get("id")]
        now = {j["id"]: j for j in jobs}
        gone = [job_id for job_id in self._active if job_id not in now]
        self._active = now
        self.activeJobs.emit(jobs)
        for job_id in gone:
            self.client.job(job_id, self._on_final, self.pollFailed.emit)
        self._schedule()

    def _on_final(self, payload: dict) -> None:
        job = payload.get("job")
        if isinstance(job, dict):
            self.jobFinished.emit(job)

    def _on_failure(self, message: str) -> None:
        self._pending = None
        self.pollFailed.emit(message)
        self._schedule()

    def _schedule(self) -> None:
        if not self._stopped:
            self._timer.start(self.fast_ms if self._active else self.idle_ms)


__all__ = ["EngineClient", "JobMonitor", "EngineNotFound"]
