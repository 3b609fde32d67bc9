"""Per-project spending caps, checked before anything is sent.

A cap is a number of US dollars a project may spend on generations. ``check`` compares what the
ledger already counts against the project (money spent plus money that jobs in flight will
spend: ``Ledger.committed``) plus the estimates of what is about to be sent, and refuses the
whole request or batch when the sum would pass the cap. It runs before any job is recorded, so a
refused batch leaves nothing behind: no job, no create, no charge.

Caps live in a small JSON file beside the ledger (``budget.json`` in the data directory), so
every process that shares a ledger (the command, the hosts' workers) shares its caps too.
Estimates come from a third-party price table; a cap is a guard against surprises, not an
invoice.
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional

from . import ledger as L

CAPS_FILE = "budget.json"
# Floating sums of prices (0.06 + 0.06 + ...) must not refuse a batch that lands on the cap.
_EPSILON = 1e-6


class BudgetExceeded(RuntimeError):
    """A request or batch would take a project past its spending cap; nothing was sent."""

    def __init__(self, message: str, *, project: str, cap: float, committed: float,
                 requested: float) -> None:
        super().__init__(message)
        self.project = project
        self.cap = cap
        self.committed = committed
        self.requested = requested


@dataclass(frozen=True)
class ProjectBudget:
    project: str
    cap_usd: Optional[float]
    spent_usd: float
    committed_usd: float

    @property
    def remaining_usd(self) -> Optional[float]:
        if self.cap_usd is None:
            return None
        return max(0.0, self.cap_usd - self.committed_usd)

    def to_json(self) -> dict:
        return {"project": self.project, "cap_usd": self.cap_usd, "spent_usd": round(self.spent_usd, 4),
                "committed_usd": round(self.committed_usd, 4),
                "remaining_usd": None if self.remaining_usd is None else round(self.remaining_usd, 4)}


def caps_path(data_dir: Optional[Path] = None) -> Path:
    return Path(data_dir if data_dir is not None else L.default_data_dir()) / CAPS_FILE


def _data_dir(ledger: L.Ledger) -> Path:
    # The caps travel with the ledger they are checked against.
    return ledger.path.parent


def load_caps(data_dir: Optional[Path] = None) -> dict[str, float]:
    path = caps_path(data_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        # A cap that cannot be read must not silently become "no cap".
        raise BudgetExceeded(
            f"the budget file {path} cannot be read ({exc}); fix or delete it, then set the caps "
            f"again with `genplate budget --project P --cap USD`",
            project="", cap=0.0, committed=0.0, requested=0.0) from exc
    caps = data.get("caps", {}) if isinstance(data, dict) else {}
    return {str(p): float(v["cap_usd"]) for p, v in caps.items()
            if isinstance(v, dict) and v.get("cap_usd") is not None}


def set_cap(project: str, cap_usd: Optional[float], data_dir: Optional[Path] = None) -> None:
    """Set (or with None, remove) a project's cap. Written atomically: a reader never sees half."""
    if cap_usd is not None and (cap_usd != cap_usd or cap_usd < 0):
        raise ValueError(f"--cap {cap_usd}: a cap is an amount of US dollars, 0 or more")
    path = caps_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        data = {}
    caps = data.setdefault("caps", {})
    if cap_usd is None:
        caps.pop(project, None)
    else:
        caps[project] = {"cap_usd": float(cap_usd), "set_at": time.time()}
    data["schema"] = "genplate.budget/1"
    from ..atomic import write_text_atomically

    write_text_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def status(ledger: L.Ledger, project: Optional[str] = None) -> list[ProjectBudget]:
    """Every capped project (or just ``project``) with what it has spent and committed."""
    caps = load_caps(_data_dir(ledger))
    names = [project] if project is not None else sorted(set(caps) | _projects(ledger))
    return [ProjectBudget(p, caps.get(p), ledger.spent(p), ledger.committed(p)) for p in names]


def _projects(ledger: L.Ledger) -> set[str]:
    return {job.project for job in ledger.jobs()}


def price(request, backend: str) -> float:
    """What a request will count against a cap: priced as the ledger records it (submit), so
    the offline renderer, which costs nothing, counts nothing."""
    from ..backends import FREE_BACKENDS

    return 0.0 if backend in FREE_BACKENDS else request.estimate().usd


@contextmanager
def admitted(ledger: L.Ledger, project: str, estimates: Iterable[float]) -> Iterator[None]:
    """Check the cap and record the jobs it admits as one ledger transaction.

    Record the jobs inside the ``with``: two processes submitting at once then cannot both
    pass a cap that only one of them fits, and a refusal records nothing.
    """
    with ledger.transaction():
        check(ledger, project, estimates)
        yield


def check(ledger: L.Ledger, project: str, estimates: Iterable[float]) -> None:
    """Refuse (BudgetExceeded) a request or batch that would take ``project`` past its cap.

    Call it before recording any job: the refusal then leaves the ledger untouched.
    """
    estimates = [float(e) for e in estimates]
    cap = load_caps(_data_dir(ledger)).get(project)
    if cap is None:
        return
    committed = ledger.committed(project)
    requested = sum(estimates)
    if committed + requested <= cap + _EPSILON:
        return
    label = f"project {project!r}" if project else "the default project (no --project)"
    what = (f"this request (est. ${requested:.2f})" if len(estimates) == 1
            else f"this batch of {len(estimates)} generations (est. ${requested:.2f})")
    left = max(0.0, cap - committed)
    flag = project or "''"
    hint = ""
    if len(estimates) > 1 and estimates and min(estimates) > 0:
        fits = int((left + _EPSILON) // max(estimates))
        hint = f" ask for at most {fits} (-n {fits}), or" if fits > 0 else ""
    raise BudgetExceeded(
        f"{label} has a cap of ${cap:.2f}; ${committed:.2f} is already spent or committed to "
        f"jobs in flight, so {what} would pass it (${left:.2f} left). Nothing was sent. "
        f"To go on,{hint} raise the cap with `genplate budget --project {flag} "
        f"--cap USD`.",
        project=project, cap=cap, committed=committed, requested=requested)


__all__ = ["BudgetExceeded", "ProjectBudget", "admitted", "check", "price", "set_cap", "load_caps", "status", "caps_path"]
