"""A real SMTP server on a loopback port (aiosmtpd), and what it received."""

from __future__ import annotations

import email
import threading
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session as SMTPSession


@dataclass
class Received:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, kind: str) -> str:
        body = self.message.get_body(preferencelist=(kind,))
        assert body is not None, f"no {kind} part"
        return str(body.get_content())


class Inbox:
    """What the SMTP server accepted; addresses in ``refuse`` get a permanent 550."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse: set[str] = set()
        self._lock = threading.Lock()

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: SMTPSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTPServer, session: SMTPSession, envelope: Envelope
    ) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.snapshot() if address in r.to]

    def message_ids(self) -> list[str]:
        return [str(r.message["Message-ID"]) for r in self.snapshot()]


class SmtpServer:
    """aiosmtpd on a fixed loopback port, which can be stopped and started again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
