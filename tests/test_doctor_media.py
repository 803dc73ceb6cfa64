"""``pitcrew doctor`` and the photos: files no message names, and messages without their file.

A crash between writing a photo and committing its message leaves files behind; the doctor
removes them once they are old enough that no upload can still be saving its message. A
message whose file is gone is shown to a person, never repaired.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import Result

from pitcrew import media
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.events import Kind
from pitcrew.models import Event, Role, SessionMessage
from pitcrew.schemas import MessageOut
from tests.support.factories import Stage, create_account, start_session
from tests.test_doctor import run_cli

OLD = 20 * 60  # seconds: well past the doctor's ten minutes of grace


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def _photo_in_live_session(db: Database, settings: Settings) -> MessageOut:
    """A live session whose customer, Casey Driver, has sent one photo."""
    customer = create_account(db, Role.CUSTOMER, "Casey Driver")
    mechanic = create_account(db, Role.MECHANIC, "Bea Mechanic")
    started = start_session(db, customer, Stage.LIVE, mechanic=mechanic)
    message = media.post_photo(
        db,
        customer.actor,
        started.session_id,
        _jpeg(),
        media_dir=settings.media_dir,
        max_bytes=settings.max_upload_bytes,
    )
    return message


def _stored(db: Database, message: MessageOut) -> tuple[tuple[str, str], datetime]:
    """The photo's and thumbnail's paths under MEDIA_DIR, and when the message was sent."""
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


def _write(path: Path, *, age_seconds: float) -> None:
    path.write_bytes(_jpeg())
    moment = time.time() - age_seconds
    os.utime(path, (moment, moment))


def test_files_no_message_names_are_removed_once_old_but_a_fresh_one_is_kept(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = _photo_in_live_session(db, settings)
    folder = settings.media_dir / str(message.session_id)
    crashed = uuid.uuid4().hex
    stray = [folder / f"{crashed}.jpg", folder / f"{crashed}.thumb.jpg"]
    for path in stray:
        _write(path, age_seconds=OLD)
    in_flight = folder / f"{uuid.uuid4().hex}.jpg"
    _write(in_flight, age_seconds=5)
    not_ours = settings.media_dir / "backup" / "logo.jpg"  # outside every session's folder
    not_ours.parent.mkdir()
    _write(not_ours, age_seconds=OLD)
    kept = sorted(p for p in folder.iterdir() if p not in stray)
    assert len(kept) == 3  # the real photo, its thumbnail, and the upload in flight

    dry = _doctor(monkeypatch, db, settings, "--json")
    assert dry.exit_code == 1, dry.output
    report = _report(dry)
    [problem] = _media_problems(report)
    assert problem["check"] == "media_file_unnamed"
    assert problem["repairable"] is True
    assert problem["session_id"] == str(message.session_id)
    assert problem["files"] == sorted(f"{message.session_id}/{p.name}" for p in stray)
    assert "10 minutes" in problem["repair"]
    assert report["summary"]["media"] == {"unnamed_files": 2, "messages_missing_files": 0}
    assert any("less than 10 minutes ago" in note for note in report["notes"])
    assert all(path.exists() for path in stray), "a dry run removes nothing"

    table = _doctor(monkeypatch, db, settings)
    assert table.exit_code == 1, table.output
    assert "media" in table.stdout and f"{crashed}.thumb.jpg" in table.stdout
    assert "1 media file(s) no message names yet were written less than 10" in table.stdout
    assert "Media: 2 file(s) no message names." in table.stdout

    applied = _doctor(monkeypatch, db, settings, "--apply", "--json")
    assert applied.exit_code == 0, applied.output
    assert _report(applied)["after"]["media"]["unnamed_files"] == 0
    assert not any(path.exists() for path in stray)
    assert sorted(folder.iterdir()) == kept
    assert not_ours.exists(), "only the sessions' folders are pitcrew's"
    with db.read() as s:
        repairs = s.scalars(select(Event).where(Event.kind == Kind.REPAIR)).all()
        assert [e.payload["files"] for e in repairs] == [problem["files"]]

    named, _ = _stored(db, message)
    assert all((settings.media_dir / path).exists() for path in named)


def test_a_message_whose_file_is_gone_is_left_to_a_person(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = _photo_in_live_session(db, settings)
    (lost, _), sent_at = _stored(db, message)
    (settings.media_dir / lost).unlink()

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
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _photo_in_live_session(db, settings)

    dry = _doctor(monkeypatch, db, settings, "--json")
    assert dry.exit_code == 0, dry.output
    report = _report(dry)
    assert _media_problems(report) == [] and report["notes"] == []
    assert report["summary"]["media"] == {"unnamed_files": 0, "messages_missing_files": 0}
    table = _doctor(monkeypatch, db, settings)
    assert table.exit_code == 0 and "No problems" in table.stdout
    assert "Media" not in table.stdout
