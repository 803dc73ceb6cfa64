"""What an outside attack found, each reproduced as the attacker did it, and refused.

docs/RELIABILITY.md lists each finding with the test here that replays it.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from pitcrew import auth, photo_store
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.events import PublicEvent, events_after, visible_to
from pitcrew.models import Role
from pitcrew.web.pages import safe_next
from tests.support.factories import INTAKE, PASSWORD, Person, Stage, start_session
from tests.support.live import serve_in_process

# --- 1. open redirect after sign-in -------------------------------------------------------

LEAVING = [
    "/\t/evil.example/phish",
    "/%09/evil.example",  # as the browser sends it, before the server decodes it
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/ /evil.example",
    "/\\evil.example",
    "//evil.example",
    "/\u200b/evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("target", LEAVING)
def test_sign_in_never_sends_the_browser_to_another_site(target: str) -> None:
    decoded = target.replace("%09", "\t")
    assert safe_next(decoded) is None


def test_the_login_page_keeps_only_a_path_on_this_site(anonymous: Any) -> None:
    page = anonymous.get("/login", params={"next": "/\t/evil.example/phish"})
    assert page.status_code == 200
    assert 'data-next="/"' in page.text
    assert "evil.example" not in page.text
    kept = anonymous.get("/login", params={"next": "/sessions/abc?tab=chat"})
    assert 'data-next="/sessions/abc?tab=chat"' in kept.text


# --- 4. a crafted dashboard cursor --------------------------------------------------------


def _cursor(moment: str) -> str:
    return base64.urlsafe_b64encode(f"{moment}|{uuid.uuid4()}".encode()).decode()


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/mechanic/requests",
        "/api/mechanic/dashboard/incoming",
        "/api/mechanic/dashboard/active",
        "/api/mechanic/dashboard/completed",
        "/api/mechanic/dashboard/history",
    ],
)
def test_a_cursor_at_the_edge_of_the_calendar_is_an_unknown_page(
    db: Database, mechanic: Person, path: str, moment: str
) -> None:
    answer = mechanic.client.get(path, params={"cursor": _cursor(moment)})
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "invalid_cursor"
    assert answer.headers["x-content-type-options"] == "nosniff"


# --- 7. loose booleans and numbers, invisible and reversing text --------------------------


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None])
def test_on_duty_takes_only_true_or_false(db: Database, mechanic: Person, value: Any) -> None:
    answer = mechanic.client.post("/api/mechanic/duty", json={"on_duty": value})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["details"][0]["field"] == "on_duty"


def test_a_year_written_as_text_is_refused(db: Database, customer: Person) -> None:
    body = {**INTAKE, "vehicle": {**INTAKE["vehicle"], "year": "2016"}}
    answer = customer.client.post("/api/intake/start", json=body)
    assert answer.status_code == 422, answer.text
    assert customer.client.get("/api/sessions").json() == []


@pytest.mark.parametrize(
    "invisible", ["\u200b\u200b\u200b", "\u200d\u2060\ufeff", "\u00ad\u00ad\u00ad\u00ad"]
)
def test_an_issue_made_of_invisible_characters_is_blank(
    db: Database, customer: Person, invisible: str
) -> None:
    answer = customer.client.post(
        "/api/intake/start", json={**INTAKE, "issue_description": invisible}
    )
    assert answer.status_code == 422, answer.text
    assert customer.client.get("/api/sessions").json() == []


def test_a_name_cannot_turn_itself_around(db: Database, anonymous: Any) -> None:
    answer = anonymous.post(
        "/api/auth/register",
        json={
            "email": "mirror@example.com",
            "password": PASSWORD,
            "name": "Dana \u202egnp.exe",
        },
    )
    assert answer.status_code == 422, answer.text
    assert "direction" in answer.json()["error"]["message"]


# --- 6. a NUL in a photo caption ----------------------------------------------------------


def _png(width: int, height: int, mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG")
    return out.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims any size in a few dozen bytes (no pixel data is ever read)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _stored_files(db: Database, settings: Settings) -> list[str]:
    photos = photo_store.choose(settings.media_store, media_dir=settings.media_dir, db=db)
    return sorted(photos.listing())


def test_a_nul_in_a_caption_is_refused_before_anything_is_written(
    db: Database, customer: Person, mechanic: Person, settings: Settings
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    answer = customer.client.post(
        f"/api/sessions/{sid}/photos",
        files={"photo": ("p.png", _png(64, 48, "RGB"), "image/png")},
        data={"caption": "brake\x00light"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["details"][0]["field"] == "caption"
    assert _stored_files(db, settings) == []
    assert customer.client.get(f"/api/sessions/{sid}/messages").json() == []


# --- 7. a picture too large to even open --------------------------------------------------


def test_a_hundred_thousand_pixels_square_is_too_many_pixels(
    db: Database, customer: Person, mechanic: Person, settings: Settings
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    answer = customer.client.post(
        f"/api/sessions/{sid}/photos",
        files={"photo": ("p.png", _png_header_only(100_000, 100_000), "image/png")},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "photo_too_many_pixels"
    assert _stored_files(db, settings) == []


# --- 2. small files that unpack to a lot of memory ----------------------------------------


def _memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


@pytest.fixture
def server(db: Database, tmp_path: Path) -> Iterator[tuple[str, int]]:
    url = db.url if isinstance(db.url, str) else db.url.render_as_string(hide_password=False)
    log = tmp_path / "server.log"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDIA_DIR", str(tmp_path / "media"))
        with serve_in_process(url, log, events_poll_seconds=1) as (base, process):
            yield base, process.pid


def _signed_in(db: Database, base: str, role: Role) -> httpx.Client:
    email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.com"
    auth.create_user(db, email=email, name=f"A {role.value}", role=role, password=PASSWORD)
    client = httpx.Client(base_url=base, timeout=120)
    token = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    client.cookies.clear()
    client.headers["Authorization"] = f"Bearer {token.json()['token']}"
    return client


def test_twenty_unpacking_images_at_once_keep_memory_bounded(
    db: Database, server: tuple[str, int]
) -> None:
    """The attack's shape: many tiny PNGs that each unpack to the most a photo may hold."""
    base, pid = server
    customer = _signed_in(db, base, Role.CUSTOMER)
    mechanic = _signed_in(db, base, Role.MECHANIC)
    mechanic.post("/api/mechanic/duty", json={"on_duty": True})
    started = customer.post("/api/intake/start", json=INTAKE).json()
    assert mechanic.post("/api/mechanic/accept", json={"request_id": started["request_id"]})
    sid = started["session_id"]
    assert mechanic.post(f"/api/sessions/{sid}/join").status_code == 200

    bomb = _png(4900, 4900)  # 96 MB of pixels in about 100 KB: the largest PNG accepted
    assert len(bomb) < 1024 * 1024
    before = _memory_kib(pid)["VmRSS"]
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        with httpx.Client(base_url=base, headers=customer.headers, timeout=120) as client:
            answer = client.post(
                f"/api/sessions/{sid}/photos", files={"photo": ("p.png", bomb, "image/png")}
            )
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    growth_mb = (_memory_kib(pid)["VmHWM"] - before) / 1024
    customer.close()
    mechanic.close()

    assert len(answers) == 20
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 413, 422, 429, 503}, statuses
    assert 201 in statuses
    for answer in answers:
        if answer.status_code in (429, 503):
            assert int(answer.headers["Retry-After"]) > 0
    print(f"peak memory growth {growth_mb:.0f} MB; answers {statuses}")
    assert growth_mb < 600, f"the server grew by {growth_mb:.0f} MB"


