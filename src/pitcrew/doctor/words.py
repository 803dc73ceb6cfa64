"""How a row, a change and a set of invariants are put to the operator, in one short line.

Ids are cut to their first eight characters where a sentence names several; the full ids
are in the report's id column and in ``--json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pitcrew import invariants
from pitcrew.doctor.problems import Change

_NAME_OF = {inv.number: inv.name for inv in invariants.INVARIANTS}


def short(value: Any) -> str:
    return str(value)[:8] if value is not None else "none"


def names(numbers: Iterable[int]) -> str:
    """The invariants' names, as the report's ``check`` column shows them."""
    return ", ".join(_NAME_OF[n] for n in numbers)


def request_words(row: dict[str, Any]) -> str:
    by = f" by {short(row['mechanic_id'])}" if row["mechanic_id"] else ""
    return f"request {row['status']}{by}"


def session_words(row: dict[str, Any]) -> str:
    held = f"held by {short(row['mechanic_id'])}" if row["mechanic_id"] else "no mechanic"
    return f"session {row['status']}, {held}"


def _column_words(change: Change, column: str, value: Any) -> str:
    if column == "parent_session_id":
        return f"link to session {short(value)}"
    if column in ("mechanic_id", "status"):
        return f"{column} {short(change.before.get(column))} → {short(value)}"
    return f"{column} set"


def change_words(change: Change) -> str:
    what = "request" if change.table == "session_requests" else "session"
    parts = [_column_words(change, column, value) for column, value in change.after.items()]
    return f"{what}: {', '.join(parts)}"
