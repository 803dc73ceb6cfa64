"""The consult report and the customer's cars.

``session_reports`` holds what a mechanic leaves the driver (summary, findings, steps,
trouble codes, chosen photos); every summary already written becomes a report holding just
that summary. ``vehicles`` keeps each customer's cars, and ``intakes.vehicle_id`` says which
car an intake was about: existing intakes of one customer are grouped into one car where
year, make and model agree (letter case and spaces aside) and so does the VIN (an intake
without a VIN only joins others without one). ``intakes.vehicle_info`` stays as it was.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0007"  # after the accounts (numbers are not an order)
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)  # as revision 0001 (the DDL of models.UTCDateTime)
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# The rows this migration reads and writes, as they are at this revision.
intakes = sa.table(
    "intakes",
    sa.column("id", sa.Uuid()),
    sa.column("customer_id", sa.Uuid()),
    sa.column("vehicle_info", JSON_TYPE),
    sa.column("vehicle_id", sa.Uuid()),
    sa.column("created_at", UTC_DATETIME),
)
vehicles = sa.table(
    "vehicles",
    sa.column("id", sa.Uuid()),
    sa.column("customer_id", sa.Uuid()),
    sa.column("year", sa.Integer()),
    sa.column("make", sa.String()),
    sa.column("model", sa.String()),
    sa.column("vin", sa.String()),
    sa.column("mileage", sa.Integer()),
    sa.column("created_at", UTC_DATETIME),
)
sessions = sa.table(
    "sessions",
    sa.column("id", sa.Uuid()),
    sa.column("summary", sa.Text()),
    sa.column("ended_at", UTC_DATETIME),
    sa.column("created_at", UTC_DATETIME),
)
reports = sa.table(
    "session_reports",
    sa.column("session_id", sa.Uuid()),
    sa.column("summary", sa.Text()),
    sa.column("findings", sa.Text()),
    sa.column("steps", JSON_TYPE),
    sa.column("trouble_codes", JSON_TYPE),
    sa.column("photo_ids", JSON_TYPE),
    sa.column("created_at", UTC_DATETIME),
)


def upgrade() -> None:
    op.create_table(
        "vehicles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("make", sa.String(length=60), nullable=False),
        sa.Column("model", sa.String(length=60), nullable=False),
        sa.Column("vin", sa.String(length=17), nullable=True),
        sa.Column("mileage", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["users.id"], name=op.f("fk_vehicles_customer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicles")),
    )
    op.create_index("ix_vehicles_customer_id", "vehicles", ["customer_id"], unique=False)
    op.create_table(
        "session_reports",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("steps", JSON_TYPE, nullable=False),
        sa.Column("trouble_codes", JSON_TYPE, nullable=False),
        sa.Column("photo_ids", JSON_TYPE, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_session_reports_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_reports")),
    )
    # A plain ADD COLUMN on both databases: SQLite need not rebuild intakes, which sessions
    # point at. (SQLite keeps no name for a column's own REFERENCES clause.)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE intakes ADD COLUMN vehicle_id UUID"
            " CONSTRAINT fk_intakes_vehicle_id_vehicles REFERENCES vehicles (id)"
        )
    else:
        op.execute("ALTER TABLE intakes ADD COLUMN vehicle_id CHAR(32) REFERENCES vehicles (id)")
    op.create_index("ix_intakes_vehicle_id", "intakes", ["vehicle_id"], unique=False)
    _summaries_become_reports()
    _intakes_become_vehicles()


def _summaries_become_reports() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            sessions.c.id, sessions.c.summary, sessions.c.ended_at, sessions.c.created_at
        ).where(sessions.c.summary.is_not(None))
    ).all()
    if rows:
        bind.execute(
            reports.insert(),
            [
                {
                    "session_id": r.id,
                    "summary": r.summary,
                    "findings": "",
                    "steps": [],
                    "trouble_codes": [],
                    "photo_ids": [],
                    "created_at": r.ended_at or r.created_at,
                }
                for r in rows
            ],
        )


def _key(customer_id: Any, info: dict[str, Any]) -> tuple[Any, ...] | None:
    """Which car an intake describes, or None when it names no year, make and model."""
    try:
        year = int(info["year"])
        make = " ".join(str(info["make"]).split())
        model = " ".join(str(info["model"]).split())
    except (KeyError, TypeError, ValueError):
        return None
    if not make or not model:
        return None
    vin = str(info.get("vin") or "").strip().upper() or None
    return (customer_id, year, make.casefold(), model.casefold(), vin)


def _intakes_become_vehicles() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            intakes.c.id, intakes.c.customer_id, intakes.c.vehicle_info, intakes.c.created_at
        ).order_by(intakes.c.created_at)
    ).all()
    cars: dict[tuple[Any, ...], dict[str, Any]] = {}
    members: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        info = row.vehicle_info if isinstance(row.vehicle_info, dict) else {}
        key = _key(row.customer_id, info)
        if key is None:
            continue
        car = cars.setdefault(
            key,
            {
                "id": uuid.uuid4(),
                "customer_id": row.customer_id,
                "year": key[1],
                "make": " ".join(str(info["make"]).split())[:60],
                "model": " ".join(str(info["model"]).split())[:60],
                "vin": key[4][:17] if key[4] else None,
                "mileage": None,
                "created_at": row.created_at or datetime.now(UTC),
            },
        )
        mileage = info.get("mileage")
        if isinstance(mileage, int) and not isinstance(mileage, bool):
            car["mileage"] = mileage  # the latest intake's, as they come oldest first
        members.setdefault(key, []).append(row.id)
    if not cars:
        return
    bind.execute(vehicles.insert(), list(cars.values()))
    for key, ids in members.items():
        bind.execute(
            intakes.update().where(intakes.c.id.in_(ids)).values(vehicle_id=cars[key]["id"])
        )


def downgrade() -> None:
    op.drop_index("ix_intakes_vehicle_id", table_name="intakes")
    with op.batch_alter_table("intakes", schema=None) as batch_op:
        batch_op.drop_column("vehicle_id")
    op.drop_table("session_reports")
    op.drop_index("ix_vehicles_customer_id", table_name="vehicles")
    op.drop_table("vehicles")
