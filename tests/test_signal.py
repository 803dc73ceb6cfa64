"""Video call signalling: only the two parties of a live video session, only to each other."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from pitcrew import call
from pitcrew.config import IceServer, Settings
from pitcrew.db import Database
from pitcrew.models import Event, Role
from tests.support.factories import Person, Stage, create_account, start_session
from tests.support.live import Message
from tests.support.room import listen

pytestmark = pytest.mark.usefixtures("quick_passwords")

OFFER = {"kind": "offer", "call_id": "call-0001", "data": {"type": "offer", "sdp": "v=0\r\n"}}
TURN = {"urls": ["turn:turn.example.org:3478"], "username": "pit", "credential": "s3cret"}


@pytest.fixture
def settings(db: Database) -> Settings:
    return Settings(
        database_url=db.url if isinstance(db.url, str) else str(db.url),
        ice_servers=[IceServer.model_validate(TURN)],
    )


def _signals(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).where(Event.kind == "call.signal")) or 0)


def _send(person: Person, sid: str, body: dict[str, Any] = OFFER) -> Any:
    return person.client.post(f"/api/sessions/{sid}/signal", json=body)


def test_signal_reaches_the_other_party_and_nobody_else(
    db: Database,
    live: str,
    customer: Person,
    mechanic: Person,
    make_user: Callable[..., Person],
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="video").sid
    other_mechanic = make_user(Role.MECHANIC)
    other_customer = make_user(Role.CUSTOMER)

    def is_signal(m: Message) -> bool:
        return m.kind == "call.signal"

    with (
        listen(live, customer) as at_customer,
        listen(live, mechanic) as at_mechanic,
        listen(live, other_mechanic) as at_other_mechanic,
        listen(live, other_customer) as at_other_customer,
    ):
        assert _send(customer, sid).status_code == 204
        answer = {"kind": "answer", "call_id": "call-0001", "data": {"sdp": "v=0 answer"}}
        assert _send(mechanic, sid, answer).status_code == 204

        offers = [m for m in at_mechanic.until(is_signal) if is_signal(m)]
        assert [m.data["signal"] for m in offers] == ["offer"]
        offer = offers[0]
        assert offer.data["call_id"] == "call-0001" and offer.data["data"]["sdp"] == "v=0\r\n"
        assert offer.data["from_role"] == "customer" and offer.data["session_id"] == sid
        # The offer was recorded before the answer: had the customer been sent its own
        # offer, it would come first here.
        got = at_customer.until(is_signal)
        assert [m.data["signal"] for m in got if is_signal(m)] == ["answer"]
        assert got[-1].data["from_role"] == "mechanic"

        # Markers each reader does see: everything recorded before them was delivered first.
        mechanic.client.post(f"/api/sessions/{sid}/messages", json={"body": "Can you see me?"})
        for reader in (at_customer, at_mechanic):  # the mechanic's own answer never comes back
            seen = reader.until(lambda m: m.kind == "message.created")
            assert not [m for m in seen if is_signal(m)]
        start_session(db, other_customer, session_type="chat")
        for reader in (at_other_mechanic, at_other_customer):
            seen = reader.until(lambda m: m.kind == "request.created")
            assert not [m for m in seen if is_signal(m) or m.data.get("session_id") == sid]


def test_a_claim_reaches_the_senders_own_pages_and_tabs_are_passed_on(
    db: Database, live: str, customer: Person, mechanic: Person
) -> None:
    """One call per party: the page that takes the call tells the party's other pages."""
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="video").sid

    def is_signal(m: Message) -> bool:
        return m.kind == "call.signal"

    def is_note(m: Message) -> bool:
        return m.kind == "message.created"

    claim = {"kind": "claim", "call_id": "call-0002", "tab": "tab-customer-2"}
    ready = {**claim, "kind": "ready", "to": "tab-mechanic-1"}
    with listen(live, customer) as at_customer, listen(live, mechanic) as at_mechanic:
        assert _send(customer, sid, claim).status_code == 204
        assert _send(customer, sid, ready).status_code == 204
        customer.client.post(f"/api/sessions/{sid}/messages", json={"body": "Over to you"})
        mine = [m.data for m in at_customer.until(is_note) if is_signal(m)]
        theirs = [m.data for m in at_mechanic.until(is_note) if is_signal(m)]
    assert [(m["signal"], m["tab"], m["to"]) for m in mine] == [("claim", "tab-customer-2", None)]
    assert [(m["signal"], m["tab"], m["to"]) for m in theirs] == [
        ("ready", "tab-customer-2", "tab-mechanic-1")
    ]
    bad_tab = _send(customer, sid, {**claim, "tab": "a tab"})
    assert bad_tab.status_code == 422, bad_tab.text


