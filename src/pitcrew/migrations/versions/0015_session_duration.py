"""How long each completed session took, from going live to completion, in whole seconds.

Sessions completed before this revision get theirs from ``started_at`` and ``ended_at``.

Revision ID: 0015
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None

# Whole seconds from started_at to ended_at, as each database computes them.
SECONDS = {
    "postgresql": "CAST(FLOOR(EXTRACT(EPOCH FROM (ended_at - started_at))) AS INTEGER)",
    # julianday is a float of days: rounded to the millisecond before the whole seconds are cut.
    "sqlite": "CAST(ROUND((julianday(ended_at) - julianday(started_at)) * 86400, 3) AS INTEGER)",
}
BACKFILL = (
    "UPDATE sessions SET duration_seconds = CASE WHEN {s} < 0 THEN 0 ELSE {s} END"
    " WHERE status = 'completed' AND started_at IS NOT NULL AND ended_at IS NOT NULL"
)


def upgrade() -> None:
    op.add_column("sessions", sa.Column("duration_seconds", sa.Integer(), nullable=True))
    op.execute(BACKFILL.format(s=SECONDS[op.get_bind().dialect.name]))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("duration_seconds")
