"""Draft batches: N cheap drafts of one prompt, run together, judged, ranked, shown on one sheet.

``run_batch`` is what ``genplate drafts PROMPT -n N`` runs:

1. N requests: the same prompt and inputs, seeds ``seed .. seed+N-1`` (the offline renderer
   uses them; Ray3 has no seed, so its drafts differ by chance), take names ``<name>_d01`` ...
2. The whole batch is priced and checked against the project's cap before any job is recorded:
   a batch that would pass it is refused with nothing sent (``budget.check``).
3. The jobs run concurrently (``jobs.run_concurrently``, at most ``limit`` in flight); the job
   runner itself retries generations the service failed (refunded, retryable codes).
4. Each published draft is judged (``judge.judge_take``: scores.json and a plot beside it).
5. Drafts judged broken are retried automatically while the batch's retry allowance lasts and
   the cap allows: each retry is a new job in the ledger (same batch, ``parent_id`` the broken
   draft's job, a note on both), with a fresh seed, published as the next version of the same
   draft name.
6. The drafts are ranked (ok ones by score, then broken, then failed) and a contact sheet PNG of
   their middle frames, names, ranks and scores is written to
   ``<root>/<shot>/contact_sheets/<name>_<batch>.png``, with the batch's JSON beside it.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

from ..jobs import ledger as L
from ..jobs.budget import BudgetExceeded, admitted, price
from ..jobs.runner import JobRunner, kind_for, run_concurrently, submit
from ..progress import CancelToken, ProgressFn, no_progress
from ..request import ShotRequest
from ..takes.record import PublishSpec
from .judge import judge_take
from .scores import JudgeConfig, JudgeError, TakeScores, load_config, rank, write_json_atomic

MAX_DRAFTS = 64
SHEETS_DIR = "contact_sheets"


class DraftsError(RuntimeError):
    """A batch that cannot be run as asked (the message says what to change)."""


@dataclass
class DraftOutcome:
    slot: int
    name: str
    job_id: str                       # the job whose result stands for this draft
    jobs: list[str] = field(default_factory=list)  # every job this draft cost, in order
    state: str = L.QUEUED
    take_dir: Optional[str] = None
    version: Optional[int] = None
    scores: Optional[TakeScores] = None
    rank: Optional[int] = None
    error: Optional[str] = None
    judge_retries: int = 0

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version:03d}" if self.version else self.name

    def to_json(self) -> dict:
        scores = self.scores
        return {
            "rank": self.rank, "slot": self.slot, "name": self.name, "version": self.version,
            "state": self.state, "take_dir": self.take_dir, "job_id": self.job_id,
            "jobs": list(self.jobs), "judge_retries": self.judge_retries, "error": self.error,
            "verdict": scores.verdict if scores else None,
            "score": scores.score if scores else None,
            "reasons": list(scores.reasons) if scores else [],
            "warnings": list(scores.warnings) if scores else [],
            "scores_json": str(Path(self.take_dir) / "scores.json") if scores and self.take_dir else None,
            "plot": str(Path(self.take_dir) / "scores_plot.png") if scores and self.take_dir else None,
        }


@dataclass
class DraftBatch:
    batch_id: str
    prompt: str
    drafts: list[DraftOutcome]        # in rank order
    contact_sheet: Optional[Path] = None
    retries_used: int = 0
    spent_usd: float = 0.0
    estimate_usd: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"batch": self.batch_id, "prompt": self.prompt,
                "contact_sheet": str(self.contact_sheet) if self.contact_sheet else None,
                "drafts": [d.to_json() for d in self.drafts], "retries_used": self.retries_used,
                "estimate_usd": round(self.estimate_usd, 4), "spent_usd": round(self.spent_usd, 4),
                "notes": list(self.notes)}


def new_batch_id() -> str:
    return "b" + uuid.uuid4().hex[:11]


def sheet_path(publish: PublishSpec, batch_id: str) -> Path:
    """Where a batch's contact sheet goes (its JSON beside it, same stem)."""
    return Path(publish.root) / publish.shot / SHEETS_DIR / f"{publish.name}_{batch_id}.png"


