"""What every backend is: create a generation, report on it. Nothing about files or colour.

A backend ends at "these outputs exist at these URLs" (``Generation.outputs``); fetching turns
URLs into files (``genplate.core.delivery.fetch``) and ingest turns files into a take. The offline
backend serves ``file://`` URLs from its own store, the Luma backend presigned ``https://`` ones.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..progress import CancelToken, ProgressFn
from ..request import ShotRequest

# Remote generation states, as the Agents API names them.
QUEUED, PROCESSING, COMPLETED, FAILED = "queued", "processing", "completed", "failed"
TERMINAL_STATES = (COMPLETED, FAILED)


@dataclass(frozen=True)
class Output:
    type: str  # the API's output type string ("video", "exr", ... never trusted for the format)
    url: str
    layer: Optional[str] = None


@dataclass(frozen=True)
class Generation:
    id: str
    state: str
    outputs: tuple[Output, ...] = ()
    failure_code: Optional[str] = None
    failure_reason: Optional[str] = None
    progress: Optional[float] = None  # 0..1 when the backend knows it


class BackendError(RuntimeError):
    """A backend refused or failed; ``retryable`` says whether waiting and asking again can help.

    ``local``: the cause is on this machine (a missing input file, a setting, the key), not
    the service's answer; fixing it and resuming can succeed, so it never ends a job. A create
    that raises a BackendError neither retryable, nor local, nor of unknown outcome is the
    service's refusal: nothing was created, and the job fails with the service's reason.
    """

    local = False

    def __init__(self, message: str, *, retryable: bool = False, code: Optional[str] = None,
                 local: Optional[bool] = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        if local is not None:
            self.local = local


class Backend(ABC):
    name: str = ""
    poll_interval: float = 2.0  # seconds before the second poll of a running generation
    max_poll_interval: float = 30.0  # the runner backs off x1.5 per poll up to this
    # Where outputs may come from besides https (genplate.core.delivery.limits): a folder of the
    # backend's own whose file URLs it vouches for, and plain http from this machine.
    local_outputs: Optional[Path] = None
    plain_http_outputs: bool = False

    @abstractmethod
    def create(self, request: ShotRequest, *, job_id: str) -> str:
        """Start one paid generation for ``request``; return its remote id.

        The caller has recorded its intent in the ledger before calling and records the id
        after, so this is called at most once per job unless the backend itself can prove
        that no generation was started.
        """

    @abstractmethod
    def get(self, remote_id: str, *, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None) -> Generation:
        """The generation's current state and, once completed, its outputs (fresh URLs)."""

    def describe(self) -> str:
        """One line for the terminal: which backend, and where it sends requests."""
        return self.name
