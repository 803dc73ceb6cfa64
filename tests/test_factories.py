"""The shared factories reach every stage they promise, through the product's own steps."""

from __future__ import annotations

import uuid

import pytest

from pitcrew import dashboard
from pitcrew.db import Database
from pitcrew.models import Role
from tests.support.factories import Stage, create_account, start_session

# Where the mechanic finds the session at each stage (Incoming is every mechanic's queue).
TAB = {
    Stage.PENDING: "incoming",
    Stage.WAITING: "active",
    Stage.LIVE: "active",
    Stage.COMPLETED: "completed",
    Stage.CANCELLED: None,
    Stage.EXPIRED: None,
    Stage.RELEASED: "incoming",
}


@pytest.mark.parametrize("stage", list(Stage))
def test_a_session_can_be_started_in_every_stage(db: Database, stage: Stage) -> None:
    customer = create_account(db, Role.CUSTOMER, "Casey Driver", password=None)
    mechanic = create_account(db, Role.MECHANIC, "Bea Mechanic", password=None)
    started = start_session(db, customer, stage, mechanic=mechanic)
    with db.read() as s:
        tabs: dict[str, list[uuid.UUID]] = {
            "incoming": [row["session_id"] for row in dashboard.incoming(s).rows],
            "active": [row["session_id"] for row in dashboard.active(s, mechanic.id).rows],
            "completed": [row["session_id"] for row in dashboard.completed(s, mechanic.id).rows],
        }
    assert tabs == {name: [started.session_id] if name == TAB[stage] else [] for name in tabs}, (
        f"a {stage} session is listed where a mechanic would not look for it"
    )


def test_a_stage_past_an_accept_needs_a_mechanic(db: Database) -> None:
    customer = create_account(db, Role.CUSTOMER, password=None)
    with pytest.raises(ValueError, match="needs a mechanic"):
        start_session(db, customer, Stage.LIVE)
