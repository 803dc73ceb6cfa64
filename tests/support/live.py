"""A real server on loopback, its event stream and Debian's Chromium, for the tests that need them.

Starlette's TestClient buffers responses, so what is checked on the live stream or in a browser
runs uvicorn (in a thread, or as ``pitcrew serve`` in a process of its own); every wait has a
deadline and every server is always stopped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn
from fastapi import FastAPI

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

# Chromium's fake camera and microphone, and host candidates a loopback peer can reach:
# a real WebRTC call between two browser contexts on one machine.
FAKE_MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def wait_for(check: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(app: FastAPI, port: int = 0) -> Iterator[str]:
    """Run the app under uvicorn on loopback (a free port unless given, as for a server
    stopped and started again); yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
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


@contextmanager
def serve_in_process(
    database_url: str,
    log_path: Path,
    *,
    events_poll_seconds: float,
    port: int | None = None,
    settings: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``pitcrew serve`` on loopback (a free port unless given); stopped (or killed) when the
    block ends. ``settings`` adds or overrides environment variables."""
    port = port or free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "warning",
        "EVENTS_POLL_SECONDS": str(events_poll_seconds),
        **(settings or {}),
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pitcrew.cli", "serve", "--no-migrate", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:

            def healthy() -> bool:
                assert process.poll() is None, log_path.read_text()
                try:
                    return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(healthy, f"{log_path.stem} to start", 90)  # a loaded machine
            yield base, process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


@dataclass
class Message:
    id: int
    kind: str
    data: dict[str, Any]


class EventReader:
    """An open /api/events response, parsed message by message."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.comments: list[str] = []
        self.retry: int | None = None

    def ready(self) -> None:
        """Read up to ``retry``: from here on, whatever commits reaches this stream."""
        assert self.line() == "retry: 2000"
        assert self.line() == ""
        self.retry = 2000

    def line(self) -> str:
        return next(self._lines)

    def next(self) -> Message | None:
        """The next message; None when the server ended the stream."""
        fields: dict[str, str] = {}
        for line in self._lines:
            if line == "":
                if "data" in fields:
                    data = json.loads(fields["data"])
                    # A message without an id (someone typing) is never replayed: id 0.
                    return Message(int(fields.get("id", 0)), fields["event"], data)
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "retry":
                self.retry = int(value)
            else:
                fields[name] = value
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

    def take(self, count: int) -> list[Message]:
        seen: list[Message] = []
        for _ in range(count):
            message = self.next()
            assert message is not None, f"stream ended after {seen}"
            seen.append(message)
        return seen


@contextmanager
def open_events(
    base: str, headers: dict[str, str], *, params: dict[str, str] | None = None, timeout: float
) -> Iterator[tuple[httpx.Response, EventReader]]:
    """GET /api/events, checked to be accepted; closed when the block ends."""
    client = httpx.Client(base_url=base, timeout=httpx.Timeout(timeout))
    try:
        with client.stream("GET", "/api/events", headers=headers, params=params) as response:
            assert response.status_code == 200, response.read()
            yield response, EventReader(response.iter_lines())
    finally:
        client.close()


@contextmanager
def chromium(extra_args: Sequence[str] = ()) -> Iterator[Browser]:
    """Debian's Chromium, headless, never a downloaded browser."""
    from playwright.sync_api import sync_playwright  # only the browser tests pay for it

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args], headless=True
        )
        try:
            yield browser
        finally:
            browser.close()
