"""Two pitcrew hosts sharing one PostgreSQL and nothing else.

Each host is a real ``pitcrew serve`` process with its own port and its own MEDIA_DIR. What
one host commits reaches live pages on the other by PostgreSQL's NOTIFY (the fallback poll is
set far beyond the test's wait, so only the notification can deliver in time); an accept race
spread over both hosts has one winner per request; a photo sent through one host is served by
the other; and the expiry sweeper and the mail sender, running on both, do each job once.
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select, text

from pitcrew import auth
from pitcrew.db import Database
from pitcrew.events import Kind
from pitcrew.models import EmailOutbox, Event, Role
from tests.support.accounts import TokenAccount, account
from tests.support.databases import assert_invariants
from tests.support.factories import INTAKE, Stage, start_session
from tests.support.live import free_port, open_events, serve_in_process, wait_for
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.postgres_only

# The fallback poll of each host's event bus: far longer than any wait below, so an event
# that reaches the other host in time was carried by NOTIFY.
POLL_SECONDS = 120.0
MECHANICS = 4
REQUESTS = 12
SENDER = "pitcrew <noreply@pitcrew.test>"


@dataclass(frozen=True)
class Hosts:
    a: str
    b: str

    def each(self, index: int) -> str:
        return (self.a, self.b)[index % 2]


@contextmanager
def two_hosts(pg_url: str, folder: Path, smtp: SmtpServer | None = None) -> Iterator[Hosts]:
    """Both hosts up (each with its own MEDIA_DIR), stopped when the block ends.

    With ``smtp`` both send email there and sweep often; without, they neither send nor
    sweep (a host without SMTP_URL queues no email for the changes it makes, so it must not
    expire what the mail test's pair expires).
    """
    shared = {"EXPIRY_SWEEP_SECONDS": "3600"}
    if smtp is not None:
        shared |= {
            "EXPIRY_SWEEP_SECONDS": "0.2",
            "SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
            "SMTP_FROM": SENDER,
            "EMAIL_POLL_SECONDS": "0.2",
        }
    with (
        serve_in_process(
            pg_url,
            folder / "a.log",
            events_poll_seconds=POLL_SECONDS,
            settings={**shared, "MEDIA_DIR": str(folder / "a-media")},
        ) as (a, _),
        serve_in_process(
            pg_url,
            folder / "b.log",
            events_poll_seconds=POLL_SECONDS,
            settings={**shared, "MEDIA_DIR": str(folder / "b-media")},
        ) as (b, _),
    ):
        yield Hosts(a, b)


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def hosts(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    """One pair for the tests that only read and race (each test's rows are its own). It
    sends no email, so that the mail test's own pair is alone in sending."""
    with two_hosts(pg_url, tmp_path_factory.mktemp("hosts")) as both:
        yield both


def _intake(base: str, customer: TokenAccount) -> dict[str, str]:
    answer = httpx.post(
        f"{base}/api/intake/start", json=INTAKE, headers=customer.headers, timeout=30
    )
    assert answer.status_code == 201, answer.text
    made: dict[str, str] = answer.json()
    return made


def test_a_request_made_on_one_host_is_live_on_the_other(hosts: Hosts, pg_db: Database) -> None:
    customer, mechanic = account(pg_db, Role.CUSTOMER), account(pg_db, Role.MECHANIC)
    with open_events(hosts.b, mechanic.headers, timeout=30) as (_, stream):
        stream.ready()
        started = time.monotonic()
        made = _intake(hosts.a, customer)
        [*_, arrived] = stream.until(
            lambda m: m.kind == Kind.REQUEST_CREATED and m.data["session_id"] == made["session_id"]
        )
        waited = time.monotonic() - started
    assert arrived.data["request_id"] == made["request_id"]
    assert waited < POLL_SECONDS, "the event came by the slow poll, not by NOTIFY"
    dashboard = httpx.get(f"{hosts.b}/api/mechanic/requests", headers=mechanic.headers)
    assert made["request_id"] in {row["request_id"] for row in dashboard.json()["requests"]}


def test_an_accept_race_over_both_hosts_has_one_winner_per_request(
    hosts: Hosts, pg_db: Database
) -> None:
    customer = account(pg_db, Role.CUSTOMER)
    mechanics = [account(pg_db, Role.MECHANIC) for _ in range(MECHANICS)]
    requests = [_intake(hosts.each(i), customer)["request_id"] for i in range(REQUESTS)]
    go = threading.Barrier(MECHANICS)

    def race(index: int) -> list[tuple[str, int]]:
        mechanic = mechanics[index]
        outcomes = []
        with httpx.Client(base_url=hosts.each(index), timeout=30) as client:
            for request_id in requests:
                go.wait()
                answer = client.post(
                    "/api/mechanic/accept",
                    json={"request_id": request_id},
                    headers=mechanic.headers,
                )
                outcomes.append((request_id, answer.status_code))
        return outcomes

    with ThreadPoolExecutor(MECHANICS) as pool:
        results = [outcome for found in pool.map(race, range(MECHANICS)) for outcome in found]
    statuses = Counter(status for _, status in results)
    assert statuses == {200: REQUESTS, 409: REQUESTS * (MECHANICS - 1)}, statuses
    winners = Counter(request_id for request_id, status in results if status == 200)
    assert winners == dict.fromkeys(requests, 1)
    assert_invariants(pg_db)
    # Each winner finds the session in Active on either host.
    held = 0
    for index, mechanic in enumerate(mechanics):
        active = httpx.get(
            f"{hosts.each(index + 1)}/api/mechanic/dashboard/active", headers=mechanic.headers
        )
        assert active.status_code == 200, active.text
        held += len(active.json()["rows"])
    assert held == REQUESTS


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def test_a_photo_sent_through_one_host_is_served_by_the_other(
    hosts: Hosts, pg_db: Database
) -> None:
    customer, mechanic = account(pg_db, Role.CUSTOMER), account(pg_db, Role.MECHANIC)
    sid = start_session(pg_db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    sent = httpx.post(
        f"{hosts.a}/api/sessions/{sid}/photos",
        headers=customer.headers,
        files={"photo": ("leak.jpg", _jpeg(), "image/jpeg")},
        timeout=30,
    )
    assert sent.status_code == 201, sent.text
    photo = sent.json()["photo"]
    for url in (photo["url"], photo["thumbnail_url"]):
        here = httpx.get(f"{hosts.a}{url}", headers=mechanic.headers)
        there = httpx.get(f"{hosts.b}{url}", headers=mechanic.headers)
        assert there.status_code == 200, there.text
        assert there.headers["content-type"] == "image/jpeg"
        assert there.content == here.content


def test_the_sweeper_and_the_mail_sender_do_each_job_once_across_hosts(
    pg_url: str, pg_db: Database, tmp_path: Path
) -> None:
    """A pair of its own, stopped before counting, so that no send is still under way."""
    customers = [account(pg_db, Role.CUSTOMER) for _ in range(REQUESTS)]
    mechanic = account(pg_db, Role.MECHANIC)
    auth.set_email_notifications(pg_db, mechanic.actor, True)
    with smtp_server() as smtp, two_hosts(pg_url, tmp_path, smtp) as hosts:
        made = [_intake(hosts.each(i), c) for i, c in enumerate(customers)]
        # Every request is due at once: both hosts' sweepers find all of them.
        with pg_db.engine.begin() as c:
            c.execute(
                text("UPDATE session_requests SET created_at = created_at - interval '1 day'")
            )
        wait_for(lambda: _expiries(pg_db).total() == REQUESTS, "every request to expire", 60)
        # One "new request" email to the mechanic per request, one expiry email per customer.
        wait_for(lambda: _unsent(pg_db) == 0, "both mail senders to empty the outbox", 60)
        # Both hosts stop here, so no send is still under way: what arrived is all there is.
    assert _expiries(pg_db) == {uuid.UUID(m["request_id"]): 1 for m in made}
    ids = smtp.inbox.message_ids()
    assert len(ids) == REQUESTS * 2 and len(set(ids)) == len(ids), Counter(ids)
    assert len(smtp.inbox.to(mechanic.email)) == REQUESTS
    assert all(len(smtp.inbox.to(c.email)) == 1 for c in customers)
    assert_invariants(pg_db)


def _expiries(db: Database) -> Counter[uuid.UUID | None]:
    """How many times each request was expired, by the events written."""
    with db.read() as s:
        return Counter(
            s.scalars(select(Event.request_id).where(Event.kind == Kind.REQUEST_EXPIRED))
        )


def _unsent(db: Database) -> int:
    with db.read() as s:
        count = s.scalar(
            select(func.count()).select_from(EmailOutbox).where(EmailOutbox.sent_at.is_(None))
        )
    return int(count or 0)
