"""Photos in the chat: checked by content, stripped of metadata, stored safely, shown to two.

The live display on both sides is checked in a real browser in test_video_browser.py; here
the API, the stream and the files on disk.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from PIL import ExifTags, Image, PngImagePlugin
from sqlalchemy import select

from pitcrew import chat, photo_store
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Role, SessionMessage
from pitcrew.photo_store import PhotoStore
from tests.support.factories import Person, Stage, start_session
from tests.support.room import listen

pytestmark = pytest.mark.usefixtures("quick_passwords")

MAX_UPLOAD_MB = 0.25
GPS = {1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 3.0)}


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db.url if isinstance(db.url, str) else str(db.url),
        media_dir=tmp_path / "media",
        max_upload_mb=MAX_UPLOAD_MB,
    )


@pytest.fixture
def photos(db: Database, settings: Settings) -> PhotoStore:
    """Where the server keeps photos: MEDIA_DIR on SQLite, the database on PostgreSQL."""
    return photo_store.choose(settings.media_store, media_dir=settings.media_dir, db=db)


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Model] = "Pocket 12"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = GPS
    return exif


def photo_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (64, 48), *, orientation: int = 1
) -> bytes:
    """A small picture as a phone would send it: with its location and camera in EXIF."""
    image = Image.new("RGB", size, (200, 40, 30))
    image.paste((20, 90, 200), (0, 0, size[0] // 2, size[1]))
    out = io.BytesIO()
    extra: dict[str, Any] = {"exif": _exif(orientation)}
    if fmt == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", "Taken at 52.52N 13.40E")
        extra["pnginfo"] = text
    image.save(out, fmt, **extra)
    return out.getvalue()


def _upload(
    person: Person,
    sid: str,
    data: bytes,
    name: str = "photo.jpg",
    content_type: str = "image/jpeg",
    caption: str | None = None,
) -> Any:
    form = {"caption": caption} if caption is not None else None
    return person.client.post(
        f"/api/sessions/{sid}/photos",
        files={"photo": (name, data, content_type)},
        data=form,
    )


def _files(photos: PhotoStore) -> list[str]:
    return sorted(photos.listing())


def _attachments(db: Database) -> list[str | None]:
    with db.read() as s:
        return list(s.scalars(select(SessionMessage.attachment_path)))


def _has_location(data: bytes) -> bool:
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    return bool(exif.get_ifd(ExifTags.IFD.GPSInfo)) or ExifTags.IFD.GPSInfo in exif


def test_photos_from_both_sides_reach_both_sides(
    db: Database, live: str, customer: Person, mechanic: Person
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    with listen(live, customer) as at_customer, listen(live, mechanic) as at_mechanic:
        sent = _upload(customer, sid, photo_bytes(), caption="The warning light")
        assert sent.status_code == 201, sent.text
        back = _upload(mechanic, sid, photo_bytes("PNG"), "diagram.png", "image/png")
        assert back.status_code == 201, back.text
        for reader in (at_customer, at_mechanic):
            got = [
                m.data["message"]
                for m in reader.until(
                    lambda m: (
                        m.kind == "message.created" and m.data["message"]["id"] == back.json()["id"]
                    )
                )
                if m.kind == "message.created"
            ]
            assert [m["id"] for m in got] == [sent.json()["id"], back.json()["id"]]
            assert got[0]["body"] == "The warning light"
            assert got[0]["photo"]["content_type"] == "image/jpeg"
            assert got[1]["photo"]["content_type"] == "image/png"
    for person in (customer, mechanic):
        listed = person.client.get(f"/api/sessions/{sid}/messages").json()
        photos = [m["photo"] for m in listed]
        assert [p["content_type"] for p in photos] == ["image/jpeg", "image/png"]
        for photo in photos:
            full = person.client.get(photo["url"])
            assert full.status_code == 200
            assert full.headers["content-type"] == photo["content_type"]
            thumb = person.client.get(photo["thumbnail_url"])
            assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
            assert Image.open(io.BytesIO(full.content)).size == (64, 48)


@pytest.mark.parametrize(
    ("fmt", "name", "content_type"),
    [("JPEG", "p.jpg", "image/jpeg"), ("PNG", "p.png", "image/png"), ("WEBP", "p.webp", "")],
)
def test_stored_photo_keeps_no_location_or_other_metadata(
    db: Database,
    customer: Person,
    mechanic: Person,
    photos: PhotoStore,
    fmt: str,
    name: str,
    content_type: str,
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    original = photo_bytes(fmt)
    assert _has_location(original)  # the test photo does carry a location
    sent = _upload(customer, sid, original, name, content_type or "application/octet-stream")
    assert sent.status_code == 201, sent.text
    (path,) = [p for p in _attachments(db) if p]
    stored = photos.get(path)
    assert stored is not None
    served = customer.client.get(sent.json()["photo"]["url"]).content
    assert stored == served
    for data in (
        stored,
        served,
        customer.client.get(sent.json()["photo"]["thumbnail_url"]).content,
    ):
        image = Image.open(io.BytesIO(data))
        assert not _has_location(data)
        assert dict(image.getexif()) == {}
        assert b"PhoneCo" not in data and b"52.52N" not in data
        assert not {"exif", "xmp", "comment", "Comment"} & set(image.info)
    assert Image.open(io.BytesIO(stored)).format == fmt


def test_photo_is_turned_upright_as_the_camera_meant(
    db: Database, customer: Person, mechanic: Person
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    sent = _upload(customer, sid, photo_bytes(size=(60, 20), orientation=6))  # rotated 90°
    assert sent.status_code == 201, sent.text
    photo = sent.json()["photo"]
    assert (photo["width"], photo["height"]) == (20, 60)
    served = Image.open(io.BytesIO(customer.client.get(photo["url"]).content))
    assert served.size == (20, 60)


def _refusals() -> list[Any]:
    whole = photo_bytes("JPEG", (400, 300))
    noisy = io.BytesIO()
    Image.effect_noise((700, 700), 80).convert("RGB").save(noisy, "JPEG", quality=95)
    big = noisy.getvalue()
    assert len(big) > MAX_UPLOAD_MB * 1024 * 1024
    huge = io.BytesIO()
    Image.new("1", (9000, 8000)).save(huge, "PNG")  # tiny file, 72 million pixels
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    cases = [
        ("text named .jpg", b"Not a photo, just words.\n" * 20, 422, "not a JPEG, PNG or WebP"),
        ("truncated", whole[: len(whole) // 2], 422, "damaged or cut short"),
        ("oversized", big, 413, f"at most {MAX_UPLOAD_MB:g} MB"),
        ("too many pixels", huge.getvalue(), 422, "million"),
        ("GIF named .jpg", gif.getvalue(), 422, "not a JPEG, PNG or WebP"),
        ("empty", b"", 422, "empty"),
    ]
    return [pytest.param(*case, id=case[0]) for case in cases]


@pytest.mark.parametrize(("what", "data", "status", "words"), _refusals())
def test_refused_upload_stores_nothing(
    db: Database,
    customer: Person,
    mechanic: Person,
    photos: PhotoStore,
    what: str,
    data: bytes,
    status: int,
    words: str,
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    answer = _upload(customer, sid, data, "photo.jpg", "image/jpeg")
    assert answer.status_code == status, f"{what}: {answer.text}"
    error = answer.json()["error"]
    assert words in error["message"], error
    assert _files(photos) == []
    assert _attachments(db) == []
    assert customer.client.get(f"/api/sessions/{sid}/messages").json() == []


def test_upload_far_over_the_limit_is_refused_before_it_is_read(
    db: Database, customer: Person, mechanic: Person, photos: PhotoStore
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    answer = _upload(customer, sid, b"\xff" * int(MAX_UPLOAD_MB * 1024 * 1024 * 2))
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert f"at most {MAX_UPLOAD_MB:g} MB" in answer.json()["error"]["message"]
    assert _files(photos) == []
    # Every other route keeps the usual small limit.
    too_long = customer.client.post(
        f"/api/sessions/{sid}/messages", content=b"{" + b" " * 70_000 + b"}"
    )
    assert too_long.status_code == 413


def test_photo_only_from_a_party_of_an_open_session(
    db: Database,
    customer: Person,
    mechanic: Person,
    make_user: Callable[..., Person],
    photos: PhotoStore,
) -> None:
    closed = start_session(db, customer, Stage.CANCELLED, session_type="chat").sid
    assert _upload(customer, closed, photo_bytes()).status_code == 409
    sid, rid = start_session(db, customer, session_type="chat").ids
    mechanic.client.post("/api/mechanic/accept", json={"request_id": rid})
    mechanic.client.post(f"/api/sessions/{sid}/join")
    for outsider in (make_user(Role.MECHANIC), make_user(Role.CUSTOMER)):
        assert _upload(outsider, sid, photo_bytes()).status_code == 404
    mechanic.client.post(f"/api/sessions/{sid}/complete", json={"summary": "Done."})
    assert _upload(customer, sid, photo_bytes()).status_code == 409
    assert _files(photos) == [] and _attachments(db) == []


def test_photo_is_served_only_to_the_two_parties_and_never_as_html(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    photo = _upload(customer, sid, photo_bytes()).json()["photo"]
    for url in (photo["url"], photo["thumbnail_url"]):
        answer = mechanic.client.get(url)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/jpeg"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in answer.headers["content-security-policy"]
        for outsider in (make_user(Role.MECHANIC), make_user(Role.CUSTOMER)):
            hidden = outsider.client.get(url)
            assert hidden.status_code == 404, hidden.text
            assert hidden.json()["error"]["code"] == "photo_not_found"
        # The operator's console shows a session's chat read-only, photos included.
        assert make_user(Role.ADMIN).client.get(url).status_code == 200
        assert mechanic.client.get(url, headers={"Authorization": ""}).status_code == 401
    other_sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    elsewhere = photo["url"].replace(sid, other_sid)
    assert customer.client.get(elsewhere).status_code == 404
    text_message = customer.client.post(f"/api/sessions/{sid}/messages", json={"body": "Hi"})
    no_photo = f"/api/sessions/{sid}/photos/{text_message.json()['id']}"
    assert customer.client.get(no_photo).status_code == 404
    assert customer.client.get(f"/api/sessions/{sid}/photos/{uuid.uuid4()}").status_code == 404


def test_a_failed_commit_leaves_no_file_behind(
    db: Database,
    customer: Person,
    mechanic: Person,
    photos: PhotoStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The files are whole on disk before the row; a failed commit leaves neither row nor file."""
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid
    on_disk: list[list[str]] = []

    def crash(*args: Any, **kwargs: Any) -> None:
        names = _files(photos)
        on_disk.append(names)
        sizes = [Image.open(io.BytesIO(photos.get(name) or b"")).size for name in names]
        assert sizes == [(64, 48), (64, 48)]
        raise ConnectionError("the database went away")

    monkeypatch.setattr(chat, "post_photo", crash)
    with pytest.raises(ConnectionError):
        _upload(customer, sid, photo_bytes())
    # At the moment of the commit both files were complete, under their final names.
    (names,) = on_disk
    assert [PurePosixPath(p).suffix for p in names] == [".jpg", ".jpg"]
    assert not [p for p in names if PurePosixPath(p).name.startswith(".")]
    assert _attachments(db) == []
    assert _files(photos) == []
    monkeypatch.undo()
    # A later upload works, and every message names files that exist.
    assert _upload(customer, sid, photo_bytes()).status_code == 201
    paths = [p for p in _attachments(db) if p]
    assert paths and all(photos.get(p) is not None for p in paths)


def test_a_failed_write_leaves_no_partial_file(
    db: Database,
    customer: Person,
    mechanic: Person,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
) -> None:
    """A disk that fills up mid-write (photos in MEDIA_DIR) leaves no half-written file."""
    settings.media_store = "directory"
    photos = photo_store.choose("directory", media_dir=settings.media_dir, db=db)
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic, session_type="chat").sid

    def full_disk(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        _upload(customer, sid, photo_bytes())
    monkeypatch.undo()
    assert _files(photos) == [] and _attachments(db) == []
