"""What the doctor found: each problem with its planned repair, and the report of them all.

A problem with nothing to change or remove is one only a person can judge; the report keeps
both kinds, so the dry run, ``--apply`` and ``--json`` all tell the operator the same story.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pitcrew.doctor.shape import Shape


def plain(value: Any) -> Any:
    """A value as JSON carries it (ids and moments as text)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def as_uuid(value: Any) -> uuid.UUID | None:
    """An id from either database: SQLite's text, PostgreSQL's uuid, or none."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def uuid_of(value: Any) -> uuid.UUID:
    found = as_uuid(value)
    assert found is not None
    return found


@dataclass(frozen=True)
class Change:
    """One row's planned update: the values it must still have, and the values it gets."""

    table: str
    id: uuid.UUID
    before: dict[str, Any]
    after: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "id": str(self.id),
            "before": {k: plain(v) for k, v in self.before.items()},
            "after": {k: plain(v) for k, v in self.after.items()},
        }


@dataclass
class Problem:
    """One thing wrong, where, and the repair (nothing to change or remove: a person decides)."""

    check: str
    invariants: tuple[int, ...]
    request_id: uuid.UUID | None
    session_id: uuid.UUID | None
    state: str
    repair: str
    changes: tuple[Change, ...] = ()
    candidates: tuple[uuid.UUID, ...] = ()
    rows: tuple[uuid.UUID, ...] = ()  # data checks: every offending row
    people: tuple[uuid.UUID, ...] = ()  # whom a repair concerns (customer, mechanics)
    files: tuple[str, ...] = ()  # stored photos the repair removes, by key

    @property
    def repairable(self) -> bool:
        return bool(self.changes or self.files)

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "invariants": list(self.invariants),
            "request_id": plain(self.request_id),
            "session_id": plain(self.session_id),
            "problem": self.state,
            "repair": self.repair,
            "repairable": self.repairable,
            "changes": [c.as_json() for c in self.changes],
            "candidates": [str(c) for c in self.candidates],
            "rows": [str(r) for r in self.rows],
            "files": list(self.files),
        }


@dataclass
class Report:
    """Every problem of one database, and how many rows broke each invariant."""

    shape: Shape
    problems: list[Problem]
    violations: dict[str, int]
    applied: bool = False
    notes: list[str] = field(default_factory=list)  # what was looked at and left alone

    @property
    def database(self) -> str:
        return self.shape.kind

    @property
    def clean(self) -> bool:
        return not self.problems

    @property
    def repairable(self) -> list[Problem]:
        return [p for p in self.problems if p.repairable]

    @property
    def for_a_person(self) -> list[Problem]:
        return [p for p in self.problems if not p.repairable]

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "applied": self.applied,
            "clean": self.clean,
            "problems": [p.as_json() for p in self.problems],
            "notes": self.notes,
            "summary": {
                "problems": len(self.problems),
                "repairable": len(self.repairable),
                "needs_a_person": len(self.for_a_person),
                "violations": self.violations,
            },
        }
