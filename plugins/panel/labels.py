"""What the panel says about a job or a take, as plain text and numbers.

Kept apart from the widgets so the wording (a take's label, the judge's verdict, how far a job
has come) can be read and tested without building a panel, and so every section that shows a
take or a job says it the same way.
"""
from __future__ import annotations

from typing import Optional

# How far along a job is, over its whole life: each state's share of the bar. The engine
# reports `progress` as the fraction of the current step ("generating", "downloading",
# "ingesting"), so the bar adds that fraction of the step's share to where the step begins.
_STEP_SPAN = {
    "queued": (0.0, 0.02),
    "submitted": (0.02, 0.05),
    "running": (0.05, 0.65),
    "delivered": (0.65, 0.75),
    "fetched": (0.75, 0.77),
    "ingesting": (0.77, 1.0),
    "ready": (1.0, 1.0),
}


def overall_progress(job: dict) -> float:
    """0..1 for a job summary from `genplate jobs --json` (failed/cancelled keep their place)."""
    state = job.get("state", "queued")
    start, end = _STEP_SPAN.get(state, (0.0, 0.0))
    fraction = job.get("progress")
    if state in ("failed", "cancelled"):
        return 0.0
    if isinstance(fraction, (int, float)) and 0.0 <= fraction <= 1.0:
        return start + (end - start) * float(fraction)
    return start


def take_label(take: dict, rank: Optional[int] = None) -> str:
    tag = "latest" if take.get("latest") else ""
    kind = take.get("kind") or ""
    extra = ", ".join(x for x in (kind, tag) if x)
    label = f"{take.get('name')} v{int(take.get('version') or 0):03d}" + (f"\n{extra}" if extra else "")
    verdict = verdict_text(take.get("scores"))
    if verdict or rank:
        label += "\n" + " ".join(x for x in (f"#{rank}" if rank else "", verdict) if x)
    return label


def verdict_text(scores) -> str:
    """The judge's verdict in a few words: "ok 87.5" or "broken 41.0" ("" if not judged)."""
    if not isinstance(scores, dict) or not scores.get("verdict"):
        return ""
    score = scores.get("score")
    number = f" {float(score):.1f}" if isinstance(score, (int, float)) else ""
    return f"{scores['verdict']}{number}"


def take_tooltip(take: dict) -> str:
    tip = (f"{take.get('prompt', '')}\n{take.get('pattern')}\n"
           f"{take.get('first')}-{take.get('last')}  {take.get('colorspace')}")
    scores = take.get("scores")
    if isinstance(scores, dict) and scores.get("verdict"):
        tip += f"\njudged {verdict_text(scores)}"
        for line in list(scores.get("reasons") or []) + list(scores.get("warnings") or []):
            tip += f"\n  - {line}"
    return tip


__all__ = ["overall_progress", "take_label", "take_tooltip", "verdict_text"]
