"""Email really sent with a login, over STARTTLS and over SMTPS, and a wrong password.

A real SMTP server (aiosmtpd on loopback) with a self-signed certificate that the sender is
made to trust the way an operator would (``SSL_CERT_FILE``), so the certificate is verified
as in production, not switched off. A wrong password is the operator's mistake, not the
message's: the email waits, with the server's answer kept, and goes once the login is right.
"""

from __future__ import annotations

import asyncio
import email
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email import policy
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy import select

from pitcrew import auth, flow
from pitcrew.db import Database
from pitcrew.mailer import Mailer, SmtpTarget
from pitcrew.models import EmailOutbox, utcnow
from pitcrew.schemas import IntakeIn
from tests.support.factories import INTAKE, Person
from tests.support.live import free_port

SENDER = "pitcrew <noreply@pitcrew.test>"
USER, PASSWORD = "pitcrew-mailer", "s3cret p@ss/word"


@dataclass
class Delivery:
    to: list[str]
    subject: str
    login: str | None
    encrypted: bool


class Mailbox:
    """Accepts mail only from the right login; says whether each came over TLS."""

    def __init__(self) -> None:
        self.delivered: list[Delivery] = []
        self.refused_logins = 0
        self._lock = threading.Lock()

    def authenticate(
        self,
        server: SMTPServer,
        session: SMTPSession,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        if (auth_data.login, auth_data.password) == (USER.encode(), PASSWORD.encode()):
            return AuthResult(success=True, auth_data=auth_data)
        with self._lock:
            self.refused_logins += 1
        return AuthResult(success=False, handled=False)

    async def handle_DATA(
        self, server: SMTPServer, session: SMTPSession, envelope: Envelope
    ) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(content, policy=policy.default)
        login = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode()
        encrypted = server.transport is not None and (
            server.transport.get_extra_info("ssl_object") is not None or session.ssl is not None
        )
        with self._lock:
            self.delivered.append(
                Delivery(list(envelope.rcpt_tos), str(message["Subject"]), login, encrypted)
            )
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made with openssl for this run only."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return Certificate(cert, key)


@pytest.fixture
def trusted(certificate: Certificate, monkeypatch: pytest.MonkeyPatch) -> Certificate:
    """The sender trusts the certificate as it would a real one: through the system store."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    return certificate


Serve = Callable[..., tuple[Mailbox, int]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    controllers: list[Controller] = []

    def start(**options: Any) -> tuple[Mailbox, int]:
        mailbox, port = Mailbox(), free_port()
        controller = Controller(
            mailbox,
            hostname="127.0.0.1",
            port=port,
            authenticator=mailbox.authenticate,
            auth_required=True,
            **options,
        )
        controller.start()
        controllers.append(controller)
        return mailbox, port

    yield start
    for controller in controllers:
        controller.stop()


def _queue_one(db: Database, customer: Person, mechanic: Person) -> None:
    """A new-request email to the mechanic, written as the server writes it."""
    auth.set_email_notifications(db, mechanic.actor, True)
    db.email_enabled = True
    try:
        flow.start_intake(db, customer.actor, IntakeIn.model_validate(INTAKE))
    finally:
        db.email_enabled = False


def _outbox(db: Database) -> list[EmailOutbox]:
    with db.read() as s:
        return list(s.scalars(select(EmailOutbox)))


def _url(scheme: str, port: int, password: str = PASSWORD, query: str = "") -> str:
    return f"{scheme}://{USER}:{quote(password, safe='')}@127.0.0.1:{port}{query}"


@pytest.mark.parametrize("way", ["login", "starttls", "smtps"])
def test_email_is_sent_with_a_login_over_each_kind_of_connection(
    db: Database,
    customer: Person,
    mechanic: Person,
    serve: Serve,
    trusted: Certificate,
    way: str,
) -> None:
    if way == "login":  # plain SMTP on a trusted network: the login alone
        mailbox, port = serve(auth_require_tls=False)
        url = _url("smtp", port)
    elif way == "starttls":  # the server insists on the upgrade before anything else
        mailbox, port = serve(tls_context=trusted.server_context(), require_starttls=True)
        url = _url("smtp", port, query="?starttls=1")
    else:  # aiosmtpd cannot tell its own implicit TLS apart, so it is told AUTH is fine
        mailbox, port = serve(ssl_context=trusted.server_context(), auth_require_tls=False)
        url = _url("smtps", port)
    _queue_one(db, customer, mechanic)
    mailer = Mailer(db, SmtpTarget.from_url(url), SENDER)
    assert asyncio.run(mailer.send_due()) == 1, [r.last_error for r in _outbox(db)]
    (delivery,) = mailbox.delivered
    assert delivery.to == [mechanic.email] and delivery.subject.startswith("New request")
    assert delivery.login == USER
    assert delivery.encrypted is (way != "login")
    (row,) = _outbox(db)
    assert row.sent_at is not None and row.last_error is None


def test_a_wrong_password_keeps_the_email_until_the_login_is_right(
    db: Database,
    customer: Person,
    mechanic: Person,
    serve: Serve,
    trusted: Certificate,
) -> None:
    mailbox, port = serve(tls_context=trusted.server_context(), require_starttls=True)
    _queue_one(db, customer, mechanic)
    wrong = Mailer(
        db, SmtpTarget.from_url(_url("smtp", port, "wrong", "?starttls=1")), SENDER,
        poll_seconds=0.01,
    )  # fmt: skip
    assert asyncio.run(wrong.send_due()) == 0
    assert mailbox.refused_logins >= 1 and mailbox.delivered == []
    (row,) = _outbox(db)
    assert row.sent_at is None
    assert row.next_attempt_at is not None, "given up for good over the operator's password"
    assert "535" in (row.last_error or ""), row.last_error  # the server's answer, for the log
    assert row.attempts == 1

    right = Mailer(
        db,
        SmtpTarget.from_url(_url("smtp", port, query="?starttls=1")),
        SENDER,
        lease=timedelta(seconds=1),
    )
    time.sleep(max(0.0, (row.next_attempt_at - utcnow()).total_seconds()))  # its backoff
    sent = asyncio.run(right.send_due())
    assert sent == 1
    (delivery,) = mailbox.delivered
    assert delivery.to == [mechanic.email] and delivery.login == USER and delivery.encrypted
    (row,) = _outbox(db)
    assert row.sent_at is not None and row.last_error is None and row.attempts == 2


def test_an_untrusted_certificate_is_refused_and_nothing_is_sent(
    db: Database,
    customer: Person,
    mechanic: Person,
    serve: Serve,
    certificate: Certificate,
) -> None:
    """Without the operator trusting it, a self-signed server is not sent the login."""
    mailbox, port = serve(ssl_context=certificate.server_context(), auth_require_tls=False)
    _queue_one(db, customer, mechanic)
    assert asyncio.run(Mailer(db, SmtpTarget.from_url(_url("smtps", port)), SENDER).send_due()) == 0
    assert mailbox.delivered == [] and mailbox.refused_logins == 0
    (row,) = _outbox(db)
    assert row.sent_at is None and row.next_attempt_at is not None
    assert "certificate" in (row.last_error or "").lower(), row.last_error