# --- 3. a customer's cancel reason --------------------------------------------------------


def test_a_cancel_reason_reaches_only_the_two_parties(
    db: Database, customer: Person, mechanic: Person, make_user: Any
) -> None:
    """Every mechanic sees a request leave Incoming; only the parties read why."""
    bystander = make_user(Role.MECHANIC)
    started = customer.client.post("/api/intake/start", json=INTAKE).json()
    reason = "PRIVATE: my husband crashed it"
    cancelled = customer.client.post(
        f"/api/sessions/{started['session_id']}/cancel", json={"reason": reason}
    )
    assert cancelled.status_code == 200, cancelled.text
    with db.read() as s:
        logged = events_after(s, 0)
    seen_by_bystander = [
        json.dumps(PublicEvent.from_row(e).as_json())
        for e in logged
        if visible_to(e.payload, bystander.id, Role.MECHANIC)
    ]
    assert any("request.cancelled" in seen for seen in seen_by_bystander)
    assert not any("PRIVATE" in seen for seen in seen_by_bystander)
    seen_by_customer = [
        json.dumps(PublicEvent.from_row(e).as_json())
        for e in logged
        if visible_to(e.payload, customer.id, Role.CUSTOMER)
    ]
    assert any(reason in seen for seen in seen_by_customer)
