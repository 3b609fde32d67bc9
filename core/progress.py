"""Progress reporting and cancellation shared by every long step of a job.

A step reports through a ``ProgressFn`` (done, total, message) and checks a ``CancelToken``
between units of work (a frame, a chunk, a poll). Cancelling raises ``Cancelled`` at the next
check, so the step can leave the ledger and the disk consistent on its way out.
"""
from __future__ import annotations

import threading
from typing import Callable, Optional

ProgressFn = Callable[[float, float, str], None]
"""progress(done, total, message); total may be 0 when the amount of work is unknown."""


class Cancelled(Exception):
    """The user (or the ledger) asked the job to stop; raised at the next check."""


class CancelToken:
    """A flag a step checks between units of work.

    ``also`` lets the token consult an outside source too (the ledger's cancel request, set by
    another process), so a job running in a detached worker stops when the panel asks.
    """

    def __init__(self, also: Optional[Callable[[], bool]] = None) -> None:
        self._event = threading.Event()
        self._also = also

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        if self._event.is_set():
            return True
        if self._also is not None and self._also():
            self._event.set()
            return True
        return False

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled("cancelled")

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; returns True early if cancelled meanwhile."""
        if self._also is None:
            return self._event.wait(seconds)
        # Poll the outside source a few times a second while sleeping.
        remaining = seconds
        while remaining > 0:
            if self.cancelled:
                return True
            step = min(0.25, remaining)
            if self._event.wait(step):
                return True
            remaining -= step
        return self.cancelled


def no_progress(done: float, total: float, message: str) -> None:
    """The ProgressFn used when nobody is watching."""


NEVER_CANCELLED = CancelToken()
