"""The backup of docs/DEPLOY.md restores to a working system.

A running server's database is dumped with ``pg_dump`` and restored into a fresh database;
on PostgreSQL the photos are kept in the database, so the dump is the whole backup: the
installed ``pitcrew doctor`` finds no problem in the copy, and a server on it, with an empty
MEDIA_DIR, shows the same sessions, chat and photos.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pitcrew import chat, flow
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.schemas import IntakeIn
from tests.support.accounts import account
from tests.support.databases import PG_SERVER
from tests.support.factories import INTAKE
from tests.support.live import serve_in_process

pytestmark = pytest.mark.postgres_only

PITCREW = Path(sys.executable).parent / "pitcrew"


def _libpq(url: str) -> str:
    """The URL as pg_dump and pg_restore read it (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def fresh_url() -> Iterator[str]:
    """An empty database to restore into, dropped afterwards."""
    name = f"pitcrew_restored_{os.getpid()}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def _seen(base: str, headers: dict[str, str], session_id: str) -> dict[str, object]:
    """What the customer sees of the session: the session, its chat, its photo's bytes."""
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        session = client.get(f"/api/sessions/{session_id}")
        messages = client.get(f"/api/sessions/{session_id}/messages")
        assert session.status_code == 200 and messages.status_code == 200, session.text
        chat = messages.json()
        photos = [m["photo"] for m in chat if m.get("photo")]
        assert photos, chat
        stored = client.get(photos[0]["url"])
        thumb = client.get(photos[0]["thumbnail_url"])
        assert stored.status_code == 200 and thumb.status_code == 200
        mine = client.get("/api/sessions")
        return {
            "session": session.json(),
            "chat": chat,
            "photo": stored.content,
            "thumb": thumb.content,
            "mine": mine.json(),
        }


def test_backup_of_a_running_server_restores_to_a_working_one(
    pg_db: Database, pg_url: str, fresh_url: str, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    customer, mechanic = account(pg_db, Role.CUSTOMER), account(pg_db, Role.MECHANIC)
    created, _ = flow.start_intake(pg_db, customer.actor, IntakeIn.model_validate(INTAKE))
    flow.accept(pg_db, mechanic.actor, created.request_id)
    flow.join(pg_db, mechanic.actor, created.session_id)
    chat.post_message(pg_db, mechanic.actor, created.session_id, "Send a photo of the pads?")
    session_id = str(created.session_id)

    with serve_in_process(
        pg_url, tmp_path / "running.log", events_poll_seconds=1, settings={"MEDIA_DIR": str(media)}
    ) as (base, _):
        sent = httpx.post(
            f"{base}/api/sessions/{session_id}/photos",
            headers=customer.headers,
            files={"photo": ("pads.jpg", _photo(), "image/jpeg")},
            data={"caption": "The front pads"},
            timeout=30,
        )
        assert sent.status_code == 201, sent.text
        before = _seen(base, customer.headers, session_id)
        # the backup, as docs/DEPLOY.md takes it: the database while it serves, photos and all
        dump = tmp_path / "pitcrew.dump"
        subprocess.run(
            ["pg_dump", "--format=custom", f"--file={dump}", _libpq(pg_url)],
            check=True,
            capture_output=True,
        )

    subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={_libpq(fresh_url)}", str(dump)],
        check=True,
        capture_output=True,
    )
    assert not media.exists(), "on PostgreSQL no photo is kept on this host's disk"
    restored_media = tmp_path / "restored-media"  # a new host's, empty

    env = {k: v for k, v in os.environ.items() if k not in ("LOG_LEVEL", "SMTP_URL")}
    # The doctor checks the photos too: each message's files must be in the restored copy.
    doctor = subprocess.run(
        [str(PITCREW), "doctor"],
        env={**env, "DATABASE_URL": fresh_url, "MEDIA_DIR": str(restored_media)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "No problems" in doctor.stdout

    with serve_in_process(
        fresh_url,
        tmp_path / "restored.log",
        events_poll_seconds=1,
        settings={"MEDIA_DIR": str(restored_media)},
    ) as (base, _):
        after = _seen(base, customer.headers, session_id)  # the same sign-in works, too
    assert after == before
