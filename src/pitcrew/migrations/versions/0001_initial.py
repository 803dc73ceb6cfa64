"""The initial schema: every table of the first design, its constraints, indexes and the view.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The column types as this revision created them (the models' types make the same DDL;
# these are copied so that no change to the models can change what this revision builds).
UTC_DATETIME = sa.DateTime(timezone=True)
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The view as this revision created it. Its text lives here, not in the models: a later
# change to the view is a new revision, and this one keeps building what it always built.
OVERVIEW_SQL = """
CREATE VIEW mechanic_session_overview AS
SELECT
    r.id AS request_id,
    r.status AS request_status,
    r.mechanic_id AS mechanic_id,
    r.customer_id AS customer_id,
    r.customer_name AS customer_name,
    r.session_type AS session_type,
    r.plan_code AS plan_code,
    r.created_at AS request_created_at,
    r.accepted_at AS accepted_at,
    r.parent_session_id AS parent_session_id,
    s.id AS session_id,
    s.status AS session_status,
    s.started_at AS started_at,
    s.ended_at AS ended_at,
    s.rating AS rating,
    s.intake_id AS intake_id,
    i.vehicle_info AS vehicle_info,
    i.issue_description AS issue_description
FROM session_requests r
LEFT JOIN sessions s ON s.id = r.parent_session_id
LEFT JOIN intakes i ON i.id = s.intake_id
WHERE r.mechanic_id IS NOT NULL
"""

# On PostgreSQL the agreement of a request and its session (DESIGN invariants 2, 3, 4 and 6)
# is checked at commit, so no transaction can leave an orphaned session behind.
PAIR_CHECK_FUNCTION = """
CREATE OR REPLACE FUNCTION pitcrew_check_request_session() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    sid uuid;
    r record;
    s record;
