"""How the job room refuses: the ledger's errors and the runner's, in one low place so the
ledger's file handling, its leases, the preflight checks and the runner can all raise them."""
from __future__ import annotations


class LedgerError(RuntimeError):
    """The ledger cannot do what was asked; the message names the file or job and what to do."""


class TransitionError(LedgerError):
    """A step that may not follow the job's current state (for instance a second create)."""


class LeaseLost(LedgerError):
    """This runner no longer holds the job: another runner took it over (ours had lapsed)."""


class JobError(RuntimeError):
    """A job cannot go on; the message says why and what to do."""


__all__ = ["LedgerError", "TransitionError", "LeaseLost", "JobError"]
