"""What the session room's tests share: a real server on loopback, its event stream, sessions.

Starlette's TestClient buffers responses, so what is checked on the live stream runs uvicorn
in a thread and reads /api/events with httpx; every read has a timeout and the server is
always stopped.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from tests.conftest import INTAKE, Person

READ_TIMEOUT = 10.0


def wait_for(check: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Run the app under uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, "the server to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        bus = getattr(app.state, "events_bus", None)
        if bus is not None:  # what the stop signal does under `pitcrew serve`
            bus.close_streams_soon()
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


@dataclass
class Message:
    id: int
    kind: str
    data: dict[str, Any]


class EventReader:
    """An open /api/events response, read message by message."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines

    def next(self) -> Message | None:
        fields: dict[str, str] = {}
        for line in self._lines:
            if line == "":
                if "data" in fields:
                    return Message(int(fields["id"]), fields["event"], json.loads(fields["data"]))
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        return None

    def until(self, done: Callable[[Message], bool], *, limit: int = 200) -> list[Message]:
        """Messages up to and including the first for which ``done`` holds."""
        seen: list[Message] = []
        while len(seen) < limit:
            message = self.next()
            if message is None:
                raise AssertionError(f"stream ended before the expected event; got {seen}")
            seen.append(message)
            if done(message):
                return seen
        raise AssertionError(f"expected event never came; got {seen}")


@contextmanager
def listen(base: str, person: Person) -> Iterator[EventReader]:
    """Open the person's stream; returns once whatever commits from now on will reach it."""
    client = httpx.Client(base_url=base, timeout=httpx.Timeout(READ_TIMEOUT))
    try:
        headers = {"Authorization": str(person.client.headers["Authorization"])}
        with client.stream("GET", "/api/events", headers=headers) as response:
            assert response.status_code == 200, response.read()
            lines = response.iter_lines()
            assert next(lines).startswith("retry:")
            yield EventReader(lines)
    finally:
        client.close()


def start_session(customer: Person, session_type: str = "video") -> tuple[str, str]:
    answer = customer.client.post(
        "/api/intake/start", json={**INTAKE, "session_type": session_type}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["session_id"], body["request_id"]


def live_session(customer: Person, mechanic: Person, session_type: str = "video") -> str:
    """A session of the given type, accepted and joined by the mechanic: live."""
    sid, rid = start_session(customer, session_type)
    accepted = mechanic.client.post("/api/mechanic/accept", json={"request_id": rid})
    assert accepted.status_code == 200, accepted.text
    joined = mechanic.client.post(f"/api/sessions/{sid}/join")
    assert joined.status_code == 200, joined.text
    return sid
