"""What each plan offers (its name and minutes), and how long a session took against it.

The minutes are a guide, never a cut: the room tells both parties when they are reached and
the session goes on until the mechanic completes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    minutes: int
    blurb: str


PLANS = (
    Plan("basic", "Basic", 15, "Up to 15 minutes. Good for one clear question."),
    Plan("standard", "Standard", 30, "Up to 30 minutes. A diagnosis with follow-up questions."),
    Plan(
        "premium", "Premium", 60, "Up to 60 minutes. In-depth diagnosis and a written repair plan."
    ),
)
BY_CODE = {p.code: p for p in PLANS}


def minutes(code: str | None) -> int | None:
    """The plan's minutes; None for a plan this version does not know (an older database's)."""
    plan = BY_CODE.get(code or "")
    return plan.minutes if plan else None


def duration_seconds(started_at: datetime | None, ended_at: datetime) -> int | None:
    """Whole seconds from going live to completion; None for a session that never went live."""
    if started_at is None:
        return None
    return max(0, int((ended_at - started_at).total_seconds()))


def duration_words(seconds: int | None) -> str:
    """A duration as people say it: "45 s", "23 min", "1 h 05 min"."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
