"""The dashboard's tabs page through every row exactly once, in the order each tab promises.

Incoming is longest-waiting first; Active newest accepted first; Completed newest finished
first; History newest first, hand-backs at the moment they happened. Each order is checked
against a query written here from the tables themselves, not the dashboard's own query, and
paged with a small page size so every tab spans several pages and every cursor is used.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import String, literal, select, type_coerce, union_all

from pitcrew import dashboard, flow
from pitcrew.dashboard import Page, Window
from pitcrew.db import Database
from pitcrew.events import Kind
from pitcrew.models import Event, Role, Session, SessionRequest
from pitcrew.schemas import IntakeIn
from tests.support.factories import INTAKE, Person

pytestmark = pytest.mark.usefixtures("quick_passwords")

SMALL = 3
MAX_PAGES = 40  # far more than any tab here needs: a cursor that does not move ends the test

Row = tuple[uuid.UUID, str]


@dataclass
class Desk:
    """A mechanic with rows in every tab, a rival with rows of their own, and customers."""

    mechanic: Person
    rival: Person
    customer: Person


def _request(db: Database, customer: Person) -> tuple[uuid.UUID, uuid.UUID]:
    answer, _ = flow.start_intake(db, customer.actor, IntakeIn.model_validate(INTAKE))
    return answer.session_id, answer.request_id


def _fill(db: Database, desk: Desk) -> None:
    """Every tab several pages long, with times that put each order to the test."""
    me, rival = desk.mechanic.actor, desk.rival.actor
    accepted = [_request(db, desk.customer) for _ in range(8)]
    for _, rid in accepted:
        flow.accept(db, me, rid)
    # Finished in another order than accepted: Completed must follow the end, newest first.
    finished = [accepted[i] for i in (2, 0, 4, 1, 3)]
    for sid, _ in finished:
        flow.join(db, me, sid)
    for sid, _ in finished:
        flow.complete(db, me, sid, "Pads replaced.")
    flow.join(db, me, accepted[6][0])  # one live among the waiting in Active
    for _ in range(4):
        sid, rid = _request(db, desk.customer)
        flow.accept(db, me, rid)
    # Cancelled while waiting and while live: they stay in History.
    for join in (False, True):
        sid, rid = _request(db, desk.customer)
        flow.accept(db, me, rid)
        if join:
            flow.join(db, me, sid)
        flow.cancel(db, desk.customer.actor, sid, "Sorted it out")
    # Handed back twice: once taken by the rival, once taken again by the same mechanic.
    sid, rid = _request(db, desk.customer)
    flow.accept(db, me, rid)
    flow.release(db, me, sid)
    flow.accept(db, rival, rid)
    sid, rid = _request(db, desk.customer)
    flow.accept(db, me, rid)
    flow.release(db, me, sid)
    flow.accept(db, me, rid)
    for _ in range(2):  # the rival's own rows, which no tab of the mechanic shows
        sid, rid = _request(db, desk.customer)
        flow.accept(db, rival, rid)
    for _ in range(7):
        _request(db, desk.customer)


def _ids(rows: Sequence[Any]) -> list[Row]:
    return [(uuid.UUID(str(r[0])), str(r[1])) for r in rows]


def expected_tabs(db: Database, mechanic_id: uuid.UUID) -> dict[str, list[Row]]:
    """Each tab's rows in its promised order, straight from the tables."""
    r, s = SessionRequest, Session
    held = select(r.id, r.status).join(s, s.id == r.parent_session_id)
    mine = held.where(s.mechanic_id == mechanic_id)
    # Read as text: History adds "released", which is no request status.
    accepted_or_cancelled = select(
        r.id, type_coerce(r.status, String).label("status"), r.accepted_at.label("at")
    ).where(r.mechanic_id == mechanic_id, r.status.in_(("accepted", "cancelled")))
    handed_back = select(
        Event.request_id, literal("released").label("status"), Event.at.label("at")
    ).where(Event.actor_id == mechanic_id, Event.kind == Kind.REQUEST_RELEASED.value)
    history = union_all(accepted_or_cancelled, handed_back).subquery()
    with db.read() as session:
        return {
            "incoming": _ids(
                session.execute(
                    select(r.id, r.status).where(r.status == "pending").order_by(r.created_at, r.id)
                ).all()
            ),
            "active": _ids(
                session.execute(
                    mine.where(s.status.in_(("waiting", "live"))).order_by(
                        r.accepted_at.desc(), r.id.desc()
                    )
                ).all()
            ),
            "completed": _ids(
                session.execute(
                    mine.where(s.status == "completed").order_by(s.ended_at.desc(), r.id.desc())
                ).all()
            ),
            "history": _ids(
                session.execute(
                    select(history.c.id, history.c.status).order_by(
                        history.c.at.desc(), history.c.id.desc()
                    )
                ).all()
            ),
        }


