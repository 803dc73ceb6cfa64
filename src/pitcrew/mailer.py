"""The email sender: empties the outbox through SMTP, outside every request transaction.

``notify.follow`` writes an ``email_outbox`` row in the transaction of the change it tells of,
so an email exists exactly when that change committed. Here each row is *claimed* in a short
transaction of its own (a guarded UPDATE that pushes ``next_attempt_at`` a lease ahead; on
PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several processes share the work), sent with no
transaction open, then marked sent in another short transaction. A row marked sent is never
sent again. If the process dies between the server's OK and the mark, the row is sent again
once its lease runs out, with the same ``Message-ID`` (derived from the row's id), so the
repeat is recognisable as one message. Failures are retried with exponential backoff; a
permanent refusal (SMTP 5xx) or too many attempts gives up on the row and keeps the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from pitcrew.db import Database
from pitcrew.models import EmailOutbox, utcnow
from pitcrew.periodic import Periodic

log = logging.getLogger(__name__)

TRUE_WORDS = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SmtpTarget:
    """Where to send, from ``SMTP_URL``: ``smtp://user:pw@host:port`` (``?starttls=1`` to
    upgrade the connection), or ``smtps://`` for TLS from the first byte."""

    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:password@host:port or smtps://…")
        use_tls = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        start_tls = query.get("starttls", ["0"])[-1].lower() in TRUE_WORDS
        if use_tls and start_tls:
            raise ValueError("SMTP_URL: smtps:// is already TLS; starttls is for smtp://")
        default_port = 465 if use_tls else 587 if start_tls else 25
        return cls(
            hostname=parts.hostname,
            port=parts.port or default_port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
            start_tls=start_tls,
        )


@dataclass(frozen=True)
class Outgoing:
    """A claimed outbox row."""

    id: uuid.UUID
    to_address: str
    subject: str
    text_body: str
    html_body: str
    created_at: datetime
    attempts: int


def message_id(outbox_id: uuid.UUID, sender: str) -> str:
    """The same Message-ID every time a row is sent, so a repeat is one message to the reader."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "pitcrew.invalid"
    return f"<{outbox_id}@{domain}>"


def build_message(row: Outgoing, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at)
    message["Message-ID"] = message_id(row.id, sender)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    return message


def _is_permanent(error: BaseException) -> bool:
    """The server refused this message for good (5xx), so trying again cannot help."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(e.code >= 500 for e in error.recipients)
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return False  # the operator's credentials, not this message: keep it for later
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return error.code >= 500
    return False


def _breaks_connection(error: BaseException) -> bool:
    """After these the connection cannot carry the next message."""
    return not isinstance(
        error,
        aiosmtplib.SMTPRecipientsRefused
        | aiosmtplib.SMTPRecipientRefused
        | aiosmtplib.SMTPSenderRefused
        | aiosmtplib.SMTPDataError,
    )


class Mailer:
    """Sends what the outbox holds, now when woken and every ``poll_seconds`` anyway."""

    def __init__(
        self,
        db: Database,
        target: SmtpTarget,
        sender: str,
        *,
        poll_seconds: float = 10.0,
        lease: timedelta = timedelta(minutes=5),
        timeout: float = 30.0,
        max_backoff: timedelta = timedelta(hours=1),
        max_attempts: int = 30,
    ) -> None:
        self.db = db
        self.target = target
        self.sender = sender
        self.poll_seconds = poll_seconds
        self.lease = lease
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts
        self._rounds: Periodic | None = None

    # --- the outbox (each a short transaction of its own) ------------------------------

    def claim(self) -> Outgoing | None:
        """Take the row due longest, for one lease; None when nothing is due."""

        def work(s: DbSession) -> Outgoing | None:
            now = utcnow()
            due = EmailOutbox.sent_at.is_(None), EmailOutbox.next_attempt_at <= now
            oid = s.scalar(
                select(EmailOutbox.id)
                .where(*due)
                .order_by(EmailOutbox.next_attempt_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if oid is None:
                return None
            row = s.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == oid, *due)
                .values(attempts=EmailOutbox.attempts + 1, next_attempt_at=now + self.lease)
                .returning(
                    EmailOutbox.id,
                    EmailOutbox.to_address,
                    EmailOutbox.subject,
                    EmailOutbox.text_body,
                    EmailOutbox.html_body,
                    EmailOutbox.created_at,
                    EmailOutbox.attempts,
                )
            ).first()
            return Outgoing(*row) if row is not None else None

        return self.db.run(work)

    def mark_sent(self, oid: uuid.UUID) -> None:
        def work(s: DbSession) -> None:
            s.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == oid, EmailOutbox.sent_at.is_(None))
                .values(sent_at=utcnow(), next_attempt_at=None, last_error=None)
            )

        self.db.run(work)

    def mark_failed(self, row: Outgoing, error: BaseException) -> None:
        """Try again later, each time waiting twice as long; or give up for good."""
        give_up = _is_permanent(error) or row.attempts >= self.max_attempts
        delay = min(timedelta(seconds=self.poll_seconds * 2**row.attempts), self.max_backoff)
        described = f"{type(error).__name__}: {error}"[:2000]

        def work(s: DbSession) -> None:
            s.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == row.id, EmailOutbox.sent_at.is_(None))
                .values(
                    next_attempt_at=None if give_up else utcnow() + delay,
                    last_error=described,
                )
            )

        self.db.run(work)
        if give_up:
            log.error("gave up on email %s to %s: %s", row.id, row.to_address, described)
        else:
            log.warning("email %s to %s not sent (%s); retrying", row.id, row.to_address, error)

    # --- sending -------------------------------------------------------------------------

    def _client(self) -> aiosmtplib.SMTP:
        # The target's fields are named after the client's options, so they pass straight on.
        return aiosmtplib.SMTP(**asdict(self.target), timeout=self.timeout)

    async def send_due(self) -> int:
        """Send every row due now, over one connection opened when there is work; how many."""
        sent = 0
        client: aiosmtplib.SMTP | None = None
        try:
            while not self._stopping:
                row = await asyncio.to_thread(self.claim)
                if row is None:
                    break
                try:
                    if client is None:
                        client = self._client()
                        await client.connect()
                    await client.send_message(build_message(row, self.sender))
                except Exception as error:
                    await asyncio.to_thread(self.mark_failed, row, error)
                    if _breaks_connection(error):
                        break  # the server is away: the rest wait for the next round
                    continue
                await asyncio.to_thread(self.mark_sent, row.id)
                sent += 1
        finally:
            if client is not None and client.is_connected:
                with contextlib.suppress(Exception):
                    await client.quit()
        return sent

    # --- running as a service ------------------------------------------------------------

    @property
    def _stopping(self) -> bool:
        return self._rounds is not None and self._rounds.stopping

    def running(self, *, grace_seconds: float = 10.0) -> AbstractAsyncContextManager[Periodic]:
        """Send what is due while inside, woken by every commit that wrote events; on the
        way out, finish the message in hand (a row cut off mid-send is sent again after its
        lease)."""
        self._rounds = Periodic(
            "email sender",
            self.send_due,
            every_seconds=self.poll_seconds,
            wake_on=[self.db.on_events_committed],
            grace_seconds=grace_seconds,
        )
        return self._rounds.running()


def service(app: Any) -> AbstractAsyncContextManager[Any]:
    """The sender as one of ``app.state.services`` (only when SMTP_URL is set)."""
    settings = app.state.settings
    mailer = Mailer(
        app.state.db,
        SmtpTarget.from_url(settings.smtp_url),
        settings.smtp_from,
        poll_seconds=settings.email_poll_seconds,
    )
    return mailer.running()
