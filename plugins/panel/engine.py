"""The panel's client of the engine: `genplate ... --json` off the GUI thread, answers on it.

Each call runs the engine's command as a child process in a worker thread and returns at
once. The worker only emits a Qt signal with the outcome; the signal's receiver is a QObject
living in the GUI thread, so Qt queues the delivery and the callbacks run there, where they may
touch widgets and, in Nuke, the script (hosts.md §2.3). Starting a process is itself done by
the worker: under load, fork/exec can take tens of milliseconds, which QProcess.start would
spend blocking the host's event loop.

Jobs run in detached engine workers (``genplate submit``), so they survive the host closing; the
``JobMonitor`` picks them up again by polling the active jobs on a QTimer: read from the ledger
file itself (``ledger.py``, read-only, no process) once the engine has named it, and through
``genplate jobs --json --active`` whenever that file cannot answer.
"""
from __future__ import annotations

import itertools
import json
import subprocess
import threading
import time
from typing import Callable, Optional

from . import commands as C
from . import ledger as ledger_file
from .engine_config import EngineNotFound, engine_command, engine_environment
from .qt import QtCore, Signal, Slot, emit

Answer = Callable[[dict], None]
Failure = Callable[[str], None]
# An answer this side can give without the engine's process; raises LedgerUnreadable when not.
LocalAnswer = Callable[[], dict]


