"""What each measurement starts from: numbered rows for pgbench, accounts and requests for HTTP.

pgbench cannot make UUIDs from a counter, so its rows get ids built from numbers
(``b0000000-0000-4000-8000-000000000042`` is request 42, ``a0…`` its session, ``c1…``/``c2…``
customer and mechanic n); bench/pgbench/*.sql build the same ids. Everything the HTTP side
uses is made through pitcrew's own functions.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import psycopg

from pitcrew import auth, flow
from pitcrew.db import Database
from pitcrew.models import AuthToken, Role, utcnow
from pitcrew.schemas import IntakeIn

PGBENCH_USERS = 64
ON_DUTY = 5  # mechanics on duty through the whole run: each new request notifies them

INTAKE = {
    "vehicle": {"year": 2016, "make": "Honda", "model": "Civic", "mileage": 84000},
    "issue_description": "Grinding noise when braking",
    "session_type": "chat",
    "plan_code": "standard",
}


def _numbered(prefix: str, expr: str | int) -> str:
    return f"('{prefix}-0000-4000-8000-' || lpad(({expr})::text, 12, '0'))::uuid"


def seed_pgbench(conn: psycopg.Connection[tuple[object, ...]], pending: int) -> None:
    """Numbered customers and mechanics (``ON_DUTY`` more on duty), and ``pending`` linked
    pending session/request pairs."""
    for prefix, role, count, on_duty in (
        ("c1000000", "customer", PGBENCH_USERS, "false"),
        ("c2000000", "mechanic", PGBENCH_USERS, "false"),
        ("c3000000", "mechanic", ON_DUTY, "true"),
    ):
        conn.execute(
            "INSERT INTO users (id, email, name, role, password_hash, on_duty, notify_by_email,"
            f" created_at) SELECT {_numbered(prefix, 'i')}, 'pgbench-{prefix}-' || i"
            f" || '@bench.invalid', 'Bench {role.title()}', '{role}', NULL, {on_duty}, false,"
            f" now() FROM generate_series(0, {count - 1}) i"
        )
    customer = _numbered("c1000000", f"i % {PGBENCH_USERS}")
    conn.execute(
        "INSERT INTO sessions (id, customer_user_id, type, plan_code, status, created_at)"
        f" SELECT {_numbered('a0000000', 'i')}, {customer}, 'chat', 'standard', 'pending', now()"
        f" FROM generate_series(1, {pending}) i"
    )
    conn.execute(
        "INSERT INTO session_requests (id, customer_id, customer_name, session_type, plan_code,"
        " status, parent_session_id, created_at)"
        f" SELECT {_numbered('b0000000', 'i')}, {customer}, 'Bench Customer', 'chat', 'standard',"
        f" 'pending', {_numbered('a0000000', 'i')}, now() FROM generate_series(1, {pending}) i"
    )
    conn.execute("ANALYZE")


def accepted_numbered(conn: psycopg.Connection[tuple[object, ...]], first: int, last: int) -> int:
    """How many of the numbered requests first..last are accepted (pgbench's winners)."""
    row = conn.execute(
        "SELECT count(*) FROM session_requests r JOIN sessions s ON s.id = r.parent_session_id"
        f" WHERE r.id BETWEEN {_numbered('b0000000', first)} AND {_numbered('b0000000', last)}"
        " AND r.status = 'accepted' AND s.status = 'waiting' AND s.mechanic_id = r.mechanic_id"
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


@dataclass(frozen=True)
class Account:
    actor: auth.Actor
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def accounts(db: Database, role: Role, count: int, *, label: str, on_duty: bool) -> list[Account]:
    """Accounts signed in by bearer token.

    Tokens are stored as pitcrew stores them (the SHA-256 of a random token, see
    ``pitcrew.auth``) instead of through a password login, which would spend a third of a second
    of argon2 per account; the run checks one of them through ``/api/auth/me``.
    """
    made = []
    for i in range(count):
        user = auth.create_user(
            db,
            email=f"{label}-{i}-{uuid.uuid4().hex[:6]}@bench.invalid",
            name=f"{label.title()} {i}",
            role=role,
            password=None,
            on_duty=on_duty,
        )
        made.append(Account(auth.actor_of(user), _issue_token(db, user.id)))
    return made


def _issue_token(db: Database, user_id: uuid.UUID) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = AuthToken(
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        user_id=user_id,
        created_at=now,
        expires_at=now + timedelta(days=1),
    )
    db.run(lambda s: s.add(row))
    return token


def pending_requests(db: Database, customer: auth.Actor, count: int) -> list[str]:
    """``count`` pending requests made the way a customer makes them."""
    body = IntakeIn.model_validate(INTAKE)
    return [str(flow.start_intake(db, customer, body)[0].request_id) for _ in range(count)]
