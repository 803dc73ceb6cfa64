"""A photo whose session ends while it uploads leaves nothing behind.

The files are written before the message row (so a row never names a missing file); when the
session is completed or cancelled in between, the row is refused and the files must go too.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from pitcrew import flow, media, photo_store
from pitcrew.chat import Attachment
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import SessionMessage
from pitcrew.photo_store import PhotoStore
from tests.support.factories import Person, Stage, start_session

pytestmark = pytest.mark.usefixtures("quick_passwords")


@pytest.fixture
def photos(db: Database, settings: Settings) -> PhotoStore:
    return photo_store.choose(settings.media_store, media_dir=settings.media_dir, db=db)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 30)).save(out, "JPEG")
    return out.getvalue()


def _files(photos: PhotoStore) -> list[str]:
    return sorted(photos.listing())


def _messages(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(SessionMessage)) or 0)


ENDINGS: dict[str, Callable[[Database, Person, Person, uuid.UUID], Any]] = {
    "completed": lambda db, c, m, sid: flow.complete(db, m.actor, sid, "Done."),
    "cancelled": lambda db, c, m, sid: flow.cancel(db, c.actor, sid, "Found a garage"),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_session_ending_between_the_files_and_the_row_removes_the_files(
    db: Database,
    customer: Person,
    mechanic: Person,
    photos: PhotoStore,
    monkeypatch: pytest.MonkeyPatch,
    ending: str,
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    stored: list[list[str]] = []
    real_store = media.store

    def store_then_end(store: PhotoStore, session_id: uuid.UUID, photo: Any) -> Attachment:
        attachment = real_store(store, session_id, photo)
        stored.append(_files(photos))  # both files are stored now...
        ENDINGS[ending](db, customer, mechanic, session_id)  # ...and the session ends.
        return attachment

    monkeypatch.setattr(media, "store", store_then_end)
    answer = customer.client.post(
        f"/api/sessions/{sid}/photos", files={"photo": ("brakes.jpg", _jpeg(), "image/jpeg")}
    )
    assert answer.status_code == 409, answer.text
    assert ending in answer.json()["error"]["message"]
    (on_disk,) = stored
    assert len(on_disk) == 2, "the photo and its thumbnail were written before the row"
    assert _files(photos) == [], "the refused photo's files are still stored"
    assert _messages(db) == 0