def draft_names(name: str, n: int) -> list[str]:
    width = 2 if n < 100 else 3
    return [f"{name}_d{i:0{width}d}" for i in range(1, n + 1)]


def plan_requests(base: ShotRequest, n: int, seed: int) -> list[ShotRequest]:
    if not 1 <= n <= MAX_DRAFTS:
        raise DraftsError(f"-n {n}: ask for 1 to {MAX_DRAFTS} drafts")
    if seed < 0:
        raise DraftsError(f"--seed {seed}: a whole number 0 or above")
    requests = [replace(base, seed=seed + i) for i in range(n)]
    for request in requests:
        request.validate()
    return requests


def run_batch(ledger: L.Ledger, base: ShotRequest, publish: PublishSpec, backend: str, n: int, *,
              seed: int = 1, project: str = "", limit: int = 2, retries: int = 2,
              runner: Optional[JobRunner] = None, judge_config: Optional[JudgeConfig] = None,
              progress_for: Optional[Callable[[str], ProgressFn]] = None,
              cancel: Optional[CancelToken] = None, batch_id: Optional[str] = None,
              say: Callable[[str], None] = lambda message: None) -> DraftBatch:
    """Run a draft batch to its ranking and contact sheet (see the module's docstring)."""
    batch_id, outcomes, estimates = submit_batch(ledger, base, publish, backend, n, seed=seed,
                                                 project=project, batch_id=batch_id)
    runner = runner or JobRunner(ledger)
    judge_config = judge_config or load_config(ledger.path.parent)
    progress_for = progress_for or (lambda _job_id: no_progress)
    from ..backends import FREE_BACKENDS

    cost = (f"free on the {backend} renderer" if backend in FREE_BACKENDS
            else f"est. ${sum(estimates):.2f} in all")
    say(f"batch {batch_id}: {n} draft(s) of {base.describe().rsplit(', est.', 1)[0]}, {cost}")

    batch = DraftBatch(batch_id, base.prompt, outcomes, estimate_usd=sum(estimates),
                       retries_used=sum(o.judge_retries for o in outcomes))
    _run(ledger, runner, outcomes, limit=limit, progress_for=progress_for, cancel=cancel)
    _judge(outcomes, judge_config, say, cancel)

    next_seed = seed + n + batch.retries_used  # a picked-up batch never reuses a seed
    standing: dict[str, dict] = {}
    while batch.retries_used < retries and (cancel is None or not cancel.cancelled):
        broken = [o for o in outcomes if o.scores is not None and o.scores.broken]
        if not broken:
            break
        broken.sort(key=lambda o: o.scores.score)  # the worst first
        wave: list[DraftOutcome] = []
        for outcome in broken[: retries - batch.retries_used]:
            old = ledger.get(outcome.job_id)
            request = replace(ShotRequest.from_json(old.request), seed=next_seed)
            try:
                with admitted(ledger, project, [price(request, backend)]):
                    job = submit(ledger, request, PublishSpec.from_json(old.publish), backend,
                                 project=project, batch_id=batch_id, parent_id=old.id,
                                 attempt=old.attempt + 1)
            except BudgetExceeded as exc:
                batch.notes.append(f"{outcome.name} not retried: {exc}")
                say(f"{outcome.name} is broken and is not retried: the project's cap is reached")
                break
            next_seed += 1
            reasons = "; ".join(outcome.scores.reasons)
            ledger.note(old.id, f"draft judged broken ({reasons}); retried as job {job.id}")
            ledger.note(job.id, f"retry of {outcome.label} (judged broken: {reasons}); a new "
                                f"paid generation")
            say(f"{outcome.label} is broken ({reasons}): retrying as job {job.id}")
            standing[outcome.name] = _standing(outcome)
            outcome.job_id = job.id
            outcome.jobs.append(job.id)
            outcome.judge_retries += 1
            outcome.scores = None
            batch.retries_used += 1
            wave.append(outcome)
        if not wave:
            break
        _run(ledger, runner, wave, limit=limit, progress_for=progress_for, cancel=cancel)
        _judge(wave, judge_config, say, cancel)
        for outcome in wave:
            _keep_better(outcome, standing.pop(outcome.name), say)

    ranked = rank([(o.name, o.scores) for o in outcomes])
    by_name = {o.name: o for o in outcomes}
    for position, name, _ in ranked:
        by_name[name].rank = position
    outcomes.sort(key=lambda o: o.rank)
    batch.drafts = outcomes
    batch.spent_usd = sum(ledger.get(j).spent_usd for o in outcomes for j in _all_jobs(ledger, o))
    batch.contact_sheet = write_batch_sheet(batch, publish)
    return batch


