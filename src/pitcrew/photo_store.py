"""Where photo bytes live: a folder on this host, or the database every host shares.

A photo message names its image and thumbnail by a key (``<session id>/<name>.<ext>``); the
store turns a key into bytes. Two stores exist because the two deployments differ:

- ``directory`` (MEDIA_DIR): files on this host. Right for one server on SQLite, where the
  database is a file on the same disk anyway. Backups take the database and MEDIA_DIR.
- ``database``: a row per file in ``media_files``. Right for several hosts sharing one
  PostgreSQL, where a folder on one host is missing on the others; the photos then travel
  with every backup of the database and nothing else needs copying.

``MEDIA_STORE=auto`` (the default) takes ``database`` on PostgreSQL and ``directory`` on
SQLite. Either store writes a file for good before the message naming it commits, so a
crash leaves at most a file no message names (which ``pitcrew doctor`` finds), never a
message without its file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session as DbSession

from pitcrew.config import MediaStore
from pitcrew.db import Database
from pitcrew.models import MediaFile, utcnow


class PhotoStore(Protocol):
    """What the chat, the photo routes and the doctor need of any store."""

    @property
    def where(self) -> str:
        """Where the files are, in the operator's words (for the doctor's notes)."""
        ...

    def put(self, files: dict[str, bytes]) -> None:
        """Keep every file for good (all or none) before any message names them."""
        ...

    def get(self, key: str) -> bytes | None:
        """The file's bytes; None when it is missing."""
        ...

    def remove(self, keys: Iterable[str]) -> None:
        """Delete files; one already gone is not an error."""
        ...

    def listing(self) -> dict[str, datetime]:
        """Every file pitcrew keeps here, by key, with when it was written."""
        ...


def choose(name: MediaStore, *, media_dir: Path, db: Database) -> PhotoStore:
    """The store a setting names; ``auto`` follows the database, as the module says why."""
    folder = DirectoryStore(media_dir)
    if name == "database" or (name == "auto" and db.is_postgres):
        return DatabaseStore(db, earlier=folder)
    return folder


def is_key(key: str) -> bool:
    """A key names a file inside a session's folder, and nothing outside it."""
    folder, _, name = key.partition("/")
    return _session_id(folder) is not None and bool(name) and "/" not in name and name[0] != "."


def _check_key(key: str) -> str:
    if not is_key(key):
        raise ValueError(f"not a photo key: {key!r}")
    return key


def _session_id(name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(name)
    except ValueError:
        return None


@dataclass(frozen=True)
class DirectoryStore:
    """Files under MEDIA_DIR, written durably: temp file, fsync, rename, folder fsync."""

    root: Path

    @property
    def where(self) -> str:
        return f"{self.root.resolve()} (MEDIA_DIR)"

    def put(self, files: dict[str, bytes]) -> None:
        root = self.root.resolve()
        written: list[str] = []
        try:
            for key, data in files.items():
                target = self._path(key)
                created = not target.parent.exists()
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_durably(target, data)
                written.append(key)
                _fsync_dir(target.parent)
                if created:
                    _fsync_dir(root)
        except BaseException:
            self.remove(written)
            raise

    def get(self, key: str) -> bytes | None:
        if not is_key(key):
            return None
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None

    def remove(self, keys: Iterable[str]) -> None:
        for key in keys:
            if is_key(key):
                with contextlib.suppress(FileNotFoundError):
                    self._path(key).unlink()

    def listing(self) -> dict[str, datetime]:
        """Only folders named by a session id are pitcrew's; anything else in MEDIA_DIR was put
        there by someone else and is never listed, so never removed."""
        root = self.root.resolve()
        found: dict[str, datetime] = {}
        if not root.is_dir():
            return found
        for folder in root.iterdir():
            if not folder.is_dir() or _session_id(folder.name) is None:
                continue
            for path in folder.iterdir():
                with contextlib.suppress(FileNotFoundError):  # removed while we looked
                    if path.is_file() and not path.name.startswith("."):
                        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                        found[f"{folder.name}/{path.name}"] = written
        return found

    def _path(self, key: str) -> Path:
        return self.root.resolve() / _check_key(key)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_durably(target: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: the target is whole or absent."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed before the rename)
        dir=target.parent, prefix=".upload-", suffix=".part", delete=False
    )
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise


@dataclass(frozen=True)
class DatabaseStore:
    """Rows of ``media_files``: every host sharing the database reads every photo.

    Photos a server kept in MEDIA_DIR before it switched to this store stay readable from
    ``earlier`` on the host that has them, and the doctor still sees them there.
    """

    db: Database
    earlier: DirectoryStore | None = None

    @property
    def where(self) -> str:
        return "the database (table media_files, MEDIA_STORE=database)"

    def put(self, files: dict[str, bytes]) -> None:
        for key in files:
            _check_key(key)
        now = utcnow()
        rows = [{"key": key, "data": data, "created_at": now} for key, data in files.items()]

        def write(s: DbSession) -> None:
            s.execute(insert(MediaFile), rows)

        self.db.run(write)

    def get(self, key: str) -> bytes | None:
        with self.db.read() as s:
            data = s.scalar(select(MediaFile.data).where(MediaFile.key == key))
        if data is None and self.earlier is not None:
            return self.earlier.get(key)
        return data

    def remove(self, keys: Iterable[str]) -> None:
        doomed = list(keys)
        if not doomed:
            return

        def forget(s: DbSession) -> None:
            s.execute(delete(MediaFile).where(MediaFile.key.in_(doomed)))

        self.db.run(forget)
        if self.earlier is not None:
            self.earlier.remove(doomed)

    def listing(self) -> dict[str, datetime]:
        found = self.earlier.listing() if self.earlier is not None else {}
        with self.db.read() as s:
            for key, written in s.execute(select(MediaFile.key, MediaFile.created_at)):
                found[key] = written
        return found
