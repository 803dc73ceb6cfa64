"""One searchable line per request, tied by its request id to the response and error bodies."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pitcrew.db import Database
from tests.support.live import serve_in_process


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "pitcrew.request"]


def test_each_request_is_logged_once_with_its_id(
    anonymous: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="pitcrew.request"):
        answer = anonymous.get("/healthz?secret=in-the-query")
    assert answer.status_code == 200
    request_id = answer.headers["X-Request-ID"]
    assert len(request_id) >= 16
    [line] = _lines(caplog)
    assert line.__dict__["request_id"] == request_id
    assert (line.__dict__["method"], line.__dict__["path"], line.__dict__["status"]) == (
        "GET",
        "/healthz",
        200,
    )
    assert isinstance(line.__dict__["ms"], float)
    said = line.getMessage()
    assert said.startswith("GET /healthz 200 ") and request_id in said
    assert "in-the-query" not in said  # query strings may carry tokens


def test_every_request_gets_its_own_id(anonymous: TestClient) -> None:
    ids = {anonymous.get("/healthz").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("3f2a9c1e7b5d4a6c8e0f1a2b3c4d5e6f", True),  # nginx's $request_id
        ("b6f1c3a2-4d5e-4f60-8a7b-9c0d1e2f3a4b", True),  # a UUID from a tracing tool
        ("evil\u00a0id", False),
        ("x" * 300, False),
        ('"}, {"forged": "line', False),
    ],
)
def test_a_sane_incoming_request_id_is_kept(anonymous: TestClient, sent: str, kept: bool) -> None:
    headers = {"X-Request-ID": sent.encode("latin-1")}  # as raw bytes: any header a client sends
    answer = anonymous.get("/healthz", headers=headers)
    assert (answer.headers["X-Request-ID"] == sent) is kept


def test_error_bodies_carry_the_request_id(
    anonymous: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="pitcrew.request"):
        unsigned = anonymous.get("/api/sessions", headers={"X-Request-ID": "support-ticket-42"})
        too_large = anonymous.post("/api/auth/login", content=b"{" + b" " * 200_000 + b"}")
        unknown = anonymous.get("/api/no-such-thing")
    assert unsigned.status_code == 401
    assert unsigned.json()["error"]["request_id"] == "support-ticket-42"
    for answer in (too_large, unknown):
        assert answer.status_code in (404, 413)
        assert answer.json()["error"]["request_id"] == answer.headers["X-Request-ID"]
    logged = {(r.__dict__["request_id"], r.__dict__["status"]) for r in _lines(caplog)}
    assert ("support-ticket-42", 401) in logged
    assert (too_large.headers["X-Request-ID"], 413) in logged


def test_json_log_format_writes_one_object_per_line(db: Database, tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    settings = {"LOG_FORMAT": "json", "LOG_LEVEL": "info", "MEDIA_DIR": str(tmp_path / "media")}
    with serve_in_process(str(db.url), log_path, events_poll_seconds=1, settings=settings) as (
        base,
        _process,
    ):
        seen = httpx.get(f"{base}/healthz", headers={"X-Request-ID": "from-the-proxy-1"})
        missing = httpx.get(f"{base}/api/sessions")
    assert seen.headers["X-Request-ID"] == "from-the-proxy-1"
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    # the only line that is not JSON is the address the command prints on start
    records = [json.loads(line) for line in lines if not line.startswith("pitcrew on http")]
    assert len(records) == len(lines) - 1
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    requests = {r["request_id"]: r for r in records if r["logger"] == "pitcrew.request"}
    health = requests["from-the-proxy-1"]
    assert (health["method"], health["path"], health["status"]) == ("GET", "/healthz", 200)
    assert health["client"] == "127.0.0.1" and health["ms"] >= 0
    assert requests[missing.headers["X-Request-ID"]]["status"] == 401
