"""pitcrew behind Debian's nginx with the site file of deploy/nginx, as docs/DEPLOY.md sets it up.

nginx runs in the foreground with its own prefix in a temporary folder, on loopback ports,
with a certificate made for the test; the site file is used as it is, with only its ports
and certificate paths changed. In front of a real ``pitcrew serve`` it must pass live events
on at once, let pitcrew answer for its own upload limit, and forward the real client address
that the sign-in limit counts, which pitcrew ignores from anyone but the proxy.
"""

from __future__ import annotations

import io
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image

from pitcrew import flow
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.schemas import IntakeIn
from tests.support.accounts import TokenAccount as Account
from tests.support.accounts import account
from tests.support.factories import INTAKE
from tests.support.live import EventReader, free_port, serve_in_process, wait_for

pytestmark = pytest.mark.postgres_only

SITE = Path(__file__).parents[1] / "deploy" / "nginx" / "pitcrew.conf"
LIVE_STREAM_GOAL = 1.0  # seconds from a commit to the page
MAX_FAILURES = 3


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    assert found, "nginx is not installed (scripts/test.sh installs Debian's)"
    return found


def _site(upstream: int, https: int, http: int, cert: Path, key: Path) -> str:
    """The deployed site file, with only its ports and certificate paths changed."""
    text = SITE.read_text()
    changes = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http};",
        "/etc/letsencrypt/live/pitcrew.example/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/pitcrew.example/privkey.pem": str(key),
    }
    for old, new in changes.items():
        assert old in text, f"the site file no longer has {old!r}"
        text = text.replace(old, new)
    # the test machine may have no IPv6 loopback
    return "\n".join(line for line in text.splitlines() if "listen [::]:" not in line)


