"""The whole status flow in random order against a model small enough to be obviously right.

Hypothesis drives intakes, accepts by several mechanics, joins, chat messages, completions,
cancels by either party, expiries, hand-backs and ratings. Most steps pick a session in the
state the action needs and the person entitled to it, so a run walks every transition of
``flow.SESSION_FLOW``; a stray step lets anyone try anything on any session, so refusals are
exercised too. After every step: DESIGN's invariants hold, every session and request has the
status the model says, a refused step changed nothing, and every mechanic's four dashboard
tabs list exactly the sessions the model puts there. The run fails unless every transition
of the table succeeded at least once; the counts are printed at the end of the test session.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
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

from pitcrew import auth, chat, dashboard, flow, invariants
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import Conflict, DomainError, Forbidden, NotFound
from pitcrew.events import latest_id
from pitcrew.flow import SESSION_FLOW, Action
from pitcrew.models import Base, Event, Role, Session, SessionRequest
from pitcrew.schemas import AcceptOut, IntakeIn
from tests.support.factories import INTAKE

MAX_SESSIONS = 16  # well under a dashboard page, so a tab is its first page
TTL = timedelta(minutes=15)
KEEP = {"users", "auth_tokens", "login_failures"}
OPEN = ("pending", "waiting", "live")

# The same walks on every run (seeded from the test itself): whether every transition is reached
# is then a property of the code under test, not of the run's luck, and a failure replays.
RUNS = settings(
    derandomize=True,
    max_examples=10,
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


@dataclass
class Run:
    """What one run of the machine did: states fully checked, transitions that succeeded."""

    checked: int
    succeeded: Counter[Action]


def run_flow_machine(db: Database) -> Run:
    customers = _actors(db, Role.CUSTOMER, 2)
    mechanics = _actors(db, Role.MECHANIC, 3)
    everyone = {a.id: a for a in customers + mechanics}
    checked = [0]
    succeeded: Counter[Action] = Counter()

    class FlowMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            _empty(db)
            self.sessions: list[Modelled] = []
            # Every hand-back stays in the mechanic's History as a "released" row.
            self.released: dict[uuid.UUID, list[uuid.UUID]] = {m.id: [] for m in mechanics}

        # --- helpers ---------------------------------------------------------------------

        def having(self, *statuses: str) -> list[Modelled]:
            return [m for m in self.sessions if m.status in statuses]

        def parties(self, m: Modelled) -> list[Actor]:
            """The customer, and the mechanic while one holds the session."""
            return [everyone[m.customer]] + ([everyone[m.mechanic]] if m.mechanic else [])

        def attempt(
            self,
            expected: type[DomainError] | None,
            action: Callable[..., object],
            *args: object,
        ) -> tuple[bool, object]:
            """Run a flow call; the model says whether it succeeds or which refusal it gets."""
            before = self.last_event()
            try:
                result = action(*args)
            except DomainError as error:
                assert expected is not None and isinstance(error, expected), (
                    f"model expected {expected}, flow refused with {error!r}"
                )
                assert self.last_event() == before, "a refused change wrote an event"
                return False, None
            assert expected is None, f"model expected {expected.__name__}, flow allowed it"
            return True, result

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
            if is_customer or is_mechanic:
                return Forbidden  # a party, but not the one this action is for
            return NotFound  # someone else's session is as unknown as one that does not exist

        # --- what each action does to the model, whoever tries it on whichever session ----

        def try_accept(self, who: Actor, m: Modelled) -> None:
            if m.request_status == "pending":
                expected: type[DomainError] | None = None
            elif m.request_status == "accepted" and m.mechanic == who.id:
                expected = None  # the winner asking again gets the same answer
            else:
                expected = Conflict
            if who.role != Role.MECHANIC:
                expected = Forbidden
            ok, answer = self.attempt(expected, flow.accept, db, who, m.request_id)
            if not ok:
                return
            if m.request_status == "pending":
                m.status, m.request_status, m.mechanic = "waiting", "accepted", who.id
                succeeded[Action.ACCEPT] += 1
            assert answer == AcceptOut(
                session_id=m.session_id,
                request_id=m.request_id,
                mechanic_id=who.id,
                session_status=m.status,
                request_status="accepted",
            )

        def _mechanic_move(
            self,
            who: Actor,
            m: Modelled,
            action: Action,
            call: Callable[..., object],
            *args: object,
        ) -> bool:
            sources, target = SESSION_FLOW[action]
            expected = self.party_error(m, who, customer=False, mechanic=True)
            if expected is None and m.status not in sources:
                expected = Conflict
            ok, _ = self.attempt(expected, call, db, who, m.session_id, *args)
            if ok:
                assert target is not None
                m.status = target.value
                succeeded[action] += 1
            return ok

        def try_join(self, who: Actor, m: Modelled) -> None:
            self._mechanic_move(who, m, Action.JOIN, flow.join)

        def try_complete(self, who: Actor, m: Modelled) -> None:
            self._mechanic_move(who, m, Action.COMPLETE, flow.complete, "Worn pads.")

        def try_release(self, who: Actor, m: Modelled) -> None:
            if not self._mechanic_move(who, m, Action.RELEASE, flow.release):
                return
            m.request_status, m.mechanic = "pending", None
            self.released[who.id].append(m.request_id)
            with db.read() as s:
                m.released_at = s.scalar(
                    select(func.max(Event.at)).where(
                        Event.session_id == m.session_id, Event.kind == "request.released"
                    )
                )

        def try_cancel(self, who: Actor, m: Modelled) -> None:
            expected = self.party_error(m, who, customer=True, mechanic=True)
            if expected is None and m.status not in OPEN:
                expected = Conflict
            ok, _ = self.attempt(expected, flow.cancel, db, who, m.session_id, "changed plans")
            if ok:
                m.status = "cancelled"
                if m.request_status in ("pending", "accepted"):
                    m.request_status = "cancelled"
                succeeded[Action.CANCEL] += 1

        def try_rate(self, who: Actor, m: Modelled, stars: int = 4) -> None:
            expected = self.party_error(m, who, customer=True, mechanic=False)
            if expected is None and (m.status != "completed" or m.rated):
                expected = Conflict
            before = self.last_event()
            ok, _ = self.attempt(expected, flow.rate, db, who, m.session_id, stars, "")
            if ok:
                assert self.last_event() > before
                m.rated = True
                succeeded[Action.RATE] += 1

        def try_message(self, who: Actor, m: Modelled) -> None:
            expected = self.party_error(m, who, customer=True, mechanic=True)
            if expected is None and m.status not in SESSION_FLOW[Action.MESSAGE][0]:
                expected = Conflict
            ok, out = self.attempt(expected, chat.post_message, db, who, m.session_id, "Hello?")
            if ok:
                assert getattr(out, "session_id", None) == m.session_id
                succeeded[Action.MESSAGE] += 1

        # --- rules: the right person on a session in the right state -----------------------

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

        @precondition(lambda self: bool(self.having("pending")))
        @rule(who=st.sampled_from(mechanics), data=st.data())
        def accept(self, who: Actor, data: st.DataObject) -> None:
            self.try_accept(who, data.draw(st.sampled_from(self.having("pending"))))

        @precondition(lambda self: bool(self.having("waiting", "live", "completed")))
        @rule(data=st.data())
        def accept_again(self, data: st.DataObject) -> None:
            """The winner's double click: answered, not refused, nothing changes."""
            m = data.draw(st.sampled_from(self.having("waiting", "live", "completed")))
            assert m.mechanic is not None
            self.try_accept(everyone[m.mechanic], m)

        @precondition(lambda self: bool(self.having("waiting")))
        @rule(data=st.data())
        def join(self, data: st.DataObject) -> None:
            m = data.draw(st.sampled_from(self.having("waiting")))
            assert m.mechanic is not None
            self.try_join(everyone[m.mechanic], m)

        @precondition(lambda self: bool(self.having("live")))
        @rule(data=st.data())
        def message(self, data: st.DataObject) -> None:
            m = data.draw(st.sampled_from(self.having("live")))
            self.try_message(data.draw(st.sampled_from(self.parties(m))), m)

        @precondition(lambda self: bool(self.having("live")))
        @rule(data=st.data())
        def complete(self, data: st.DataObject) -> None:
            m = data.draw(st.sampled_from(self.having("live")))
            assert m.mechanic is not None
            self.try_complete(everyone[m.mechanic], m)

        @precondition(lambda self: bool(self.having("waiting")))
        @rule(data=st.data())
        def hand_back(self, data: st.DataObject) -> None:
            m = data.draw(st.sampled_from(self.having("waiting")))
            assert m.mechanic is not None
            self.try_release(everyone[m.mechanic], m)

        @precondition(lambda self: bool(self.having(*OPEN)))
        @rule(data=st.data())
        def cancel(self, data: st.DataObject) -> None:
            m = data.draw(st.sampled_from(self.having(*OPEN)))
            self.try_cancel(data.draw(st.sampled_from(self.parties(m))), m)

        @precondition(lambda self: any(not m.rated for m in self.having("completed")))
        @rule(data=st.data(), stars=st.integers(1, 5))
        def rate(self, data: st.DataObject, stars: int) -> None:
            m = data.draw(st.sampled_from([m for m in self.having("completed") if not m.rated]))
            self.try_rate(everyone[m.customer], m, stars)

        @precondition(lambda self: bool(self.having("pending")))
        @rule(data=st.data())
        def expire(self, data: st.DataObject) -> None:
            """Move the clock past the TTL of one pending request (and all offered before it).

            A handed-back request's TTL runs from the hand-back, not from the intake.
            """
            pending = sorted(
                (m for m in self.sessions if m.request_status == "pending"),
                key=lambda m: m.offered_at,
            )
            chosen = data.draw(st.sampled_from(pending))
            cutoff = chosen.offered_at + timedelta(microseconds=1)
            due = [m for m in pending if m.offered_at < cutoff]
            assert flow.expire_due(db, TTL, now=cutoff + TTL) == len(due)
            for m in due:
                m.status, m.request_status = "cancelled", "expired"
            succeeded[Action.EXPIRE] += len(due)

        @precondition(lambda self: bool(self.having("pending")))
        @rule()
        def expire_nothing_yet(self) -> None:
            """A sweep before anything is due changes nothing."""
            oldest = min(m.offered_at for m in self.sessions if m.request_status == "pending")
            assert flow.expire_due(db, TTL, now=oldest + TTL) == 0

        # --- rule: anyone tries anything, mostly to be refused ------------------------------

        @precondition(lambda self: bool(self.sessions))
        @rule(
            action=st.sampled_from(
                ["accept", "join", "message", "complete", "release", "cancel", "rate"]
            ),
            who=st.sampled_from(customers + mechanics),
            data=st.data(),
        )
        def stray(self, action: str, who: Actor, data: st.DataObject) -> None:
            m = data.draw(st.sampled_from(self.sessions))
            tries: dict[str, Callable[[Actor, Modelled], None]] = {
                "accept": self.try_accept,
                "join": self.try_join,
                "message": self.try_message,
                "complete": self.try_complete,
                "release": self.try_release,
                "cancel": self.try_cancel,
                "rate": self.try_rate,
            }
            tries[action](who, m)

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
    return Run(checked=checked[0], succeeded=succeeded)


# 10 runs of 40 steps, each step checked against the model and every mechanic's four tabs:
# half a minute per database on a quiet 2-core machine, but past pytest's default limit
# when the machine is shared. The walks are the same on every run (``derandomize``), and the
# test fails if they stop reaching a transition, so fewer runs cannot quietly prove less.
@pytest.mark.timeout(900)
def test_random_flows_reach_every_transition_and_keep_invariants_and_dashboards(
    db: Database, record_property: Callable[[str, object], None]
) -> None:
    run = run_flow_machine(db)
    # tests/conftest.py writes these to the terminal at the end, also from a parallel worker
    counts = ", ".join(f"{action.value} {run.succeeded[action]}" for action in SESSION_FLOW)
    record_property("transitions", f"{db.engine.dialect.name}: {counts}")
    # The properties are asserted inside the machine after every step; this guards against a
    # settings change that would leave it running no step at all.
    assert run.checked >= RUNS.max_examples, f"only {run.checked} states were checked"
    never = [action.value for action in SESSION_FLOW if run.succeeded[action] == 0]
    assert never == [], f"these transitions never succeeded: {never}; counts {run.succeeded}"
