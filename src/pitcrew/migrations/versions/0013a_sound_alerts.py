"""A mechanic's choice of a short sound for new requests and new messages (off unless chosen).

A plain ADD COLUMN on both databases: rebuilding ``users`` would lose its expression index.

Revision ID: 0013a
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013a"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("sound_alerts", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("users", "sound_alerts")