def submit_batch(ledger: L.Ledger, base: ShotRequest, publish: PublishSpec, backend: str, n: int,
                 *, seed: int = 1, project: str = "", batch_id: Optional[str] = None
                 ) -> tuple[str, list[DraftOutcome], list[float]]:
    """Price the batch against the cap, then record its N jobs (nothing is sent yet).

    A batch whose jobs are already in the ledger (a detached batch's worker picking it up) is
    not recorded again: its jobs are returned, in slot order.
    """
    from ..takes.layout import validate_name

    requests = plan_requests(base, n, seed)
    estimates = [price(r, backend) for r in requests]
    # The suffix makes a longer name: checked now, not when the paid drafts are published.
    names = [validate_name("take", name) for name in draft_names(publish.name, n)]
    if batch_id:
        existing = _recorded(ledger, batch_id, names)
        if existing:
            return batch_id, existing, estimates
    batch_id = batch_id or new_batch_id()
    outcomes: list[DraftOutcome] = []
    with admitted(ledger, project, estimates):  # priced and recorded as one step
        for i, (request, name) in enumerate(zip(requests, names)):
            spec = replace(publish, name=name, kind=kind_for(request))
            job = submit(ledger, request, spec, backend, project=project, batch_id=batch_id)
            outcomes.append(DraftOutcome(slot=i + 1, name=name, job_id=job.id, jobs=[job.id]))
    return batch_id, outcomes, estimates


_STANDING = ("job_id", "state", "take_dir", "version", "scores", "error")


def _standing(outcome: DraftOutcome) -> dict:
    return {name: getattr(outcome, name) for name in _STANDING}


def _keep_better(outcome: DraftOutcome, before: dict, say: Callable[[str], None]) -> None:
    """After a retry, the draft stands for whichever version is better: a retry that failed,
    or came back more broken, must not hide the published version it was meant to replace."""
    old, new = before["scores"], outcome.scores
    better = new is not None and (old is None or (old.broken and not new.broken)
                                  or (old.broken == new.broken and new.score > old.score))
    if not better:
        for name, value in before.items():
            setattr(outcome, name, value)
        say(f"{outcome.name}: the retry is no better; the draft stays {outcome.label}")


def _recorded(ledger: L.Ledger, batch_id: str, names: list[str]) -> list[DraftOutcome]:
    """A batch already in the ledger, each draft standing for the last job of its chain.

    Retries (the runner's after a failed generation, this module's after a broken judgement)
    are children of the job they replace, so following the chain finds where each draft got
    to, and the judged retries already paid for count against the batch's allowance again.
    """
    jobs = ledger.jobs(batch_id=batch_id)
    if not jobs:
        return []
    children: dict[str, list[L.Job]] = {}
    for job in jobs:
        if job.parent_id:
            children.setdefault(job.parent_id, []).append(job)
    firsts = {j.publish.get("name"): j for j in jobs if j.parent_id is None}
    outcomes = []
    for slot, name in enumerate(names, start=1):
        if name not in firsts:
            raise DraftsError(f"batch {batch_id} in the ledger has no job for {name}")
        chain = [firsts[name]]
        while children.get(chain[-1].id):
            chain.append(min(children[chain[-1].id], key=lambda j: j.created_at))
        judged = sum(1 for before in chain[:-1] if before.state == L.READY)
        outcomes.append(DraftOutcome(slot=slot, name=name, job_id=chain[-1].id,
                                     jobs=[j.id for j in chain], judge_retries=judged))
    return outcomes


def _all_jobs(ledger: L.Ledger, outcome: DraftOutcome) -> list[str]:
    """The draft's jobs plus the runner's own retries of failed generations (children)."""
    seen: list[str] = []
    for job_id in outcome.jobs:
        current: Optional[str] = job_id
        while current and current not in seen:
            seen.append(current)
            children = [j for j in ledger.jobs() if j.parent_id == current and j.id not in seen
                        and j.id not in outcome.jobs]
            current = children[0].id if children else None
    return seen


