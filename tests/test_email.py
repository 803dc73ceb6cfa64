"""Email through a real SMTP server (aiosmtpd on a loopback port): what arrives, for whom,
and that nothing is lost or doubled when the server is away or the sender restarts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiosmtplib
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from pitcrew import auth, flow
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.mailer import Mailer, SmtpTarget, build_message, message_id
from pitcrew.models import EmailOutbox, Role
from pitcrew.schemas import IntakeIn
from tests.support.factories import INTAKE, Person
from tests.support.smtp import SmtpServer

SENDER = "pitcrew <noreply@pitcrew.test>"
DEADLINE = 20.0


@pytest.fixture
def settings(db: Database, smtp: SmtpServer) -> Settings:
    return Settings(
        database_url=db.url,
        smtp_url=f"smtp://127.0.0.1:{smtp.port}",
        smtp_from=SENDER,
        email_poll_seconds=0.05,
    )


def wait_until(check: Callable[[], Any], what: str, seconds: float = DEADLINE) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _outbox(db: Database) -> list[EmailOutbox]:
    with db.read() as s:
        return list(s.scalars(select(EmailOutbox).order_by(EmailOutbox.created_at)))


def _opt_in(mechanic: Person, enabled: bool = True) -> None:
    answer = mechanic.client.post("/api/me/email-notifications", json={"enabled": enabled})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"enabled": enabled, "available": True}


# --- what arrives, for whom ------------------------------------------------------------------


def test_new_requests_and_the_customers_key_moments_arrive(
    db: Database, app: FastAPI, smtp: SmtpServer, make_user: Callable[..., Person]
) -> None:
    smtp.start()
    customer = make_user(Role.CUSTOMER, name="Casey <Driver> & Co")
    mechanic = make_user(Role.MECHANIC, name="Bea Mechanic")
    silent = make_user(Role.MECHANIC)  # on duty, not opted in
    away = make_user(Role.MECHANIC, on_duty=False)  # opted in, off duty
    _opt_in(mechanic)
    _opt_in(away)
    intake = dict(INTAKE, issue_description="Grinding <script>alert(1)</script> when braking")
    with TestClient(app):  # runs the server's services, the email sender among them
        started = customer.client.post("/api/intake/start", json=intake).json()
        sid, rid = started["session_id"], started["request_id"]
        [offer] = wait_until(lambda: smtp.inbox.to(mechanic.email), "the new-request email")
        assert offer.to == [mechanic.email]
        assert offer.subject == "New request: 2016 Honda Civic · Casey <Driver> & Co"
        text, html = offer.part("plain"), offer.part("html")
        assert "Grinding <script>alert(1)</script> when braking" in text
        assert "2016 Honda Civic, 84000 miles" in text
        assert "<script>" not in html
        assert "Grinding &lt;script&gt;alert(1)&lt;/script&gt; when braking" in html
        assert "Casey &lt;Driver&gt; &amp; Co" in html

        steps: list[Callable[[], Response]] = [
            lambda: mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}),
            lambda: mechanic.client.post(f"/api/sessions/{sid}/join"),
            lambda: mechanic.client.post(
                f"/api/sessions/{sid}/complete", json={"summary": "Front pads <2mm>."}
            ),
        ]
        for step in steps:
            assert step().status_code == 200
        told = wait_until(
            lambda: (got := smtp.inbox.to(customer.email)) and len(got) >= 3 and got,
            "three emails to the customer",
        )
        assert [r.subject for r in told] == [
            "Bea Mechanic accepted your request",
            "Bea Mechanic joined: your session is live",
            "Your session is complete",
        ]
        assert "Front pads <2mm>." in told[2].part("plain")
        assert "Front pads &lt;2mm&gt;." in told[2].part("html")
        assert all(r.to == [customer.email] for r in told)
        assert all(r.message["From"] == SENDER for r in told)
    assert smtp.inbox.to(silent.email) == [] and smtp.inbox.to(away.email) == []
    assert len(smtp.inbox.snapshot()) == 4
    assert all(row.sent_at is not None and row.attempts == 1 for row in _outbox(db))


def test_expiry_and_a_cancel_by_the_mechanic_are_emailed_to_the_customer(
    db: Database, app: FastAPI, smtp: SmtpServer, customer: Person, mechanic: Person
) -> None:
    smtp.start()
    with TestClient(app):
        first = customer.client.post("/api/intake/start", json=INTAKE).json()
        second = customer.client.post("/api/intake/start", json=INTAKE).json()
        accepted = mechanic.client.post(
            "/api/mechanic/accept", json={"request_id": second["request_id"]}
        )
        assert accepted.status_code == 200
        cancelled = mechanic.client.post(
            f"/api/sessions/{second['session_id']}/cancel", json={"reason": "No <parts>"}
        )
        assert cancelled.status_code == 200
        assert flow.expire_due(db, timedelta(0)) == 1  # the first, still pending
        told = wait_until(
            lambda: (got := smtp.inbox.to(customer.email)) and len(got) >= 3 and got,
            "three emails to the customer",
        )
    subjects = sorted(r.subject for r in told)
    assert subjects == [
        "Bea Mechanic accepted your request",
        "No mechanic was free in time",
        "The mechanic cancelled the session",
    ]
    cancel = next(r for r in told if r.subject.startswith("The mechanic"))
    assert "Reason given: No <parts>" in cancel.part("plain")
    assert "No &lt;parts&gt;" in cancel.part("html")
    expired = next(r for r in told if r.subject.startswith("No mechanic"))
    assert "Request again" in expired.part("plain")
    detail = customer.client.get(f"/api/sessions/{first['session_id']}").json()
    assert detail["request"]["status"] == "expired"


def test_a_hand_back_is_emailed_to_opted_in_mechanics_as_open_again(
    db: Database,
    app: FastAPI,
    smtp: SmtpServer,
    customer: Person,
    mechanic: Person,
    make_user: Callable[..., Person],
) -> None:
    smtp.start()
    other = make_user(Role.MECHANIC, name="Al Other")
    _opt_in(mechanic)
    _opt_in(other)
    with TestClient(app):
        started = customer.client.post("/api/intake/start", json=INTAKE).json()
        sid, rid = started["session_id"], started["request_id"]
        assert mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}).is_success
        assert mechanic.client.post(f"/api/sessions/{sid}/release").is_success
        told = wait_until(
            lambda: (got := smtp.inbox.to(other.email)) and len(got) >= 2 and got,
            "the new-request and open-again emails",
        )
    assert [r.subject for r in told] == [
        "New request: 2016 Honda Civic · Casey Driver",
        "Open again: 2016 Honda Civic · Casey Driver",
    ]
    assert "the mechanic who took it handed it back" in told[1].part("plain")
    releaser = [r.subject for r in smtp.inbox.to(mechanic.email)]
    assert releaser == ["New request: 2016 Honda Civic · Casey Driver"], (
        "nobody is emailed about their own act"
    )


def test_without_smtp_url_no_email_is_queued(
    db: Database, customer: Person, mechanic: Person
) -> None:
    from pitcrew.web.app import create_app

    auth.set_email_notifications(db, mechanic.actor, True)
    plain = create_app(Settings(database_url=db.url), db)
    with TestClient(plain) as client:
        assert client.get("/healthz").status_code == 200
        flow.start_intake(db, customer.actor, IntakeIn.model_validate(INTAKE))
    assert [n["title"] for n in mechanic.client.get("/api/notifications").json()["notifications"]]
    assert _outbox(db) == []


# --- nothing lost, nothing doubled -------------------------------------------------------------


def test_smtp_down_loses_nothing_and_sends_each_once_when_back(
    db: Database, app: FastAPI, smtp: SmtpServer, customer: Person, mechanic: Person
) -> None:
    _opt_in(mechanic)
    with TestClient(app):
        started = [customer.client.post("/api/intake/start", json=INTAKE).json() for _ in range(3)]
        for one in started:
            answer = mechanic.client.post(
                "/api/mechanic/accept", json={"request_id": one["request_id"]}
            )
            assert answer.status_code == 200
        # 3 new-request emails to the mechanic, 3 "accepted" to the customer: all fail.
        rows = wait_until(
            lambda: (
                (rows := _outbox(db))
                and len(rows) == 6
                and all(r.attempts >= 1 and r.last_error for r in rows)
                and rows
            ),
            "every email to be tried once while the server is down",
        )
        assert all(r.sent_at is None for r in rows)
        assert all(r.next_attempt_at is not None for r in rows), "nothing is given up"

        smtp.start()
        wait_until(lambda: len(smtp.inbox.snapshot()) >= 6, "the emails after the server is back")
        wait_until(lambda: all(r.sent_at for r in _outbox(db)), "every row marked sent")
    ids = smtp.inbox.message_ids()
    assert sorted(ids) == sorted(message_id(r.id, SENDER) for r in _outbox(db))
    assert len(smtp.inbox.to(mechanic.email)) == 3
    assert len(smtp.inbox.to(customer.email)) == 3

    # A restart: a new sender finds nothing to resend, and sends only what is new.
    with TestClient(app):
        fresh = customer.client.post("/api/intake/start", json=INTAKE).json()
        wait_until(lambda: len(smtp.inbox.snapshot()) >= 7, "the email after the restart")
    received = smtp.inbox.message_ids()
    assert len(received) == len(set(received)) == 7
    last = smtp.inbox.snapshot()[-1]
    assert last.to == [mechanic.email] and fresh["request_id"]


def _queue(db: Database, customer: Person, count: int) -> None:
    """``count`` new-request emails in the outbox, written as the server writes them."""
    db.email_enabled = True  # as in a server with SMTP_URL
    for _ in range(count):
        flow.start_intake(db, customer.actor, IntakeIn.model_validate(INTAKE))


def test_a_crash_between_send_and_mark_resends_with_the_same_message_id(
    db: Database, smtp: SmtpServer, customer: Person, mechanic: Person
) -> None:
    smtp.start()
    auth.set_email_notifications(db, mechanic.actor, True)
    _queue(db, customer, 1)
    target = SmtpTarget.from_url(f"smtp://127.0.0.1:{smtp.port}")
    lease = timedelta(seconds=0.3)
    crashed = Mailer(db, target, SENDER, lease=lease)
    row = crashed.claim()
    assert row is not None

    async def send_without_marking() -> None:
        await aiosmtplib.send(build_message(row, SENDER), hostname="127.0.0.1", port=smtp.port)

    asyncio.run(send_without_marking())  # ... and the process dies here.

    survivor = Mailer(db, target, SENDER, lease=lease)
    assert asyncio.run(survivor.send_due()) == 0, "a claimed row is left alone during its lease"
    assert wait_until(lambda: asyncio.run(survivor.send_due()), "the lease to run out") == 1
    first, again = smtp.inbox.snapshot()
    assert first.message["Message-ID"] == again.message["Message-ID"] == message_id(row.id, SENDER)
    [stored] = _outbox(db)
    assert stored.sent_at is not None and stored.attempts == 2
    assert asyncio.run(survivor.send_due()) == 0


def test_a_permanent_refusal_is_given_up_and_the_rest_still_go(
    db: Database, smtp: SmtpServer, customer: Person, make_user: Callable[..., Person]
) -> None:
    smtp.start()
    gone, fine = make_user(Role.MECHANIC), make_user(Role.MECHANIC)
    for mechanic in (gone, fine):
        auth.set_email_notifications(db, mechanic.actor, True)
    smtp.inbox.refuse.add(gone.email)
    _queue(db, customer, 2)
    mailer = Mailer(db, SmtpTarget.from_url(f"smtp://127.0.0.1:{smtp.port}"), SENDER)
    assert asyncio.run(mailer.send_due()) == 2
    assert len(smtp.inbox.to(fine.email)) == 2 and smtp.inbox.to(gone.email) == []
    refused = [r for r in _outbox(db) if r.to_address == gone.email]
    assert len(refused) == 2
    assert all(r.sent_at is None and r.next_attempt_at is None for r in refused)
    assert all("550" in (r.last_error or "") for r in refused)
    assert asyncio.run(mailer.send_due()) == 0


@pytest.mark.postgres_only
def test_pg_two_senders_share_the_outbox_without_sending_twice(
    pg_db: Database, smtp: SmtpServer
) -> None:
    from pitcrew import auth

    smtp.start()
    customer = auth.create_user(
        pg_db, email="c@example.com", name="C", role=Role.CUSTOMER, password=None
    )
    mechanic = auth.create_user(
        pg_db, email="m@example.com", name="M", role=Role.MECHANIC, password=None, on_duty=True
    )
    auth.set_email_notifications(pg_db, auth.actor_of(mechanic), True)
    pg_db.email_enabled = True
    for _ in range(30):
        flow.start_intake(pg_db, auth.actor_of(customer), IntakeIn.model_validate(INTAKE))
    target = SmtpTarget.from_url(f"smtp://127.0.0.1:{smtp.port}")

    async def both() -> list[int]:
        senders = [Mailer(pg_db, target, SENDER) for _ in range(2)]
        return list(await asyncio.gather(*(m.send_due() for m in senders)))

    counts = asyncio.run(both())
    assert sum(counts) == 30
    ids = smtp.inbox.message_ids()
    assert len(ids) == len(set(ids)) == 30


# --- settings and the opt-in --------------------------------------------------------------------


def test_opt_in_is_a_mechanics_setting(db: Database, customer: Person, mechanic: Person) -> None:
    assert mechanic.client.get("/api/me/email-notifications").json() == {
        "enabled": False,
        "available": True,
    }
    _opt_in(mechanic)
    assert mechanic.client.get("/api/auth/me").json()["notify_by_email"] is True
    _opt_in(mechanic, False)
    assert mechanic.client.get("/api/me/email-notifications").json()["enabled"] is False
    refused = customer.client.post("/api/me/email-notifications", json={"enabled": True})
    assert refused.status_code == 403
    bad = mechanic.client.post("/api/me/email-notifications", json={"enabled": "maybe"})
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example:2525", SmtpTarget("mail.example", 2525)),
        ("smtp://mail.example", SmtpTarget("mail.example", 25)),
        (
            "smtp://user%40x:p%2Fw@mail.example?starttls=1",
            SmtpTarget("mail.example", 587, "user@x", "p/w", start_tls=True),
        ),
        ("smtps://u:pw@mail.example", SmtpTarget("mail.example", 465, "u", "pw", use_tls=True)),
    ],
)
def test_smtp_url_forms(url: str, expected: SmtpTarget) -> None:
    assert SmtpTarget.from_url(url) == expected


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "smtps://h?starttls=1"])
def test_bad_smtp_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="SMTP_URL"):
        SmtpTarget.from_url(url)