BEGIN
    IF TG_TABLE_NAME = 'sessions' THEN
        sid := NEW.id;
    ELSE
        sid := NEW.parent_session_id;
    END IF;
    SELECT status, mechanic_id INTO s FROM sessions WHERE id = sid;
    SELECT id, status, mechanic_id INTO r FROM session_requests WHERE parent_session_id = sid;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF r.mechanic_id IS DISTINCT FROM s.mechanic_id
       OR (r.status = 'pending') <> (s.status = 'pending')
       OR (r.status = 'accepted' AND s.status NOT IN ('waiting', 'live', 'completed'))
       OR (r.status IN ('cancelled', 'expired') AND s.status <> 'cancelled')
    THEN
        RAISE EXCEPTION 'request % (%) and its session % (%) disagree',
            r.id, r.status, sid, s.status
            USING ERRCODE = '23514', CONSTRAINT = 'request_session_agree';
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", EVENT_ID, autoincrement=True, nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("payload", JSON_TYPE, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_session_id", ["session_id", "id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("on_duty", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("notify_by_email", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("role IN ('customer', 'mechanic', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_auth_tokens")),
    )
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", JSON_TYPE, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "intakes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_info", JSON_TYPE, nullable=False),
        sa.Column("issue_description", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["users.id"], name=op.f("fk_intakes_customer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intakes")),
    )
    with op.batch_alter_table("intakes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intakes_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("read_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_user_id", sa.Uuid(), nullable=False),
        sa.Column("mechanic_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("intake_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=True),
        sa.Column("ended_at", UTC_DATETIME, nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status <> 'pending' OR mechanic_id IS NULL",
            name=op.f("ck_sessions_pending_unassigned"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'waiting', 'live', 'completed', 'cancelled')",
            name=op.f("ck_sessions_status"),
        ),
        sa.CheckConstraint(
            "status NOT IN ('waiting', 'live', 'completed') OR mechanic_id IS NOT NULL",
            name=op.f("ck_sessions_held_has_mechanic"),
        ),
        sa.CheckConstraint("type IN ('chat', 'video')", name=op.f("ck_sessions_type")),
        sa.CheckConstraint(
            "rating IS NULL OR (rating BETWEEN 1 AND 5)", name=op.f("ck_sessions_rating")
        ),
        sa.ForeignKeyConstraint(
            ["customer_user_id"], ["users.id"], name=op.f("fk_sessions_customer_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["intake_id"], ["intakes.id"], name=op.f("fk_sessions_intake_id_intakes")
        ),
        sa.ForeignKeyConstraint(
            ["mechanic_id"], ["users.id"], name=op.f("fk_sessions_mechanic_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("id", "mechanic_id", name="uq_sessions_id_mechanic"),
    )
    op.create_table(
        "session_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["users.id"], name=op.f("fk_session_messages_sender_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_session_messages_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_messages")),
    )
    with op.batch_alter_table("session_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_session_messages_session_created", ["session_id", "created_at"], unique=False
        )

    op.create_table(
        "session_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("session_type", sa.String(length=16), nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mechanic_id", sa.Uuid(), nullable=True),
        sa.Column("parent_session_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("accepted_at", UTC_DATETIME, nullable=True),
        sa.Column("closed_at", UTC_DATETIME, nullable=True),
        sa.CheckConstraint(
            "session_type IN ('chat', 'video')", name=op.f("ck_session_requests_session_type")
        ),
        sa.CheckConstraint(
            "status <> 'accepted' OR mechanic_id IS NOT NULL",
            name=op.f("ck_session_requests_accepted_has_mechanic"),
        ),
        sa.CheckConstraint(
            "status <> 'pending' OR mechanic_id IS NULL",
            name=op.f("ck_session_requests_pending_unassigned"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'expired', 'cancelled')",
            name=op.f("ck_session_requests_status"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["users.id"], name=op.f("fk_session_requests_customer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["mechanic_id"], ["users.id"], name=op.f("fk_session_requests_mechanic_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["parent_session_id", "mechanic_id"],
            ["sessions.id", "sessions.mechanic_id"],
            name="fk_session_requests_same_mechanic",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["parent_session_id"],
            ["sessions.id"],
            name=op.f("fk_session_requests_parent_session_id_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_requests")),
        sa.UniqueConstraint(
            "parent_session_id", name=op.f("uq_session_requests_parent_session_id")
        ),
    )
    with op.batch_alter_table("session_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_session_requests_pending",
            ["created_at"],
            unique=False,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )

    op.execute("CREATE UNIQUE INDEX uq_users_email_lower ON users (lower(email))")
    op.execute(
        "CREATE INDEX ix_sessions_mechanic_status_ended"
        " ON sessions (mechanic_id, status, ended_at DESC)"
    )
    op.execute(
        "CREATE INDEX ix_sessions_customer_created ON sessions (customer_user_id, created_at DESC)"
    )
    op.execute(
        "CREATE INDEX ix_session_requests_mechanic_status_accepted"
        " ON session_requests (mechanic_id, status, accepted_at DESC)"
    )
    op.execute(
        "CREATE INDEX ix_notifications_user_created ON notifications (user_id, created_at DESC)"
    )
    op.execute(OVERVIEW_SQL)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PAIR_CHECK_FUNCTION)
        for table in ("sessions", "session_requests"):
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {table}_pair_check AFTER INSERT OR UPDATE ON {table}"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                " EXECUTE FUNCTION pitcrew_check_request_session()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("sessions", "session_requests"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_pair_check ON {table}")
        op.execute("DROP FUNCTION IF EXISTS pitcrew_check_request_session()")
    op.execute("DROP VIEW IF EXISTS mechanic_session_overview")
    for index in (
        "uq_users_email_lower",
        "ix_sessions_mechanic_status_ended",
        "ix_sessions_customer_created",
        "ix_session_requests_mechanic_status_accepted",
        "ix_notifications_user_created",
    ):
        op.execute(f"DROP INDEX IF EXISTS {index}")
    with op.batch_alter_table("session_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_session_requests_pending",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )

    op.drop_table("session_requests")
    with op.batch_alter_table("session_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_session_messages_session_created")

    op.drop_table("session_messages")
    op.drop_table("sessions")
    op.drop_table("notifications")
    with op.batch_alter_table("intakes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intakes_customer_id"))

    op.drop_table("intakes")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_tokens_user_id"))

    op.drop_table("auth_tokens")
    op.drop_table("users")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_session_id")

    op.drop_table("events")
