"""The two photo stores keep the same promises, and the default suits the database.

Each promise is checked against both stores on both databases: a kept file reads back, a
key never reaches outside its session's folder, a failed write keeps nothing, and removing
is quiet about what is already gone. On PostgreSQL the default is the database, so that
every host sharing it serves every photo.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pitcrew import photo_store
from pitcrew.config import MediaStore
from pitcrew.db import Database
from pitcrew.models import MediaFile
from pitcrew.photo_store import DatabaseStore, DirectoryStore, PhotoStore

STORES: dict[str, Callable[[Database, Path], PhotoStore]] = {
    "directory": lambda db, folder: DirectoryStore(folder),
    "database": lambda db, folder: DatabaseStore(db),
}


@pytest.fixture(params=list(STORES))
def photos(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> PhotoStore:
    return STORES[request.param](db, tmp_path / "media")


def _key(name: str = "photo.jpg") -> str:
    return f"{uuid.uuid4()}/{name}"


def test_a_kept_file_reads_back_and_is_listed_until_removed(photos: PhotoStore) -> None:
    photo, thumbnail = _key("a.jpg"), _key("a.thumb.jpg")
    photos.put({photo: b"photo bytes", thumbnail: b"thumbnail bytes"})
    assert photos.get(photo) == b"photo bytes"
    assert photos.get(thumbnail) == b"thumbnail bytes"
    assert sorted(photos.listing()) == sorted([photo, thumbnail])
    photos.remove([photo, photo, _key()])  # twice, and one that never was: no error
    assert photos.get(photo) is None
    assert list(photos.listing()) == [thumbnail]


@pytest.mark.parametrize("key", ["../secret.jpg", "x/../../etc/passwd", "not-a-session/a.jpg"])
def test_a_key_outside_a_sessions_folder_names_nothing(photos: PhotoStore, key: str) -> None:
    assert photos.get(key) is None
    assert not photo_store.is_key(key)


def test_a_failed_write_keeps_nothing(photos: PhotoStore) -> None:
    """The photo and its thumbnail are kept together or not at all."""
    good, bad = _key("a.jpg"), "not a key"
    with pytest.raises(ValueError):
        photos.put({good: b"photo bytes", bad: b"thumbnail bytes"})
    assert photos.get(good) is None
    assert photos.listing() == {}


@pytest.mark.parametrize(
    ("setting", "sqlite", "postgres"),
    [
        ("auto", DirectoryStore, DatabaseStore),
        ("directory", DirectoryStore, DirectoryStore),
        ("database", DatabaseStore, DatabaseStore),
    ],
)
def test_the_setting_chooses_the_store(
    db: Database, tmp_path: Path, setting: MediaStore, sqlite: type, postgres: type
) -> None:
    chosen = photo_store.choose(setting, media_dir=tmp_path, db=db)
    assert type(chosen) is (postgres if db.is_postgres else sqlite)


def test_photos_kept_in_the_folder_stay_readable_after_moving_to_the_database(
    db: Database, tmp_path: Path
) -> None:
    folder = DirectoryStore(tmp_path / "media")
    earlier = _key("before.jpg")
    folder.put({earlier: b"from the folder"})
    store = photo_store.choose("database", media_dir=tmp_path / "media", db=db)
    later = _key("after.jpg")
    store.put({later: b"from the database"})
    assert store.get(earlier) == b"from the folder"
    assert store.get(later) == b"from the database"
    assert sorted(store.listing()) == sorted([earlier, later])
    assert folder.get(later) is None, "new photos go to the database only"
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(MediaFile)) == 1