def page_through(read: Callable[[str | None], Page], size: int) -> list[Row]:
    """Follow the cursors from the first page to the last; every page but the last is full."""
    rows: list[Row] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = read(cursor)
        rows += [(r["request_id"], r["request_status"]) for r in page.rows]
        if page.next_cursor is None:
            assert len(page.rows) <= size
            return rows
        assert len(page.rows) == size, "a page before the last is not full"
        cursor = page.next_cursor
    raise AssertionError(f"still paging after {MAX_PAGES} pages: the cursor does not move on")


@pytest.fixture
def desk(db: Database, customer: Person, make_user: Callable[..., Person]) -> Desk:
    desk = Desk(
        mechanic=make_user(Role.MECHANIC), rival=make_user(Role.MECHANIC), customer=customer
    )
    _fill(db, desk)
    return desk


def test_every_tab_pages_through_every_row_once_in_its_order(db: Database, desk: Desk) -> None:
    me = desk.mechanic.id
    readers: dict[str, Callable[[str | None], Page]] = {}
    with db.read() as s:
        readers = {
            "incoming": lambda c: dashboard.incoming(s, Window(c, SMALL)),
            "active": lambda c: dashboard.active(s, me, Window(c, SMALL)),
            "completed": lambda c: dashboard.completed(s, me, Window(c, SMALL)),
            "history": lambda c: dashboard.history(s, me, Window(c, SMALL)),
        }
        paged = {tab: page_through(read, SMALL) for tab, read in readers.items()}
    expected = expected_tabs(db, me)
    sizes = {tab: len(rows) for tab, rows in expected.items()}
    assert sizes == {"incoming": 7, "active": 8, "completed": 5, "history": 17}
    for tab in dashboard.TABS:
        assert paged[tab] == expected[tab], f"{tab}: pages differ from the promised order"
    # The rival's tabs hold only the rival's rows, in the same orders.
    with db.read() as s:
        rival = page_through(lambda c: dashboard.history(s, desk.rival.id, Window(c, 2)), 2)
    assert rival == expected_tabs(db, desk.rival.id)["history"] and len(rival) == 3


def test_completed_is_newest_finished_first_whatever_the_order_of_acceptance(
    db: Database, desk: Desk
) -> None:
    """What a mechanic looks for first is what they just finished."""
    answer = desk.mechanic.client.get("/api/mechanic/dashboard")
    assert answer.status_code == 200, answer.text
    shown = [row["request_id"] for row in answer.json()["completed"]]
    with db.read() as s:
        times: dict[str, tuple[Any, Any]] = {
            str(rid): (accepted_at, ended_at)
            for rid, accepted_at, ended_at in s.execute(
                select(SessionRequest.id, SessionRequest.accepted_at, Session.ended_at)
                .join(Session, Session.id == SessionRequest.parent_session_id)
                .where(Session.status == "completed")
            )
        }
    assert set(shown) == set(times)
    ended = [times[rid][1] for rid in shown]
    assert ended == sorted(ended, reverse=True)
    accepted = [times[rid][0] for rid in shown]
    assert accepted != sorted(accepted, reverse=True), "finished in the order accepted?"


def test_incoming_pages_through_the_api_with_its_cursor(
    db: Database, customer: Person, mechanic: Person
) -> None:
    """More pending requests than a page: the second page starts where the first ended."""
    for _ in range(dashboard.PAGE_SIZE + 3):
        _request(db, customer)
    expected = [str(rid) for rid, _ in expected_tabs(db, mechanic.id)["incoming"]]
    for path, key in (
        ("/api/mechanic/requests", "requests"),
        ("/api/mechanic/dashboard/incoming", "rows"),
    ):
        first = mechanic.client.get(path)
        assert first.status_code == 200, first.text
        cursor = first.json()["next_cursor"]
        assert cursor and len(first.json()[key]) == dashboard.PAGE_SIZE
        second = mechanic.client.get(path, params={"cursor": cursor})
        assert second.status_code == 200, second.text
        assert second.json()["next_cursor"] is None
        shown = [row["request_id"] for row in first.json()[key] + second.json()[key]]
        assert shown == expected, path
