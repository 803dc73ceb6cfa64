"""Completed's and History's search: each session's words in one column, indexed by trigram.

``sessions.search_text`` holds the customer's name, the car (year, make, model, VIN), the
issue and, once completed, the summary. Existing sessions are filled here from their request,
intake and summary. On PostgreSQL a trigram index (the pg_trgm extension, shipped with
PostgreSQL and trusted, so the database's owner may add it) finds a word anywhere in it.

Revision ID: 0016
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0009"
branch_labels = None
depends_on = None

FILL = """
UPDATE sessions SET search_text = trim(
    coalesce((SELECT r.customer_name FROM session_requests r
              WHERE r.parent_session_id = sessions.id), '')
    || coalesce((SELECT {car} || ' ' || i.issue_description FROM intakes i
                 WHERE i.id = sessions.intake_id), '')
    || coalesce(' ' || summary, ''))
"""
CAR = {
    "postgresql": "concat_ws(' ', '', i.vehicle_info->>'year', i.vehicle_info->>'make',"
    " i.vehicle_info->>'model', i.vehicle_info->>'vin')",
    "sqlite": "(' ' || coalesce(json_extract(i.vehicle_info, '$.year') || ' ', '')"
    " || coalesce(json_extract(i.vehicle_info, '$.make') || ' ', '')"
    " || coalesce(json_extract(i.vehicle_info, '$.model') || ' ', '')"
    " || coalesce(json_extract(i.vehicle_info, '$.vin') || ' ', ''))",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    column = sa.Column("search_text", sa.Text(), server_default=sa.text("''"), nullable=False)
    op.add_column("sessions", column)
    op.execute(FILL.format(car=CAR[dialect]))
    if dialect == "postgresql":
        # The fill queued the sessions' agreement checks for commit; an index cannot be built
        # over a table with checks pending, so they run now (the fill changes no status).
        op.execute("SET CONSTRAINTS ALL IMMEDIATE")
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_sessions_search_text",
            "sessions",
            ["search_text"],
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_sessions_search_text", table_name="sessions")
    with op.batch_alter_table("sessions") as table:
        table.drop_column("search_text")
