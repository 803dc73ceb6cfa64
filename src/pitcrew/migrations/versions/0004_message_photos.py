"""Photos in the chat: a message may carry one image, stored on disk under MEDIA_DIR.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import SAWarning

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PHOTO_TYPES = "attachment_type IN ('image/jpeg', 'image/png', 'image/webp')"
COMPLETE = (
    "attachment_path IS NULL OR (attachment_type IS NOT NULL AND thumbnail_path IS NOT NULL"
    " AND attachment_width > 0 AND attachment_height > 0 AND attachment_bytes > 0)"
)


def upgrade() -> None:
    with (
        warnings.catch_warnings(),
        op.batch_alter_table("session_messages", schema=None) as batch_op,
    ):
        # SQLite rebuilds the table to add the CHECKs; reflecting the users table it points at
        # cannot read the expression index on lower(email), which the rebuild does not touch.
        warnings.filterwarnings("ignore", message=".*expression-based index", category=SAWarning)
        batch_op.add_column(sa.Column("attachment_path", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("attachment_type", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("attachment_width", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("attachment_height", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("attachment_bytes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("thumbnail_path", sa.String(length=255), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_session_messages_attachment_type"), f"attachment_type IS NULL OR {PHOTO_TYPES}"
        )
        batch_op.create_check_constraint(op.f("ck_session_messages_attachment_complete"), COMPLETE)


def downgrade() -> None:
    with op.batch_alter_table("session_messages", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_session_messages_attachment_complete"), type_="check")
        batch_op.drop_constraint(op.f("ck_session_messages_attachment_type"), type_="check")
        batch_op.drop_column("thumbnail_path")
        batch_op.drop_column("attachment_bytes")
        batch_op.drop_column("attachment_height")
        batch_op.drop_column("attachment_width")
        batch_op.drop_column("attachment_type")
        batch_op.drop_column("attachment_path")
