"""Photos kept in the database, so that several hosts sharing it serve every photo.

Used when ``MEDIA_STORE`` is ``database`` (the default on PostgreSQL); photos kept in
MEDIA_DIR before stay readable there.

Revision ID: 0012
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)  # as revision 0001 (the DDL of models.UTCDateTime)


def upgrade() -> None:
    op.create_table(
        "media_files",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_media_files")),
    )


def downgrade() -> None:
    op.drop_table("media_files")