def test_outsiders_cannot_signal(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="video").sid
    for outsider in (
        make_user(Role.MECHANIC),
        make_user(Role.CUSTOMER),
        make_user(Role.ADMIN),
    ):
        answer = _send(outsider, sid)
        assert answer.status_code in (403, 404), answer.text
        assert answer.json()["error"]["code"]
    unknown = _send(customer, "00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404
    anonymous = customer.client.post(
        f"/api/sessions/{sid}/signal", json=OFFER, headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401
    assert _signals(db) == 0


def test_no_signal_before_join_or_after_the_session_ends(
    db: Database, customer: Person, mechanic: Person
) -> None:
    sid, rid = start_session(db, customer, session_type="video").ids
    assert _send(customer, sid).status_code == 409  # pending: nobody to call
    mechanic.client.post("/api/mechanic/accept", json={"request_id": rid})
    for person in (customer, mechanic):
        refused = _send(person, sid)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "call_closed"
        assert refused.json()["error"]["message"] == (
            "No call now: this session is accepted and waiting for the mechanic to join."
            " Calls run while it is live."
        )
    mechanic.client.post(f"/api/sessions/{sid}/join")
    assert _send(customer, sid).status_code == 204
    done = mechanic.client.post(f"/api/sessions/{sid}/complete", json={"summary": "Pads."})
    assert done.status_code == 200
    for person in (customer, mechanic):
        assert _send(person, sid).status_code == 409
    cancelled = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="video").sid
    customer.client.post(f"/api/sessions/{cancelled}/cancel", json={"reason": "Sorted"})
    assert _send(mechanic, cancelled).status_code == 409
    assert _signals(db) == 1


def test_chat_sessions_have_no_call(db: Database, customer: Person, mechanic: Person) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    refused = _send(customer, sid)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_video"
    assert refused.json()["error"]["message"] == (
        "This is a chat session; calls are for video sessions."
    )
    assert _signals(db) == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({**OFFER, "data": {"sdp": "x" * 40_000}}, 413),
        ({**OFFER, "data": {"type": "offer"}}, 422),  # an offer without its SDP
        ({"kind": "ice", "call_id": "call-0001", "data": {"candidates": "all"}}, 422),
        ({**OFFER, "call_id": "no spaces allowed"}, 422),
        ({**OFFER, "kind": "dial"}, 422),
        ({**OFFER, "extra": 1}, 422),
    ],
)
def test_signals_are_small_and_well_formed(
    db: Database, customer: Person, mechanic: Person, body: dict[str, Any], status: int
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="video").sid
    answer = _send(customer, sid, body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["message"]
    assert _signals(db) == 0


def test_signals_stay_out_of_the_timeline(db: Database, customer: Person, mechanic: Person) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="video").sid
    ice = {"kind": "ice", "call_id": "call-0001", "data": {"candidates": [{"candidate": ""}]}}
    for body in (OFFER, ice, {"kind": "hangup", "call_id": "call-0001"}):
        assert _send(customer, sid, body).status_code == 204
    kinds = [e["kind"] for e in customer.client.get(f"/api/sessions/{sid}/timeline").json()]
    assert "call.signal" not in kinds and "session.updated" in kinds
    assert _signals(db) == 3


def test_call_setup_gives_ice_servers_to_the_parties_only(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    sid, rid = start_session(db, customer, session_type="video").ids
    mechanic.client.post("/api/mechanic/accept", json={"request_id": rid})
    for person, role in ((customer, "customer"), (mechanic, "mechanic")):
        setup = person.client.get(f"/api/sessions/{sid}/call")
        assert setup.status_code == 200, setup.text
        body = setup.json()
        assert body["role"] == role and body["session_type"] == "video"
        assert body["session_status"] == "waiting"
        assert body["ice_servers"] == [TURN]
    for outsider in (make_user(Role.MECHANIC), make_user(Role.CUSTOMER)):
        assert outsider.client.get(f"/api/sessions/{sid}/call").status_code == 404


def _offer_of_size(size: int) -> dict[str, Any]:
    """An offer whose data is ``size`` bytes of compact JSON, as the limit counts it."""
    data = {"sdp": ""}
    data["sdp"] = "x" * (size - len(json.dumps(data, separators=(",", ":"))))
    return {**OFFER, "data": data}


def test_a_signal_up_to_the_limit_is_passed_on_and_one_byte_more_is_refused(
    db: Database, customer: Person, mechanic: Person
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="video").sid
    limit = customer.client.get(f"/api/sessions/{sid}/call").json()["max_signal_bytes"]
    assert limit == 32 * 1024  # what the browser is told is what the server holds to
    assert _send(customer, sid, _offer_of_size(limit)).status_code == 204
    over = _send(customer, sid, _offer_of_size(limit + 1))
    assert over.status_code == 413, over.text
    error = over.json()["error"]
    assert (error["code"], error["message"]) == (
        "signal_too_large",
        "A call signal can be at most 32 KiB.",
    )
    with db.read() as r:  # the one signal passed on is recorded as the customer's
        assert r.scalars(select(Event.actor_id).where(Event.kind == "call.signal")).all() == [
            customer.id
        ]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**OFFER, "data": {"type": "offer"}}, "An offer signal needs data.sdp."),
        ({**OFFER, "kind": "answer", "data": {}}, "An answer signal needs data.sdp."),
        (
            {**OFFER, "kind": "ice", "data": {"candidates": {}}},
            "An ice signal needs data.candidates.",
        ),
    ],
)
def test_a_signal_without_what_its_kind_needs_says_what_is_missing(
    db: Database, customer: Person, mechanic: Person, body: dict[str, Any], words: str
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="video").sid
    refused = _send(customer, sid, body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_signal"
    assert refused.json()["error"]["message"] == words
    assert _signals(db) == 0


def test_a_server_without_credentials_is_given_as_just_its_address(db: Database) -> None:
    """A browser refuses an ICE server with an empty username, so none is sent."""
    customer = create_account(db, Role.CUSTOMER)
    sid = start_session(db, customer, session_type="video").session_id
    stun = Settings(
        database_url=db.url if isinstance(db.url, str) else str(db.url),
        ice_servers=[IceServer.model_validate({"urls": "stun:stun.example.org:3478"})],
    )
    setup = call.setup(db, customer.actor, sid, stun)
    assert setup.ice_servers == [{"urls": "stun:stun.example.org:3478"}]
