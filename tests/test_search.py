"""A mechanic finds any past session: search and filters in Completed and History.

What a search should find is worked out here in Python from the tables as stored (every
session's customer, car, issue, summary, rating and times), never with the dashboard's own
query; the dashboard's answer must be exactly those rows, in the tab's order, page by page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from pitcrew import dashboard, flow
from pitcrew.dashboard import Page, Search
from pitcrew.db import Database
from pitcrew.events import Kind
from pitcrew.models import Event, Intake, Role, Session, SessionRequest
from tests.support.factories import Person, Stage, start_session

pytestmark = pytest.mark.usefixtures("quick_passwords")

VIN = "1HGCM82633A004352"
CARS: list[dict[str, Any]] = [
    {"year": 2016, "make": "Honda", "model": "Civic", "mileage": 84000, "vin": VIN},
    {"year": 2019, "make": "Toyota", "model": "Corolla", "mileage": 42000},
    {"year": 2012, "make": "Ford", "model": "Focus", "mileage": 151000},
]
ISSUES = ["Grinding noise when braking", "Battery drains overnight", "Pulls left at 100% throttle"]
# LIKE's wildcards and its escape character, written literally: a search for them finds them
# alone (the one summary that has them, and "100" without "%" does not answer "100%").
SUMMARIES = [
    "Worn front pads",
    "Alternator diode failed: code P0_300, read as P0\\300 at 100 km/h",
    "Tracking out; realigned",
]


@dataclass
class Past:
    """A mechanic with a past: completed, cancelled and handed-back sessions of three
    customers' cars, some rated."""

    mechanic: Person
    customers: list[Person]


@pytest.fixture
def past(db: Database, make_user: Callable[..., Person]) -> Past:
    mechanic = make_user(Role.MECHANIC, name="Bea Mechanic")
    rival = make_user(Role.MECHANIC, name="Rory Rival")
    customers = [
        make_user(Role.CUSTOMER, name=name) for name in ("Dana Driver", "Olu Owner", "Kim Keys")
    ]
    # A hand-back older than every session kept: the oldest row of History.
    start_session(db, customers[2], Stage.RELEASED, mechanic=mechanic, vehicle=CARS[2])
    for n in range(9):
        who, car = customers[n % 3], n % 3
        kept = start_session(
            db,
            who,
            Stage.COMPLETED,
            mechanic=mechanic,
            summary=SUMMARIES[car],
            vehicle=CARS[car],
            issue_description=ISSUES[car],
        )
        if n % 2 == 0:
            flow.rate(db, who.actor, kept.session_id, 1 + n % 5, "")
    start_session(db, customers[0], Stage.CANCELLED, mechanic=mechanic, vehicle=CARS[0])
    start_session(db, customers[1], Stage.RELEASED, mechanic=mechanic, vehicle=CARS[1])
    # The rival's own session with the VIN: no search of Bea's finds it.
    start_session(db, customers[0], Stage.COMPLETED, mechanic=rival, vehicle=CARS[0])
    return Past(mechanic, customers)


