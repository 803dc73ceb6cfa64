"""The whole status flow in random order against a model small enough to be obviously right.

Hypothesis drives intakes, accepts by several mechanics, joins, completions, cancels by
either party, expiries, hand-backs and ratings, including the ones that must be refused.
After every step: DESIGN's invariants hold, every session and request has the status the
model says, a refused step changed nothing, and every mechanic's four dashboard tabs list
exactly the sessions the model puts there.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from pitcrew import auth, dashboard, flow, invariants
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import Conflict, DomainError, Forbidden
from pitcrew.events import latest_id
from pitcrew.models import Base, Event, Role, Session, SessionRequest
from pitcrew.schemas import AcceptOut, IntakeIn
from tests.support.factories import INTAKE

MAX_SESSIONS = 16  # well under a dashboard page, so a tab is its first page
TTL = timedelta(minutes=15)
KEEP = {"users", "auth_tokens", "login_failures"}

RUNS = settings(
    max_examples=20,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class Modelled:
    """What the model knows of one session and its request."""

    session_id: uuid.UUID
    request_id: uuid.UUID
    customer: uuid.UUID
    created_at: datetime
    status: str = "pending"
    request_status: str = "pending"
    mechanic: uuid.UUID | None = None
    rated: bool = False
    released_at: datetime | None = None

    @property
    def offered_at(self) -> datetime:
        """When it was last offered to every mechanic: its TTL runs from here."""
        return max(self.created_at, self.released_at or self.created_at)


def _actors(db: Database, role: Role, count: int) -> list[Actor]:
    people = []
    for n in range(count):
        user = auth.create_user(
            db,
            email=f"{role.value}-{n}-{uuid.uuid4().hex[:8]}@example.com",
            name=f"{role.value.title()} {n}",
            role=role,
            password=None,
            on_duty=role == Role.MECHANIC,
        )
        people.append(auth.actor_of(user))
    return people


def _empty(db: Database) -> None:
    """Everything but the accounts, so each example starts from no sessions at all."""
    with db.engine.begin() as c:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEEP:
                c.execute(table.delete())


def run_flow_machine(db: Database) -> int:
    """Run the machine; returns how many states had every property checked."""
    customers = _actors(db, Role.CUSTOMER, 2)
    mechanics = _actors(db, Role.MECHANIC, 3)
    checked = [0]

    class FlowMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            _empty(db)
            self.sessions: list[Modelled] = []
            # Every hand-back stays in the mechanic's History as a "released" row.
            self.released: dict[uuid.UUID, list[uuid.UUID]] = {m.id: [] for m in mechanics}

        # --- helpers ---------------------------------------------------------------------

        def pick(self, index: int) -> Modelled:
            return self.sessions[index % len(self.sessions)]

        def attempt(
            self, expected: type[DomainError] | None, action: object, *args: object
        ) -> object:
            """Run a flow call; the model says whether it succeeds or which refusal it gets."""
            before = self.last_event()
            try:
                result = action(*args)  # type: ignore[operator]
            except DomainError as error:
                assert expected is not None and isinstance(error, expected), (
                    f"model expected {expected}, flow refused with {error!r}"
                )
                assert self.last_event() == before, "a refused change wrote an event"
                return None
            assert expected is None, f"model expected {expected.__name__}, flow allowed it"
            return result

        def last_event(self) -> int:
            with db.read() as s:
                return latest_id(s)

        def party_error(
            self, m: Modelled, actor: Actor, *, customer: bool, mechanic: bool
        ) -> type[DomainError] | None:
            is_customer = actor.id == m.customer
            is_mechanic = m.mechanic is not None and actor.id == m.mechanic
            if (customer and is_customer) or (mechanic and is_mechanic):
                return None
            if mechanic and not customer and actor.role == Role.MECHANIC and m.mechanic is None:
                return Conflict  # nobody holds it: its status is why no mechanic may act
            return Forbidden

        # --- rules -----------------------------------------------------------------------

        @precondition(lambda self: len(self.sessions) < MAX_SESSIONS)
        @rule(who=st.sampled_from(customers), kind=st.sampled_from(["chat", "video"]))
        def intake(self, who: Actor, kind: str) -> None:
            body = IntakeIn.model_validate(dict(INTAKE, session_type=kind))
            answer, created = flow.start_intake(db, who, body)
            assert created
            with db.read() as s:
                created_at = s.scalar(
                    select(SessionRequest.created_at).where(SessionRequest.id == answer.request_id)
                )
            assert created_at is not None
            self.sessions.append(Modelled(answer.session_id, answer.request_id, who.id, created_at))

        @precondition(lambda self: self.sessions)
        @rule(who=st.sampled_from(mechanics), index=st.integers(0, MAX_SESSIONS))
        def accept(self, who: Actor, index: int) -> None:
            m = self.pick(index)
            if m.request_status == "pending":
                expected: type[DomainError] | None = None
            elif m.request_status == "accepted" and m.mechanic == who.id:
                expected = None  # the winner asking again gets the same answer
            else:
                expected = Conflict
            answer = self.attempt(expected, flow.accept, db, who, m.request_id)
            if answer is not None:
                if m.request_status == "pending":
                    m.status, m.request_status, m.mechanic = "waiting", "accepted", who.id
                assert answer == AcceptOut(
                    session_id=m.session_id,
                    request_id=m.request_id,
                    mechanic_id=who.id,
                    session_status=m.status,
                    request_status="accepted",
                )

        def _mechanic_move(
            self, who: Actor, index: int, action: object, source: str, target: str, *args: object
        ) -> Modelled | None:
            m = self.pick(index)
            expected = self.party_error(m, who, customer=False, mechanic=True)
            if expected is None and m.status != source:
                expected = Conflict
            if self.attempt(expected, action, db, who, m.session_id, *args) is None:
                return None
            m.status = target
            return m

        @precondition(lambda self: self.sessions)
        @rule(who=st.sampled_from(mechanics), index=st.integers(0, MAX_SESSIONS))
        def join(self, who: Actor, index: int) -> None:
            self._mechanic_move(who, index, flow.join, "waiting", "live")

        @precondition(lambda self: self.sessions)
        @rule(who=st.sampled_from(mechanics), index=st.integers(0, MAX_SESSIONS))
        def complete(self, who: Actor, index: int) -> None:
            self._mechanic_move(who, index, flow.complete, "live", "completed", "Worn pads.")

        @precondition(lambda self: self.sessions)
        @rule(who=st.sampled_from(mechanics), index=st.integers(0, MAX_SESSIONS))
        def hand_back(self, who: Actor, index: int) -> None:
            m = self._mechanic_move(who, index, flow.release, "waiting", "pending")
            if m is not None:
                m.request_status, m.mechanic = "pending", None
                self.released[who.id].append(m.request_id)
                with db.read() as s:
                    m.released_at = s.scalar(
                        select(func.max(Event.at)).where(
                            Event.session_id == m.session_id, Event.kind == "request.released"
                        )
                    )

        @precondition(lambda self: self.sessions)
        @rule(
            who=st.sampled_from(customers + mechanics),
            index=st.integers(0, MAX_SESSIONS),
        )
        def cancel(self, who: Actor, index: int) -> None:
            m = self.pick(index)
            expected = self.party_error(m, who, customer=True, mechanic=True)
            if expected is None and m.status not in ("pending", "waiting", "live"):
                expected = Conflict
            done = self.attempt(expected, flow.cancel, db, who, m.session_id, "changed plans")
            if done is not None:
                m.status = "cancelled"
                if m.request_status in ("pending", "accepted"):
                    m.request_status = "cancelled"

        @precondition(lambda self: self.sessions)
        @rule(
            who=st.sampled_from(customers + mechanics),
            index=st.integers(0, MAX_SESSIONS),
            stars=st.integers(1, 5),
        )
        def rate(self, who: Actor, index: int, stars: int) -> None:
            m = self.pick(index)
            expected = self.party_error(m, who, customer=True, mechanic=False)
            if expected is None and (m.status != "completed" or m.rated):
                expected = Conflict
            before = self.last_event()
            self.attempt(expected, flow.rate, db, who, m.session_id, stars, "")
            if expected is None:
                assert self.last_event() > before
                m.rated = True

        @precondition(lambda self: any(m.request_status == "pending" for m in self.sessions))
        @rule(index=st.integers(0, MAX_SESSIONS))
        def expire(self, index: int) -> None:
            """Move the clock past the TTL of one pending request (and all offered before it).

            A handed-back request's TTL runs from the hand-back, not from the intake.
            """
            pending = sorted(
                (m for m in self.sessions if m.request_status == "pending"),
                key=lambda m: m.offered_at,
            )
            cutoff = pending[index % len(pending)].offered_at + timedelta(microseconds=1)
            due = [m for m in pending if m.offered_at < cutoff]
            assert flow.expire_due(db, TTL, now=cutoff + TTL) == len(due)
            for m in due:
                m.status, m.request_status = "cancelled", "expired"

        @precondition(lambda self: any(m.request_status == "pending" for m in self.sessions))
        @rule()
        def expire_nothing_yet(self) -> None:
            """A sweep before anything is due changes nothing."""
            oldest = min(m.offered_at for m in self.sessions if m.request_status == "pending")
            assert flow.expire_due(db, TTL, now=oldest + TTL) == 0

        # --- what must hold after every step ----------------------------------------------

        @invariant()
        def design_invariants_hold(self) -> None:
            with db.engine.connect() as c:
                broken = {k: v for k, v in invariants.violations(c).items() if v}
            assert broken == {}
            checked[0] += 1

        @invariant()
        def statuses_match_the_model(self) -> None:
            with db.read() as s:
                rows = s.execute(
                    select(
                        Session.id,
                        Session.status,
                        Session.mechanic_id,
                        Session.rating,
                        SessionRequest.id,
                        SessionRequest.status,
                        SessionRequest.mechanic_id,
                    ).join(SessionRequest, SessionRequest.parent_session_id == Session.id)
                ).all()
            actual = {r[0]: (r[1], r[2], r[3] is not None, r[4], r[5], r[6]) for r in rows}
            expected = {
                m.session_id: (
                    m.status,
                    m.mechanic,
                    m.rated,
                    m.request_id,
                    m.request_status,
                    m.mechanic,
                )
                for m in self.sessions
            }
            assert actual == expected

        @invariant()
        def dashboards_match_the_model(self) -> None:
            pending = sorted(
                (m for m in self.sessions if m.request_status == "pending"),
                key=lambda m: (m.created_at, m.request_id),
            )
            for mechanic in mechanics:
                mine = [m for m in self.sessions if m.mechanic == mechanic.id]
                expected = {
                    "incoming": [m.request_id for m in pending],
                    "active": {m.request_id for m in mine if m.status in ("waiting", "live")},
                    "completed": {m.request_id for m in mine if m.status == "completed"},
                    "history": Counter(
                        [
                            (m.request_id, m.request_status)
                            for m in mine
                            if m.request_status in ("accepted", "cancelled")
                        ]
                        + [(rid, "released") for rid in self.released[mechanic.id]]
                    ),
                }
                with db.read() as s:
                    tabs = dashboard.whole(s, mechanic.id)
                actual = {
                    "incoming": [r["request_id"] for r in tabs["incoming"].rows],
                    "active": {r["request_id"] for r in tabs["active"].rows},
                    "completed": {r["request_id"] for r in tabs["completed"].rows},
                    "history": Counter(
                        (r["request_id"], r["request_status"]) for r in tabs["history"].rows
                    ),
                }
                assert actual == expected, f"dashboard of {mechanic.name}"
                assert all(page.next_cursor is None for page in tabs.values())

    run_state_machine_as_test(FlowMachine, settings=RUNS)
    return checked[0]


def test_random_flows_keep_invariants_and_dashboards(db: Database) -> None:
    checked = run_flow_machine(db)
    # The properties are asserted inside the machine after every step; this guards against a
    # settings change that would leave it running no step at all.
    assert checked >= RUNS.max_examples, f"only {checked} states were checked"
