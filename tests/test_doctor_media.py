"""``pitcrew doctor`` and the photos: files no message names, and messages without their file.

A crash between writing a photo and committing its message leaves files behind; the doctor
removes them once they are old enough that no upload can still be saving its message. A
message whose file is gone is shown to a person, never repaired. Each test runs against the
store the server uses by default: MEDIA_DIR on SQLite, the database on PostgreSQL.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import Result

from pitcrew import media, photo_store
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.events import Kind
from pitcrew.models import Event, MediaFile, Role, SessionMessage, utcnow
from pitcrew.photo_store import DirectoryStore, PhotoStore
from pitcrew.schemas import MessageOut
from tests.support.factories import Stage, create_account, start_session
from tests.test_doctor import run_cli

OLD = 20 * 60  # seconds: well past the doctor's ten minutes of grace


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def photos(db: Database, settings: Settings) -> PhotoStore:
    return photo_store.choose(settings.media_store, media_dir=settings.media_dir, db=db)


def _photo_in_live_session(db: Database, photos: PhotoStore) -> MessageOut:
    """A live session whose customer, Casey Driver, has sent one photo."""
    customer = create_account(db, Role.CUSTOMER, "Casey Driver")
    mechanic = create_account(db, Role.MECHANIC, "Bea Mechanic")
    started = start_session(db, customer, Stage.LIVE, mechanic=mechanic)
    message = media.post_photo(
        db,
        customer.actor,
        started.session_id,
        _jpeg(),
        photos=photos,
        max_bytes=Settings().max_upload_bytes,
    )
    return message


def _stored(db: Database, message: MessageOut) -> tuple[tuple[str, str], datetime]:
    """The photo's and thumbnail's keys in the store, and when the message was sent."""
    with db.read() as s:
        row = s.get(SessionMessage, message.id)
        assert row is not None and row.attachment_path and row.thumbnail_path
        return (row.attachment_path, row.thumbnail_path), row.created_at


def _doctor(
    monkeypatch: pytest.MonkeyPatch, db: Database, settings: Settings, *args: str
) -> Result:
    monkeypatch.setenv("MEDIA_DIR", str(settings.media_dir))
    return run_cli(monkeypatch, db.url, "doctor", *args)


def _report(result: Result) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def _media_problems(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in report["problems"] if p["check"].startswith("media_")]


def _plant(db: Database, photos: PhotoStore, key: str, *, age_seconds: float) -> None:
    """A file the store holds as if written ``age_seconds`` ago, named by no message."""
    photos.put({key: _jpeg()})
    if isinstance(photos, DirectoryStore):
        moment = time.time() - age_seconds
        os.utime(photos.root / key, (moment, moment))
        return
    with db.sessions() as s, s.begin():
        row = s.get(MediaFile, key)
        assert row is not None
        row.created_at = utcnow() - timedelta(seconds=age_seconds)


def test_files_no_message_names_are_removed_once_old_but_a_fresh_one_is_kept(
    db: Database, settings: Settings, photos: PhotoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = _photo_in_live_session(db, photos)
    folder = str(message.session_id)
    crashed = uuid.uuid4().hex
    stray = [f"{folder}/{crashed}.jpg", f"{folder}/{crashed}.thumb.jpg"]
    for key in stray:
        _plant(db, photos, key, age_seconds=OLD)
    _plant(db, photos, f"{folder}/{uuid.uuid4().hex}.jpg", age_seconds=5)  # upload in flight
    kept = sorted(key for key in photos.listing() if key not in stray)
    assert len(kept) == 3  # the real photo, its thumbnail, and the upload in flight

    dry = _doctor(monkeypatch, db, settings, "--json")
    assert dry.exit_code == 1, dry.output
    report = _report(dry)
    [problem] = _media_problems(report)
    assert problem["check"] == "media_file_unnamed"
    assert problem["repairable"] is True
    assert problem["session_id"] == str(message.session_id)
    assert problem["files"] == sorted(stray)
    assert "10 minutes" in problem["repair"]
    assert report["summary"]["media"] == {"unnamed_files": 2, "messages_missing_files": 0}
    assert any("less than 10 minutes ago" in note for note in report["notes"])
    assert all(photos.get(key) for key in stray), "a dry run removes nothing"

    table = _doctor(monkeypatch, db, settings)
    assert table.exit_code == 1, table.output
    assert "media" in table.stdout and f"{crashed}.thumb.jpg" in table.stdout
    assert "1 media file(s) no message names yet were written less than 10" in table.stdout
    assert "Media: 2 file(s) no message names." in table.stdout

    applied = _doctor(monkeypatch, db, settings, "--apply", "--json")
    assert applied.exit_code == 0, applied.output
    assert _report(applied)["after"]["media"]["unnamed_files"] == 0
    assert not any(photos.get(key) for key in stray)
    assert sorted(photos.listing()) == kept
    with db.read() as s:
        repairs = s.scalars(select(Event).where(Event.kind == Kind.REPAIR)).all()
        assert [e.payload["files"] for e in repairs] == [problem["files"]]

    named, _ = _stored(db, message)
    assert all(photos.get(key) for key in named)


def test_files_outside_the_sessions_folders_are_not_pitcrews(
    db: Database, settings: Settings, photos: PhotoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _photo_in_live_session(db, photos)
    not_ours = settings.media_dir / "backup" / "logo.jpg"
    not_ours.parent.mkdir(parents=True)
    not_ours.write_bytes(_jpeg())
    os.utime(not_ours, (time.time() - OLD, time.time() - OLD))

    applied = _doctor(monkeypatch, db, settings, "--apply", "--json")
    assert applied.exit_code == 0, applied.output
    assert _media_problems(_report(applied)) == []
    assert not_ours.exists(), "only the sessions' folders are pitcrew's"


def test_a_message_whose_file_is_gone_is_left_to_a_person(
    db: Database, settings: Settings, photos: PhotoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = _photo_in_live_session(db, photos)
    (lost, _), sent_at = _stored(db, message)
    photos.remove([lost])

    dry = _doctor(monkeypatch, db, settings, "--json")
    assert dry.exit_code == 1, dry.output
    report = _report(dry)
    [problem] = _media_problems(report)
    assert problem["check"] == "media_file_missing"
    assert problem["repairable"] is False
    assert problem["session_id"] == str(message.session_id)
    assert problem["rows"] == [str(message.id)]
    assert problem["problem"] == (
        f"the photo Casey Driver sent at {sent_at:%Y-%m-%d %H:%M} UTC has lost its photo file"
    )
    assert problem["repair"].startswith("needs a person")
    assert report["summary"]["media"] == {"unnamed_files": 0, "messages_missing_files": 1}

    table = _doctor(monkeypatch, db, settings)
    assert f"message {message.id}" in table.stdout
    assert "Media: 1 photo message(s) missing a file." in table.stdout

    applied = _doctor(monkeypatch, db, settings, "--apply", "--json")
    assert applied.exit_code == 1, applied.output
    assert _report(applied)["after"]["media"]["messages_missing_files"] == 1
    with db.read() as s:
        assert s.get(SessionMessage, message.id) is not None, "the message is a person's call"


def test_photos_whose_messages_are_all_there_are_no_problem(
    db: Database, settings: Settings, photos: PhotoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _photo_in_live_session(db, photos)

    dry = _doctor(monkeypatch, db, settings, "--json")
    assert dry.exit_code == 0, dry.output
    report = _report(dry)
    assert _media_problems(report) == [] and report["notes"] == []
    assert report["summary"]["media"] == {"unnamed_files": 0, "messages_missing_files": 0}
    table = _doctor(monkeypatch, db, settings)
    assert table.exit_code == 0 and "No problems" in table.stdout
    assert "Media" not in table.stdout
