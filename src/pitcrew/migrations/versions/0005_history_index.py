"""The History tab's order as an index: a mechanic's requests, newest accept first.

The tab lists accepted and cancelled requests together, newest first; the index on
(mechanic_id, status, accepted_at) can only give that order one status at a time, so a busy
mechanic's first page sorted their whole history. With (mechanic_id, accepted_at, id) a page
reads as many index entries as it shows, however deep the cursor.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_session_requests_mechanic_accepted"
        " ON session_requests (mechanic_id, accepted_at DESC, id DESC)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_session_requests_mechanic_accepted")
