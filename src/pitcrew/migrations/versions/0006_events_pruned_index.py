"""Where pruning has reached in the events log, found without reading the log.

Pruning leaves an ``events.pruned`` mark saying the highest event id it deleted; every server
reads the newest mark at its start, and a stream asked to replay from below it tells the page
to reload. The partial index makes that read one index entry however long the log is.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_events_pruned ON events (id) WHERE kind = 'events.pruned'")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_events_pruned")
