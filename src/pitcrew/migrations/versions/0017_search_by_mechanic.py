"""A mechanic's search finds their own sessions through one index: theirs, then the words.

On PostgreSQL the trigram index on ``sessions.search_text`` is replaced by one on
(``mechanic_id``, ``search_text``) (the btree_gin extension, shipped with PostgreSQL and
trusted, lets a GIN index hold the mechanic too): a rare word is then found among the
mechanic's own sessions, not among every session that holds it. SQLite has neither index.

Revision ID: 0017
Revises: 0013a
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0013a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_index(
        "ix_sessions_mechanic_id_search_text",
        "sessions",
        ["mechanic_id", "search_text"],
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.drop_index("ix_sessions_search_text", table_name="sessions")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Revision 0016's index, as it built it.
    op.execute(
        "CREATE INDEX ix_sessions_search_text ON sessions USING gin (search_text gin_trgm_ops)"
    )
    op.drop_index("ix_sessions_mechanic_id_search_text", table_name="sessions")
