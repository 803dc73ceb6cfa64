"""Stored photos against the messages that name them: files nobody names, names of no file.

A photo and its thumbnail are kept in the photo store (MEDIA_DIR or the database, see
``pitcrew.photo_store``) before their message commits, so a crash between the two leaves
files that no message names.
They are safe to remove, but only once they are older than ``GRACE``: a younger file may be
an upload whose message is about to commit, so it is only counted in a note, never removed.

A message whose file is gone is the reverse, and the doctor cannot repair it: only the
sender still has the photo, so a person decides whether to ask for it again or to remove
the message. The check runs on pitcrew databases only; the replaced system kept no photos.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, or_, select

from pitcrew.doctor.problems import Problem, Report
from pitcrew.models import SessionMessage, User, utcnow
from pitcrew.photo_store import PhotoStore

# How old a file no message names must be before it counts as left behind by a crash.
GRACE = timedelta(minutes=10)
UNNAMED = "media_file_unnamed"
MISSING = "media_file_missing"
CHECKS = (UNNAMED, MISSING)


@dataclass
class MediaSurvey:
    """The media problems, and how many unnamed files were too young to judge."""

    problems: list[Problem] = field(default_factory=list)
    young: int = 0

    @property
    def note(self) -> str | None:
        """Told to the operator, so a file left on disk is not taken for a missed one."""
        if not self.young:
            return None
        return (
            f"{self.young} media file(s) no message names yet were written less than"
            f" {_minutes()} minutes ago and were left alone: an upload may still be saving"
            " its message."
        )


def _minutes() -> int:
    return int(GRACE.total_seconds() // 60)


def include(
    report: Report, connection: Connection, photos: PhotoStore, now: datetime | None = None
) -> None:
    """Add a pitcrew database's media problems to ``report``, and a note of files left alone."""
    if not report.shape.is_pitcrew:
        return
    found = survey(connection, photos, now or utcnow())
    report.problems.extend(found.problems)
    if found.note is not None:
        report.notes.append(found.note)
    if found.problems:
        # A missing file is often a doctor run from another folder than the server's.
        report.notes.append(f"Photos were looked for in {photos.where}.")


def survey(connection: Connection, photos: PhotoStore, now: datetime) -> MediaSurvey:
    """Both directions, from one query of the named paths and one listing of the store."""
    named = _named(connection)
    on_disk = photos.listing()
    found = MediaSurvey()
    found.problems.extend(_missing(named, on_disk))
    unnamed: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for relative, modified in sorted(on_disk.items()):
        if relative in named.paths:
            continue
        if now - modified < GRACE:
            found.young += 1
            continue
        folder, _, name = relative.rpartition("/")
        unnamed[(folder, name.split(".")[0] or name)].append(relative)
    found.problems.extend(
        _unnamed(folder, files, max(on_disk[f] for f in files))
        for (folder, _), files in unnamed.items()
    )
    return found


@dataclass
class _Named:
    """Every photo message, and every path the messages name."""

    messages: list[tuple[uuid.UUID, uuid.UUID, str, datetime, dict[str, str]]]
    paths: set[str]


def _named(connection: Connection) -> _Named:
    message = SessionMessage
    rows = connection.execute(
        select(
            message.id,
            message.session_id,
            User.name,
            message.created_at,
            message.attachment_path,
            message.thumbnail_path,
        )
        .join(User, User.id == message.sender_id)
        .where(or_(message.attachment_path.is_not(None), message.thumbnail_path.is_not(None)))
        .order_by(message.created_at, message.id)
    )
    named = _Named(messages=[], paths=set())
    for message_id, session_id, sender, created, photo, thumbnail in rows:
        own = {what: path for what, path in (("photo", photo), ("thumbnail", thumbnail)) if path}
        named.messages.append((message_id, session_id, sender, created, own))
        named.paths.update(own.values())
    return named


def _missing(named: _Named, on_disk: dict[str, datetime]) -> list[Problem]:
    problems = []
    for message_id, session_id, sender, created, paths in named.messages:
        gone = [what for what, path in paths.items() if path not in on_disk]
        if not gone:
            continue
        problem = Problem(
            check=MISSING,
            invariants=(),
            request_id=None,
            session_id=session_id,
            state=(
                f"the photo {sender} sent at {created:%Y-%m-%d %H:%M} UTC has lost its"
                f" {' and its '.join(gone)} file"
            ),
            repair=(
                "needs a person: only the sender still has this photo; ask them to send it"
                " again, or remove the message"
            ),
            rows=(message_id,),
        )
        problems.append(problem)
    return problems


def _unnamed(folder: str, files: list[str], modified: datetime) -> Problem:
    return Problem(
        check=UNNAMED,
        invariants=(),
        request_id=None,
        session_id=uuid.UUID(folder),
        state=(
            f"a photo whose message was never saved: no message names these {len(files)}"
            f" file(s) of the session's folder, last written {modified:%Y-%m-%d %H:%M} UTC"
        ),
        repair=(
            f"remove the file(s): unchanged for over {_minutes()} minutes, so no upload is"
            " still saving them"
        ),
        files=tuple(files),
    )


def remove(photos: PhotoStore, report: Report) -> None:
    """Delete the files a report plans to remove; a failure is said in its row."""
    for problem in report.repairable:
        try:
            photos.remove(problem.files)
        except OSError as error:
            problem.repair += f"; could not remove them ({error.strerror or error})"


def counts(report: Report) -> dict[str, int]:
    """How many unnamed files and how many messages without their file a report holds."""
    return {
        "unnamed_files": sum(len(p.files) for p in report.problems if p.check == UNNAMED),
        "messages_missing_files": sum(1 for p in report.problems if p.check == MISSING),
    }