@contextmanager
def nginx_in_front(upstream: int, folder: Path) -> Iterator[str]:
    """nginx with the site file, in the foreground; yields its HTTPS base URL."""
    folder.mkdir()
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    https, http = free_port(), free_port()
    (folder / "site.conf").write_text(_site(upstream, https, http, cert, key))
    (folder / "nginx.conf").write_text(
        f"""
        daemon off;
        worker_processes 1;
        user {pwd.getpwuid(os.getuid()).pw_name};
        pid {folder}/nginx.pid;
        error_log {folder}/error.log;
        events {{ worker_connections 256; }}
        http {{
            access_log {folder}/access.log;
            client_body_temp_path {folder}/body;
            proxy_temp_path {folder}/proxy;
            include {folder}/site.conf;
        }}
        """
    )
    process = subprocess.Popen(
        [nginx_binary(), "-p", str(folder), "-c", str(folder / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def listening() -> bool:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", https)) == 0

    try:
        wait_for(listening, "nginx to listen")
        yield f"https://127.0.0.1:{https}"
    finally:
        process.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture
def stack(pg_db: Database, pg_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(through nginx, pitcrew directly): a real server behind the deployed site file."""
    settings = {
        "MEDIA_DIR": str(tmp_path / "media"),
        "LOGIN_MAX_FAILURES": str(MAX_FAILURES),
        "LOG_LEVEL": "info",
    }
    with serve_in_process(
        pg_url, tmp_path / "pitcrew.log", events_poll_seconds=60, settings=settings
    ) as (direct, _):
        port = int(direct.rsplit(":", 1)[1])
        with nginx_in_front(port, tmp_path / "nginx") as proxied:
            yield proxied, direct


def _client(
    base: str, source: str = "127.0.0.1", *, headers: dict[str, str] | None = None
) -> httpx.Client:
    """A client connecting from ``source`` (any 127.x address is this machine); nginx's
    certificate is the test's own."""
    transport = httpx.HTTPTransport(local_address=source, verify=False)
    return httpx.Client(base_url=base, transport=transport, headers=headers, timeout=30)


def test_live_events_pass_through_nginx_at_once(stack: tuple[str, str], pg_db: Database) -> None:
    proxied, _ = stack
    customer, mechanic = account(pg_db, Role.CUSTOMER), account(pg_db, Role.MECHANIC)
    with (
        _client(proxied) as client,
        client.stream("GET", "/api/events", headers=mechanic.headers) as response,
    ):
        assert response.status_code == 200
        reader = EventReader(response.iter_lines())
        reader.ready()  # the first bytes came through before anything else was sent
        for _ in range(3):  # each event on its own, not when a buffer fills
            started = time.monotonic()
            created, _ = flow.start_intake(pg_db, customer.actor, IntakeIn.model_validate(INTAKE))
            message = reader.until(lambda m: m.kind == "request.created")[-1]
            took = time.monotonic() - started
            assert message.data["session_id"] == str(created.session_id)
            assert took < LIVE_STREAM_GOAL, f"the event took {took:.2f} s through nginx"


def _live_session(db: Database) -> tuple[Account, str]:
    customer, mechanic = account(db, Role.CUSTOMER), account(db, Role.MECHANIC)
    created, _ = flow.start_intake(db, customer.actor, IntakeIn.model_validate(INTAKE))
    flow.accept(db, mechanic.actor, created.request_id)
    flow.join(db, mechanic.actor, created.session_id)
    return customer, str(created.session_id)


def _noise_png(rows: int, width: int = 2048) -> bytes:
    """A PNG of random pixels, stored uncompressed: its size is about rows * width * 3."""
    image = Image.frombytes("RGB", (width, rows), os.urandom(width * rows * 3))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=0)
    return out.getvalue()


def test_upload_limit_is_pitcrews_own(stack: tuple[str, str], pg_db: Database) -> None:
    proxied, _ = stack
    limit = 10 * 1024 * 1024  # MAX_UPLOAD_MB's default, which the site file is sized for
    at_limit, over = _noise_png(1700), _noise_png(1712)
    assert limit - 64 * 1024 < len(at_limit) <= limit < len(over)
    customer, session_id = _live_session(pg_db)
    with _client(proxied, headers=customer.headers) as client:
        path = f"/api/sessions/{session_id}/photos"
        stored = client.post(path, files={"photo": ("at-limit.png", at_limit, "image/png")})
        assert stored.status_code == 201, stored.text
        refused = client.post(path, files={"photo": ("over.png", over, "image/png")})
    assert refused.status_code == 413
    assert refused.headers["content-type"] == "application/json"
    error = refused.json()["error"]
    assert "at most 10 MB" in error["message"]
    assert error["request_id"] == refused.headers["X-Request-ID"]


def _sign_in(client: httpx.Client, **headers: str) -> int:
    """A failed sign-in with an address nobody has: only the client's address is counted."""
    email = f"nobody-{os.urandom(4).hex()}@example.com"
    answer = client.post(
        "/api/auth/login", json={"email": email, "password": "wrong guess"}, headers=headers
    )
    return answer.status_code


def test_sign_in_limit_counts_the_real_client_address(stack: tuple[str, str]) -> None:
    proxied, direct = stack
    with _client(proxied, "127.0.0.4") as first, _client(proxied, "127.0.0.5") as second:
        assert [_sign_in(first) for _ in range(MAX_FAILURES)] == [401] * MAX_FAILURES
        assert _sign_in(first) == 429
        # a claimed address does not help: nginx forwards the one it sees
        assert _sign_in(first, **{"X-Forwarded-For": "203.0.113.7"}) == 429
        # another client behind the same proxy has its own allowance
        assert _sign_in(second) == 401
    # Straight to pitcrew from a peer that is not the proxy: its X-Forwarded-For is ignored,
    # neither borrowing the throttled address nor escaping its own count.
    with _client(direct, "127.0.0.6") as bypass:
        assert _sign_in(bypass, **{"X-Forwarded-For": "127.0.0.4"}) == 401  # throttled above
        spoofs = [f"198.51.100.{n}" for n in range(MAX_FAILURES)]
        for spoof in spoofs[1:]:
            assert _sign_in(bypass, **{"X-Forwarded-For": spoof}) == 401
        assert _sign_in(bypass, **{"X-Forwarded-For": "198.51.100.99"}) == 429


def test_https_through_nginx_gives_secure_cookies(stack: tuple[str, str], pg_db: Database) -> None:
    proxied, _ = stack
    customer = account(pg_db, Role.CUSTOMER)
    with _client(proxied) as client:
        answer = client.post(
            "/api/auth/login", json={"email": customer.email, "password": "correct horse battery"}
        )
    assert answer.status_code == 200, answer.text
    cookies = answer.headers.get_list("set-cookie")
    assert cookies and all("secure" in cookie.lower() for cookie in cookies)
