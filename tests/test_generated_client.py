"""A client generated from /openapi.json runs the flow and gets typed answers back.

openapi-python-client turns the app's own schema into a Python package in a temporary
folder; a customer and a mechanic then drive intake, the pending requests, accept and the
dashboard through it against a served app. A schema a generator cannot read, or an answer
that does not match its schema, fails here the way it would fail a client's build.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from pitcrew.db import Database
from pitcrew.models import Role
from tests.support.factories import PASSWORD, Account, create_account

PACKAGE = "pitcrew_client"

# The generator reads only JSON, text and octet-stream bodies: the photos and the report are
# bytes to it all the same.
GENERATOR_CONFIG = """\
post_hooks: []
content_type_overrides:
  image/jpeg: application/octet-stream
  image/png: application/octet-stream
  image/webp: application/octet-stream
  application/pdf: application/octet-stream
"""


@pytest.fixture
def generated(live: str, tmp_path: Path) -> Iterator[ModuleType]:
    """The client package generated from the served app's /openapi.json, imported."""
    spec = tmp_path / "openapi.json"
    # The server builds the document on its first asking: seconds when the cores are busy.
    answer = httpx.get(f"{live}/openapi.json", timeout=60)
    spec.write_bytes(answer.raise_for_status().content)
    config = tmp_path / "generator.yaml"
    config.write_text(GENERATOR_CONFIG)
    generator = Path(sys.executable).parent / "openapi-python-client"
    made = subprocess.run(
        [
            *(generator, "generate", "--path", spec, "--output-path", tmp_path / PACKAGE),
            *("--meta", "none", "--config", config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = made.stdout + made.stderr
    assert made.returncode == 0, output
    assert "warning" not in output.lower(), output  # nothing of the schema was left out
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _part(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def _signed_in(package: ModuleType, base: str, account: Account) -> Any:
    """An authenticated client of ``account``, signed in through the generated login call."""
    models = _part(package, "models")
    login = _part(package, "api.auth.login_api_auth_login_post")
    anonymous = package.Client(base_url=base, raise_on_unexpected_status=True)
    signed = login.sync(
        client=anonymous, body=models.LoginIn(email=account.email, password=PASSWORD)
    )
    assert isinstance(signed, models.LoginOut), signed
    return package.AuthenticatedClient(
        base_url=base, token=signed.token, raise_on_unexpected_status=True
    )


def test_a_generated_client_runs_intake_accept_and_the_active_tab(
    generated: ModuleType, live: str, db: Database, quick_passwords: None
) -> None:
    models = _part(generated, "models")
    customer = _signed_in(generated, live, create_account(db, Role.CUSTOMER))
    mechanic = _signed_in(generated, live, create_account(db, Role.MECHANIC))

    start = _part(generated, "api.customer.start_intake_api_intake_start_post")
    car = models.Vehicle(year=2016, make="Honda", model="Civic", mileage=84000)
    intake = models.IntakeIn(
        issue_description="Grinding noise when braking",
        session_type=models.SessionType.CHAT,
        vehicle=car,
    )
    started = start.sync(client=customer, body=intake)
    assert isinstance(started, models.IntakeOut), started

    pending = _part(generated, "api.mechanic.pending_requests_api_mechanic_requests_get")
    offered = pending.sync(client=mechanic)
    assert isinstance(offered, models.RequestsPage), offered
    (row,) = [r for r in offered.requests if r.request_id == started.request_id]
    assert isinstance(row, models.IncomingRow)
    assert isinstance(row.vehicle, models.VehicleInfo)
    assert (row.vehicle.make, row.vehicle.model, row.vehicle.mileage) == ("Honda", "Civic", 84000)
    assert row.issue == "Grinding noise when braking"

    accept = _part(generated, "api.mechanic.accept_api_mechanic_accept_post")
    accepted = accept.sync(client=mechanic, body=models.AcceptIn(request_id=started.request_id))
    assert isinstance(accepted, models.AcceptOut), accepted
    assert accepted.session_id == started.session_id

    whole = _part(generated, "api.mechanic.mechanic_dashboard_api_mechanic_dashboard_get")
    board = whole.sync(client=mechanic)
    assert isinstance(board, models.Dashboard), board
    assert [r.session_id for r in board.active] == [started.session_id]
    assert all(isinstance(r, models.HeldRow) for r in board.active)
    assert started.request_id not in [r.request_id for r in board.incoming]
    assert board.next_.active is None

    tab = _part(generated, "api.mechanic.dashboard_tab_api_mechanic_dashboard_tab_get")
    page = tab.sync("active", client=mechanic)
    assert isinstance(page, models.TabPage), page
    (held,) = page.rows
    assert isinstance(held, models.HeldRow) and not isinstance(held, models.HistoryRow)
    assert held.session_id == started.session_id
    assert (held.session_status, held.request_status, held.unread) == ("waiting", "accepted", 0)
    assert held.accepted_at is not None and held.started_at is None
    assert isinstance(held.vehicle, models.VehicleInfo) and held.vehicle.year == 2016
    assert page.next_cursor is None
