"""Accounts an admin deactivated: ``users.deactivated_at``, NULL while the account is active.

A deactivated account cannot sign in; it keeps its rows (sessions, messages, reports) so
that its history stays readable, and an admin can reactivate it.

Revision ID: 0014
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0016"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)  # as revision 0001 (the DDL of models.UTCDateTime)


def upgrade() -> None:
    op.add_column("users", sa.Column("deactivated_at", UTC_DATETIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deactivated_at")