class _Call:
    """One engine command run by a worker thread. The worker never touches Qt objects except
    to emit the relay's signal.

    With ``local``, the worker first tries that answer (the ledger read by this side) and
    starts the command only when it cannot be given; ``answered_by`` says which one answered
    ("here" or "engine") and ``local_miss`` why the local answer was not used.
    """

    def __init__(self, call_id: int, argv: list[str], env: dict, timeout: float, raw: bool,
                 relay: "_Relay", local: Optional[LocalAnswer] = None) -> None:
        self.id = call_id
        self.argv = argv
        self._env, self._timeout, self._raw, self._relay = env, timeout, raw, relay
        self._local = local
        self.answered_by = ""
        self.local_miss = ""
        self._lock = threading.Lock()
        self._process: Optional[subprocess.Popen] = None
        self._stopped = False
        self._settled = False
        self.started_ms: Optional[float] = None
        self._thread = threading.Thread(target=self._run, name=f"genplate-engine-{call_id}",
                                        daemon=True)

    @property
    def running(self) -> bool:
        return not self._settled and not self._stopped

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def stop(self) -> None:
        """Kill the command (the panel is going away); no callback runs."""
        with self._lock:
            self._stopped = True
            process = self._process
        if process is not None and process.poll() is None:
            try:
                process.kill()
            except OSError:
                pass

    def settle(self) -> None:  # GUI thread, when the relay delivers the outcome
        self._settled = True

    def _run(self) -> None:
        payload: Optional[dict] = None
        error: Optional[str] = None
        try:
            payload = self._execute()
        except C.CommandFailed as exc:
            error = str(exc)
        except Exception as exc:  # a worker must never die silently
            error = f"`genplate {self._name()}`: {type(exc).__name__}: {exc}"
        if not self._stopped:
            try:
                # Text crosses the thread boundary: a copy the GUI thread owns outright.
                emit(self._relay.finished, self.id, "" if payload is None else json.dumps(payload),
                                          "" if error is None else error)
            except RuntimeError:  # the panel (and its relay) went away meanwhile
                pass

    def _execute(self) -> dict:
        if self._local is not None:
            try:
                answer = self._local()
                self.answered_by = "here"
                return answer
            except ledger_file.LedgerUnreadable as exc:
                self.local_miss = str(exc)
        self.answered_by = "engine"
        started = time.perf_counter()
        try:
            with self._lock:
                if self._stopped:
                    raise C.CommandFailed("stopped")
                self._process = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, env=self._env)
        except OSError as exc:
            raise C.CommandFailed(f"cannot start the engine ({self.argv[0]}): {exc}") from None
        self.started_ms = (time.perf_counter() - started) * 1000.0
        try:
            out, err = self._process.communicate(timeout=self._timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
            raise C.CommandFailed(f"`genplate {self._name()}` gave no answer in "
                                  f"{self._timeout:.0f} s") from None
        code = self._process.returncode
        stdout = out.decode("utf-8", "replace")
        stderr = err.decode("utf-8", "replace")
        if code is not None and code < 0:
            raise C.CommandFailed(f"`genplate {self._name()}` was killed (signal {-code}): "
                                  f"{stderr.strip()[-300:]}")
        if self._raw:
            return {"exit_code": code, "stdout": stdout}
        return C.parse_answer(stdout, stderr, code)

    def _name(self) -> str:
        return next((a for a in self.argv[1:] if not a.startswith("-") and "/" not in a
                     and "\\" not in a and not a.endswith(".cli")), "?")


class _Relay(QtCore.QObject):
    """Lives in the GUI thread; workers emit ``finished`` and Qt queues it over to here."""

    finished = Signal(int, str, str)  # call id, JSON answer or "", error or ""


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
        self._calls: dict[int, tuple[_Call, Optional[Answer], Optional[Failure]]] = {}
        self._ids = itertools.count(1)
        self._has: dict[str, bool] = {}
        self.worst_start_ms = 0.0
        self._relay = _Relay(self)
        self._relay.finished.connect(self._on_finished)

    # -- the command ---------------------------------------------------------------------

    def command(self) -> list[str]:
        """The engine's argv prefix (raises EngineNotFound with what to do)."""
        if self._command is None:
            self._command, self._source = engine_command()
        return list(self._command)

    def call(self, args: list[str], on_answer: Optional[Answer] = None,
             on_failure: Optional[Failure] = None, *, timeout: float = 60.0,
             raw: bool = False, local: Optional[LocalAnswer] = None) -> Optional[_Call]:
        """Run `genplate <args>`; exactly one of the callbacks runs later, on the GUI thread.

        ``local``, when given, is tried first on the worker thread; the command runs only if
        it raises LedgerUnreadable."""
        try:
            prefix = self.command()
        except EngineNotFound as exc:
            message = str(exc)
            if on_failure is not None:
                # Later, not now: callers expect callbacks after call() returns.
                QtCore.QTimer.singleShot(0, lambda: on_failure(message))
            return None
        call = _Call(next(self._ids), prefix + list(args), engine_environment(source=self._source),
                     timeout, raw, self._relay, local)
        self._calls[call.id] = (call, on_answer, on_failure)
        call.start()
        emit(self.busyChanged, len(self._calls))
        return call

    @Slot(int, str, str)
    def _on_finished(self, call_id: int, answer: str, error: str) -> None:
        entry = self._calls.pop(call_id, None)
        if entry is None:  # stopped by shutdown()
            return
        call, on_answer, on_failure = entry
        call.settle()
        if call.started_ms is not None:
            self.worst_start_ms = max(self.worst_start_ms, call.started_ms)
        emit(self.busyChanged, len(self._calls))
        if not error:
            if on_answer is not None:
                on_answer(json.loads(answer) if answer else {})
        elif on_failure is not None:
            on_failure(error)

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    def shutdown(self) -> None:
        """Stop every command still running (its callbacks never run).

        Only polls and look-ups are lost: a submitted job already runs in its own detached
        worker, and a submit cut short leaves a queued job that `genplate resume` finishes.
        """
        calls = [call for call, _answer, _failure in self._calls.values()]
        self._calls.clear()
        for call in calls:
            call.stop()
        for call in calls:  # killed children end at once; don't leave threads behind
            call.join(2.0)

    # -- the commands the panel uses -----------------------------------------------------

    def submit(self, fields: C.RequestFields, on_answer: Answer, on_failure: Failure) -> None:
        self.call(C.submit_args(fields), on_answer, on_failure, timeout=120.0)

    def drafts(self, fields: C.RequestFields, count: int, on_answer: Answer,
               on_failure: Failure) -> None:
        self.call(C.drafts_args(fields, count), on_answer, on_failure, timeout=120.0)

    def annotate(self, frame: str, strokes_file: str, prompt: str, out_dir: str,
                 on_answer: Answer, on_failure: Failure, *, duration: str = "5s") -> None:
        self.call(C.annotate_args(frame, strokes_file, prompt, out_dir, duration=duration),
                  on_answer, on_failure, timeout=120.0)

    def jobs(self, on_answer: Answer, on_failure: Failure, *, active: bool = False,
             shot: str = "", limit: int = 50, ledger: str = "") -> Optional[_Call]:
        """`genplate jobs --json`; with ``ledger`` (the file the engine named), the active jobs
        are read from it without a process whenever it can answer."""
        local = None
        if ledger and active and not shot:
            def local() -> dict:
                return {"jobs": ledger_file.active_jobs(ledger, limit=limit), "ledger": ledger}
        return self.call(C.jobs_args(active=active, shot=shot, limit=limit), on_answer, on_failure,
                         local=local)

    def job(self, job_id: str, on_answer: Answer, on_failure: Failure) -> None:
        self.call(C.job_args(job_id), on_answer, on_failure)

    def cancel(self, job_id: str, on_answer: Answer, on_failure: Failure) -> None:
        self.call(C.cancel_args(job_id), on_answer, on_failure)

    def takes(self, root: str, shot: str, on_answer: Answer, on_failure: Failure) -> None:
        self.call(C.takes_args(root, shot), on_answer, on_failure)

    def show(self, take: str, on_answer: Answer, on_failure: Failure, *, root: str = "") -> None:
        self.call(C.show_args(take, root), on_answer, on_failure)

    def batches(self, root: str, shot: str, on_answer: Answer, on_failure: Failure) -> None:
        self.call(C.batches_args(root, shot), on_answer, on_failure)

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
    """Follows the engine's jobs: polls the active jobs on a QTimer.

    Polls every ``fast_ms`` while jobs are active and every ``idle_ms`` otherwise (to notice
    jobs started elsewhere: another panel, a terminal, a previous Nuke session). A poll is
    skipped while the previous one is still running, so a slow engine never piles processes
    up. When a job leaves the active list its final record is fetched once and
    ``jobFinished`` reports it.

    The first poll asks `genplate jobs --json --active`, whose answer names the ledger file;
    from then on each poll reads that file read-only in a worker thread (ledger.py), which
    costs a few milliseconds where a process cost a fifth of a core at one poll every 2 s.
    A poll the file cannot answer (absent, locked, another schema, damaged) goes to the
    command, whose answer names the file again. ``reads_ledger = False`` keeps every poll on
    the command. ``answers`` counts who answered ("here", "engine"); ``last_miss`` is why the
    file last could not.
    """

    # JSON text: each receiver gets its own copy (a slot cannot change the monitor's state),
    # and at these sizes it costs nothing.
    activeJobs = Signal(str)        # JSON [job summary] of the jobs not yet terminal
    jobFinished = Signal(str)       # JSON job summary once it is ready/failed/cancelled
    pollFailed = Signal(str)

    def __init__(self, client: EngineClient, parent: Optional[QtCore.QObject] = None, *,
                 fast_ms: int = 2000, idle_ms: int = 10000) -> None:
        super().__init__(parent)
        self.client = client
        self.fast_ms, self.idle_ms = fast_ms, idle_ms
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.poll)
        self._pending: Optional[_Call] = None
        self._active: dict[str, dict] = {}
        self._stopped = True
        self.reads_ledger = True
        self.ledger_path = ""
        self.answers = {"here": 0, "engine": 0}
        self.last_miss = ""

    def start(self) -> None:
        self._stopped = False
        self.poll()

    def stop(self) -> None:
        self._stopped = True
        self._timer.stop()

    def watch(self, job: dict) -> None:
        """A job this panel just submitted: show it now and poll fast."""
        self._active[job["id"]] = job
        emit(self.activeJobs, json.dumps(list(self._active.values())))
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
        self._pending = self.client.jobs(self._on_jobs, self._on_failure, active=True,
                                         ledger=self.ledger_path if self.reads_ledger else "")

    def _on_jobs(self, payload: dict) -> None:
        self._settle_poll(answered=True)
        named = payload.get("ledger")
        if isinstance(named, str) and named:
            self.ledger_path = named
        jobs = [j for j in payload.get("jobs", []) if isinstance(j, dict) and j.get("id")]
        now = {j["id"]: j for j in jobs}
        gone = [job_id for job_id in self._active if job_id not in now]
        self._active = now
        emit(self.activeJobs, json.dumps(jobs))
        for job_id in gone:
            self.client.job(job_id, self._on_final, lambda m: emit(self.pollFailed, m))
        self._schedule()

    def _on_final(self, payload: dict) -> None:
        job = payload.get("job")
        if isinstance(job, dict):
            emit(self.jobFinished, json.dumps(job))

    def _on_failure(self, message: str) -> None:
        self._settle_poll(answered=False)
        emit(self.pollFailed, message)
        self._schedule()

    def _settle_poll(self, *, answered: bool) -> None:
        call, self._pending = self._pending, None
        if call is None:
            return
        if answered and call.answered_by in self.answers:
            self.answers[call.answered_by] += 1
        if call.local_miss:  # also when the command then failed: both reasons are worth seeing
            self.last_miss = call.local_miss

    def _schedule(self) -> None:
        if not self._stopped:
            self._timer.start(self.fast_ms if self._active else self.idle_ms)


__all__ = ["EngineClient", "JobMonitor", "EngineNotFound"]
