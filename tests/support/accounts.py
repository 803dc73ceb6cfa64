"""Accounts with a sign-in token, for tests that talk to a real server over HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from pitcrew.db import Database
from pitcrew.models import Role
from tests.support.factories import PASSWORD, Account, bearer, create_account, token_for

__all__ = ["PASSWORD", "TokenAccount", "account"]


@dataclass(frozen=True)
class TokenAccount(Account):
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


def account(db: Database, role: Role) -> TokenAccount:
    """A new account of ``role`` (a mechanic on duty), signed in with a bearer token."""
    made = create_account(db, role)
    return TokenAccount(actor=made.actor, email=made.email, token=token_for(db, made))
