"""The mechanic's inbox: "new request" notifications that resolve, and read markers.

``notifications.resolved_at`` marks a notification about a request that closed (taken,
expired, cancelled), found through the new index on ``request_id``; ``session_reads`` holds
how far each party of a session has read its chat.

Revision ID: 0013
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0014"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)  # as revision 0001 (the DDL of models.UTCDateTime)


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("resolved_at", UTC_DATETIME, nullable=True))
    op.create_index("ix_notifications_request_id", "notifications", ["request_id"])
    op.create_table(
        "session_reads",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("read_until", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_session_reads_session_id_sessions"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_session_reads_user_id_users"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["session_messages.id"],
            name="fk_session_reads_message_id_session_messages",
        ),
        sa.PrimaryKeyConstraint("session_id", "user_id", name="pk_session_reads"),
    )


def downgrade() -> None:
    op.drop_table("session_reads")
    op.drop_index("ix_notifications_request_id", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("resolved_at")
