"""Proof about an account: email links (confirm an address, reset a password) and known
browsers; and whether an account's address is confirmed (every existing account is).

Revision ID: 0007
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0012"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)  # as revision 0001 (the DDL of models.UTCDateTime)


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: SQLite's table rebuild would drop the
    # expression index on lower(email).
    op.add_column(
        "users",
        sa.Column("email_verified", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.create_table(
        "account_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "purpose IN ('verify_email', 'reset_password', 'device')",
            name=op.f("ck_account_tokens_purpose"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_account_tokens")),
    )
    op.create_index("ix_account_tokens_user_id_purpose", "account_tokens", ["user_id", "purpose"])
    op.create_index("ix_account_tokens_expires_at", "account_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_account_tokens_expires_at", table_name="account_tokens")
    op.drop_index("ix_account_tokens_user_id_purpose", table_name="account_tokens")
    op.drop_table("account_tokens")
    op.drop_column("users", "email_verified")
