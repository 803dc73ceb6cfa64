"""Accounts signed in with a bearer token, for tests that talk to a real server over HTTP."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pitcrew import auth
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.flow import Actor
from pitcrew.models import Role

PASSWORD = "correct horse battery"


@dataclass
class Account:
    actor: Actor
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def account(db: Database, role: Role) -> Account:
    """A new account of ``role`` (a mechanic on duty), with a sign-in token."""
    user = auth.create_user(
        db,
        email=f"{role.value}-{uuid.uuid4().hex[:8]}@example.com",
        name=f"{role.value.title()} {uuid.uuid4().hex[:4]}",
        role=role,
        password=PASSWORD,
        on_duty=role == Role.MECHANIC,
    )
    token, _ = auth.login(db, user.email, PASSWORD, Settings().token_ttl)
    return Account(auth.actor_of(user), user.email, token)