def _run(ledger: L.Ledger, runner: JobRunner, outcomes: list[DraftOutcome], *, limit: int,
         progress_for: Callable[[str], ProgressFn], cancel: Optional[CancelToken]) -> None:
    ids = [o.job_id for o in outcomes]
    results = run_concurrently(runner, ids, limit=limit, progress_for=progress_for, cancel=cancel)
    for outcome, job in zip(outcomes, results):
        # The runner retries a generation the service failed as a child job and returns the
        # child's result: the draft now stands for that job.
        if job.id != outcome.job_id:
            outcome.jobs.append(job.id)
            outcome.job_id = job.id
        outcome.state = job.state
        outcome.take_dir = job.take_dir
        outcome.error = job.error if job.state != L.READY else None
        outcome.version = _version_of(job.take_dir)


def _version_of(take_dir: Optional[str]) -> Optional[int]:
    if not take_dir:
        return None
    name = Path(take_dir).name
    return int(name[1:]) if name[:1] == "v" and name[1:].isdigit() else None


def _judge(outcomes: list[DraftOutcome], config: JudgeConfig, say: Callable[[str], None],
           cancel: Optional[CancelToken]) -> None:
    for outcome in outcomes:
        if outcome.state != L.READY or not outcome.take_dir:
            continue
        try:
            outcome.scores = judge_take(outcome.take_dir, config=config, cancel=cancel)
        except JudgeError as exc:
            outcome.error = f"could not be judged: {exc}"
            say(f"{outcome.label}: {outcome.error}")
            continue
        say(f"{outcome.label}: {outcome.scores.line()}")


def sheet_lines(outcome: DraftOutcome) -> tuple[list[str], str]:
    """The captions under a draft's thumbnail, and its state (ok | broken | failed)."""
    scores = outcome.scores
    if scores is None:
        state = outcome.state if outcome.state != L.READY else "not judged"
        return [f"{state}: {outcome.error or ''}".rstrip(": ")], "failed"
    m = scores.metrics
    head = (f"ok  score {scores.score:.1f}" if not scores.broken
            else f"broken: {', '.join(r.split(':')[0] for r in scores.reasons)}")
    lines = [head,
             f"flicker {m['flicker_rms_stops']:.3f} st  dup {m['duplicate_frames']}  "
             f"black {m['black_frames']}",
             f"clip {100 * m['clipped_fraction']:.1f}%  neg {100 * m['negative_fraction']:.2f}%  "
             f"{m['frames']}f {m['width']}x{m['height']}"]
    if outcome.judge_retries:
        lines.append(f"retried {outcome.judge_retries}x (judged broken)")
    return lines, "broken" if scores.broken else "ok"


def write_batch_sheet(batch: DraftBatch, publish: PublishSpec) -> Path:
    """The contact sheet PNG (and the batch JSON beside it); returns the PNG's path."""
    from .contact_sheet import SheetEntry, take_thumbnail, write_contact_sheet

    entries = []
    for outcome in batch.drafts:
        image = None
        if outcome.take_dir:
            take_dir = Path(outcome.take_dir)
            try:
                record = json.loads((take_dir / "take.json").read_text())
                image = take_thumbnail(take_dir, record)
            except (OSError, ValueError):
                image = None
        lines, state = sheet_lines(outcome)
        entries.append(SheetEntry(outcome.label, outcome.rank, image, lines, state))
    path = sheet_path(publish, batch.batch_id)
    title = (f"{publish.shot}  {batch.prompt}  ({len(batch.drafts)} drafts, batch "
             f"{batch.batch_id}, ${batch.spent_usd:.2f})")
    write_contact_sheet(path, entries, title=title)
    batch.contact_sheet = path
    write_json_atomic(path.with_suffix(".json"), batch.to_json())
    return path


__all__ = ["DraftBatch", "DraftOutcome", "DraftsError", "run_batch", "submit_batch", "plan_requests",
           "new_batch_id", "sheet_path",
           "draft_names", "write_batch_sheet", "sheet_lines"]