def _stored(db: Database, mechanic_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Completed and History rows of ``mechanic_id`` as plain dicts, in each tab's order."""
    r, s, i = SessionRequest, Session, Intake
    with db.read() as db_session:
        held = db_session.execute(
            select(r.id, r.status, r.customer_name, r.accepted_at, s.status, s.ended_at)
            .add_columns(s.rating, s.summary, i.vehicle_info, i.issue_description)
            .join(s, s.id == r.parent_session_id)
            .join(i, i.id == s.intake_id)
            .where(r.mechanic_id == mechanic_id)
        ).all()
        released = db_session.execute(
            select(Event.request_id, Event.at, r.customer_name, s.summary)
            .add_columns(i.vehicle_info, i.issue_description)
            .join(r, r.id == Event.request_id)
            .join(s, s.id == r.parent_session_id)
            .join(i, i.id == s.intake_id)
            .where(Event.actor_id == mechanic_id, Event.kind == Kind.REQUEST_RELEASED)
        ).all()
    rows = [
        {
            "id": row[0],
            "status": str(row[1]),
            "text": [row[2], *_car(row[8]), row[9], row[7] or ""],
            "at": row[3],
            "session_status": str(row[4]),
            "ended_at": row[5],
            "rating": row[6],
        }
        for row in held
    ]
    rows += [
        {
            "id": row[0],
            "status": "released",
            "text": [row[2], *_car(row[4]), row[5], row[3] or ""],
            "at": row[1],
            "session_status": "pending",
            "ended_at": None,
            "rating": None,
        }
        for row in released
    ]
    completed = [row for row in rows if row["session_status"] == "completed"]
    completed.sort(key=lambda row: (row["ended_at"], row["id"]), reverse=True)
    history = [row for row in rows if row["status"] in ("accepted", "cancelled", "released")]
    history.sort(key=lambda row: (row["at"], row["id"]), reverse=True)
    return {"completed": completed, "history": history}


def _car(info: dict[str, Any]) -> list[str]:
    return [str(info.get(key, "")) for key in ("year", "make", "model", "vin")]


def _found(row: dict[str, Any], search: Search, tab: str) -> bool:
    """Whether ``row`` answers ``search``, as a person reading it would decide."""
    texts = [text.lower() for text in row["text"]]
    if not all(any(word.lower() in text for text in texts) for word in search.words):
        return False
    day = (row["ended_at"] if tab == "completed" else row["at"]).astimezone(UTC).date()
    if (search.since and day < search.since) or (search.until and day > search.until):
        return False
    if search.rating is not None and row["rating"] != search.rating:
        return False
    return search.status is None or row["status"] == search.status


def _expected(db: Database, past: Past, tab: str, search: Search) -> list[uuid.UUID]:
    return [row["id"] for row in _stored(db, past.mechanic.id)[tab] if _found(row, search, tab)]


def _paged(db: Database, past: Past, tab: str, search: Search, size: int = 2) -> list[uuid.UUID]:
    """Every page of the search, following its cursors; every page but the last is full."""
    found: list[uuid.UUID] = []
    cursor: str | None = None
    with db.read() as s:
        for _ in range(30):
            page: Page = dashboard.tab_page(s, past.mechanic.id, tab, cursor, search, limit=size)
            found += [row["request_id"] for row in page.rows]
            if page.next_cursor is None:
                return found
            assert len(page.rows) == size, "a page before the last is not full"
            cursor = page.next_cursor
    raise AssertionError("the cursor of a searched page does not move on")


SEARCHES = {
    "vin": Search.of(VIN),
    "vin-lower-case": Search.of(VIN.lower()),
    "customer": Search.of("dana"),
    "car": Search.of("2019 corolla"),
    "issue-words": Search.of("drains BATTERY"),
    "summary": Search.of("realigned"),
    "percent-is-literal": Search.of("100%"),
    "underscore-is-literal": Search.of("_"),
    "underscore-in-a-word": Search.of("p0_3"),
    "backslash-is-literal": Search.of("p0\\3"),
    "rating": Search.of(rating=1),
    "car-and-rating": Search.of("civic", rating=1),
    "nothing-matches": Search.of("Lamborghini"),
}


def test_each_search_finds_exactly_the_matching_sessions_page_by_page(
    db: Database, past: Past
) -> None:
    for tab in ("completed", "history"):
        for name, search in SEARCHES.items():
            expected = _expected(db, past, tab, search)
            if name != "nothing-matches":
                assert expected, f"{name}: the past holds sessions this search must find"
            else:
                assert expected == [], name
            assert _paged(db, past, tab, search) == expected, f"{tab}, {name}"


@pytest.mark.parametrize(
    ("walk", "longest", "waste", "taken", "never"),
    [
        (3, 3, 4, {"the walk filled it", "the index"}, {"a second walk"}),
        (2, 100, 1, {"a second walk", "the walk filled it", "the index"}, set()),
        (50, 400, 4, {"the walk held every row"}, {"the index", "a second walk"}),
    ],
)
def test_a_search_over_the_newest_rows_first_finds_the_same_pages(
    db: Database,
    past: Past,
    walk: int,
    longest: int,
    waste: int,
    taken: set[str],
    never: set[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a walk of three rows and no second one, a search's pages come from the walk when
    it fills a page, else from all rows; with a walk of two and room for a second, longer one,
    also from that second walk when the first found some but too few; with a walk longer than
    the tab, from the walk alone: each way gives the rows a person reading the tab would pick,
    each once, newest first, page after page."""
    monkeypatch.setattr(dashboard, "SEARCH_WALK", walk)
    monkeypatch.setattr(dashboard, "SEARCH_WALK_LONGEST", longest)
    monkeypatch.setattr(dashboard, "INDEX_WASTE", waste)
    searched, walk_once = dashboard._searched, dashboard._walk
    ways: set[str] = set()
    walks: list[tuple[int, int, dashboard.Walked]] = []

    def walked(s: Any, rows: Any, search: Search, length: int, wanted: int) -> Any:
        walks.append((length, wanted, walk_once(s, rows, search, length, wanted)))
        return walks[-1][2]

    def watched(s: Any, *args: Any, **kwargs: Any) -> dashboard.Among:
        walks.clear()
        among = searched(s, *args, **kwargs)
        if len(walks) > 1:
            ways.add("a second walk")
        length, wanted, last = walks[-1]
        if len(last.matches) == wanted:
            ways.add("the walk filled it")
        elif last.rows < length:
            ways.add("the walk held every row")
        else:
            ways.add("the index")
        return among

    monkeypatch.setattr(dashboard, "_walk", walked)
    monkeypatch.setattr(dashboard, "_searched", watched)
    searches = {
        **SEARCHES,
        "a-letter-in-every-name": Search.of("r"),
        "history-status-and-words": Search.of("civic", status="accepted"),
        "a-common-word-and-a-rarer-one": Search.of("ver realigned"),
    }
    for tab in ("completed", "history"):
        for name, search in searches.items():
            if tab == "completed" and search.status:
                continue
            expected = _expected(db, past, tab, search)
            assert _paged(db, past, tab, search) == expected, f"{tab}, {name}, walk of {walk}"
    assert taken <= ways and not never & ways, ways


def test_history_filters_by_status_and_completed_refuses_it(db: Database, past: Past) -> None:
    for status, count in (("accepted", 9), ("cancelled", 1), ("released", 2)):
        search = Search.of(status=status)
        found = _paged(db, past, "history", search)
        assert found == _expected(db, past, "history", search)
        assert len(found) == count, status
    answer = past.mechanic.client.get(
        "/api/mechanic/dashboard/completed", params={"status": "cancelled"}
    )
    assert answer.status_code == 422
    assert "History" in answer.json()["error"]["message"]


def test_a_date_range_takes_whole_days_both_included(db: Database, past: Past) -> None:
    today = datetime.now(UTC).date()
    everything = _expected(db, past, "completed", Search())
    assert _paged(db, past, "completed", Search.of(since=today, until=today)) == everything
    assert _paged(db, past, "completed", Search.of(until=today - timedelta(days=1))) == []
    assert _paged(db, past, "history", Search.of(since=today + timedelta(days=1))) == []


def test_the_api_searches_with_query_parameters(db: Database, past: Past) -> None:
    client = past.mechanic.client
    answer = client.get("/api/mechanic/dashboard/history", params={"q": VIN})
    assert answer.status_code == 200, answer.text
    rows = answer.json()["rows"]
    assert [uuid.UUID(row["request_id"]) for row in rows] == _expected(
        db, past, "history", Search.of(VIN)
    )
    assert {row["customer_name"] for row in rows} == {"Dana Driver"}
    today = date.today().isoformat()
    rated = client.get("/api/mechanic/dashboard/completed", params={"rating": "1", "since": today})
    assert rated.status_code == 200, rated.text
    assert {row["rating"] for row in rated.json()["rows"]} == {1}


@pytest.mark.parametrize(
    ("tab", "params", "words"),
    [
        ("incoming", {"q": "civic"}, "Search works in Completed and History"),
        ("active", {"rating": "5"}, "Search works in Completed and History"),
        ("completed", {"since": "2026-05-02", "until": "2026-05-01"}, "before its start"),
        ("history", {"rating": "6"}, "rating"),
        ("history", {"since": "yesterday"}, "since"),
        ("history", {"status": "lost"}, "status"),
        ("history", {"q": "x" * 201}, "Keep the search to 200 characters"),
    ],
)
def test_a_search_it_cannot_run_is_refused_in_words(
    past: Past, tab: str, params: dict[str, str], words: str
) -> None:
    answer = past.mechanic.client.get(f"/api/mechanic/dashboard/{tab}", params=params)
    assert answer.status_code == 422, answer.text
    assert words in answer.text


def test_search_is_documented_in_the_openapi(past: Past) -> None:
    spec = past.mechanic.client.get("/openapi.json").json()
    operation = spec["paths"]["/api/mechanic/dashboard/{tab}"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"q", "since", "until", "rating", "status", "cursor"} <= names
