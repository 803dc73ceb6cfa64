"""The console's numbers: per mechanic and period, what was completed, how it was rated, how
soon requests were accepted, what was handed back, and what expired.

Counted from the rows and the events log in Python, on both databases alike (a median is not
portable SQL); a period is whole UTC days, today included.
"""

from __future__ import annotations

import statistics
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from pitcrew.admin_schemas import DayNumbers, MechanicNumbers, Numbers
from pitcrew.events import Kind
from pitcrew.models import Event, Session, SessionRequest, SessionStatus, User, utcnow

Mechanic = uuid.UUID | None


@dataclass
class _Tally:
    """What the period's rows add up to, before they become numbers."""

    ratings: defaultdict[Mechanic, list[int | None]] = field(
        default_factory=lambda: defaultdict(list)
    )
    waits: defaultdict[Mechanic, list[float]] = field(default_factory=lambda: defaultdict(list))
    hand_backs: Counter[Mechanic] = field(default_factory=Counter)
    per_day: Counter[tuple[str, date]] = field(default_factory=Counter)
    expired: int = 0


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def period(s: DbSession, days: int, *, today: date | None = None) -> Numbers:
    """The last ``days`` days up to ``today``: everyone's numbers, each mechanic's, each day's."""
    until = today or utcnow().date()
    since = until - timedelta(days=days - 1)
    tally = _tally(s, _start(since), _start(until) + timedelta(days=1))
    ids = {i for i in (*tally.ratings, *tally.waits, *tally.hand_backs) if i is not None}
    names = {i: n for i, n in s.execute(select(User.id, User.name).where(User.id.in_(ids)))}
    mechanics = [_numbers(tally, i, names.get(i, "A former account")) for i in ids]
    mechanics.sort(key=lambda m: (-m.completed, m.name))
    each_day = [since + timedelta(days=n) for n in range(days)]
    return Numbers(
        since=since,
        until=until,
        everyone=_numbers(tally, None, "Everyone"),
        expired=tally.expired,
        mechanics=mechanics,
        days=[
            DayNumbers(
                day=d,
                completed=tally.per_day["completed", d],
                expired=tally.per_day["expired", d],
            )
            for d in each_day
        ],
    )


def _tally(s: DbSession, start: datetime, end: datetime) -> _Tally:
    tally = _Tally()
    completed = s.execute(
        select(Session.mechanic_id, Session.ended_at, Session.rating).where(
            Session.status == SessionStatus.COMPLETED,
            Session.ended_at >= start,
            Session.ended_at < end,
        )
    )
    for mechanic_id, ended_at, rating in completed:
        tally.ratings[mechanic_id].append(rating)
        if ended_at is not None:
            tally.per_day["completed", ended_at.date()] += 1
    accepted = s.execute(
        select(
            SessionRequest.mechanic_id, SessionRequest.created_at, SessionRequest.accepted_at
        ).where(SessionRequest.accepted_at >= start, SessionRequest.accepted_at < end)
    )
    for mechanic_id, created_at, accepted_at in accepted:
        if accepted_at is not None:
            tally.waits[mechanic_id].append((accepted_at - created_at).total_seconds())
    moments = s.execute(
        select(Event.kind, Event.at, Event.payload).where(
            Event.kind.in_((Kind.REQUEST_RELEASED, Kind.REQUEST_EXPIRED)),
            Event.at >= start,
            Event.at < end,
        )
    )
    for kind, at, payload in moments:
        if kind == Kind.REQUEST_RELEASED:
            # Whose session it was (the actor may be an admin deactivating their account).
            tally.hand_backs[uuid.UUID(payload["mechanic_id"])] += 1
        else:
            tally.expired += 1
            tally.per_day["expired", at.date()] += 1
    return tally


def _numbers(tally: _Tally, mechanic_id: Mechanic, name: str) -> MechanicNumbers:
    """One mechanic's numbers, or everyone's when ``mechanic_id`` is None."""
    if mechanic_id is None:
        finished = [r for rs in tally.ratings.values() for r in rs]
        waits = [w for ws in tally.waits.values() for w in ws]
        hand_backs = sum(tally.hand_backs.values())
    else:
        finished = tally.ratings[mechanic_id]
        waits = tally.waits[mechanic_id]
        hand_backs = tally.hand_backs[mechanic_id]
    rated = [r for r in finished if r is not None]
    return MechanicNumbers(
        mechanic_id=mechanic_id,
        name=name,
        completed=len(finished),
        rating_average=round(statistics.fmean(rated), 2) if rated else None,
        ratings=len(rated),
        median_accept_seconds=statistics.median(waits) if waits else None,
        hand_backs=hand_backs,
    )
