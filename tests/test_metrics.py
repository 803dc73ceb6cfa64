"""/metrics as an operator's Prometheus sees it: the flow's counters, latency, invariant gauges.

Counters belong to the process and other tests move them too, so each test compares the
scrape before and after what it does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.web.app import create_app
from tests.support.factories import INTAKE, Person

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_flow_is_counted_from_what_it_commits(
    db: Database,
    quick_passwords: None,
    customer: Person,
    mechanic: Person,
    make_user: Callable[..., Person],
    anonymous: TestClient,
) -> None:
    rival = make_user(Role.MECHANIC)
    before = scrape(anonymous)

    started = customer.client.post("/api/intake/start", json=INTAKE).json()
    sid, rid = started["session_id"], started["request_id"]
    assert mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}).status_code == 200
    lost = rival.client.post("/api/mechanic/accept", json={"request_id": rid})
    assert lost.status_code == 409 and lost.json()["error"]["code"] == "request_taken"
    assert mechanic.client.post(f"/api/sessions/{sid}/join").status_code == 200
    assert mechanic.client.post(f"/api/sessions/{sid}/join").status_code == 409  # changes nothing
    done = mechanic.client.post(f"/api/sessions/{sid}/complete", json={"summary": "Pads."})
    assert done.status_code == 200
    assert (
        customer.client.post(f"/api/sessions/{sid}/rating", json={"rating": 4}).status_code == 200
    )
    other = customer.client.post("/api/intake/start", json=INTAKE).json()["session_id"]
    assert customer.client.post(f"/api/sessions/{other}/cancel", json={}).status_code == 200

    after = scrape(anonymous)
    assert moved(before, after, "pitcrew_intakes_total") == 2
    assert moved(before, after, "pitcrew_accepts_total") == 1
    assert moved(before, after, "pitcrew_accept_conflicts_total") == 1
    transitions = {
        (a, b): moved(
            before, after, "pitcrew_session_transitions_total", from_status=a, to_status=b
        )
        for a, b in (
            ("pending", "waiting"),
            ("waiting", "live"),
            ("live", "completed"),
            ("pending", "cancelled"),
            ("completed", "completed"),
        )
    }
    assert transitions == {
        ("pending", "waiting"): 1,
        ("waiting", "live"): 1,
        ("live", "completed"): 1,
        ("pending", "cancelled"): 1,
        ("completed", "completed"): 0,
    }


def test_latency_is_recorded_per_route_template(
    db: Database, quick_passwords: None, customer: Person, anonymous: TestClient
) -> None:
    sid = customer.client.post("/api/intake/start", json=INTAKE).json()["session_id"]
    before = scrape(anonymous)
    for _ in range(3):
        assert customer.client.get(f"/api/sessions/{sid}").status_code == 200
    assert anonymous.get("/no/such/page").status_code == 404
    after = scrape(anonymous)
    route = {"method": "GET", "route": "/api/sessions/{session_id}"}
    assert moved(before, after, "pitcrew_http_request_duration_seconds_count", **route) == 3
    assert moved(before, after, "pitcrew_http_request_duration_seconds_sum", **route) > 0
    unmatched = {"method": "GET", "route": "unmatched"}
    assert moved(before, after, "pitcrew_http_request_duration_seconds_count", **unmatched) == 1


def test_every_invariant_has_a_gauge_from_start_up(db: Database, settings: Settings) -> None:
    started = time.time()
    with TestClient(create_app(settings, db)) as operator:
        deadline = time.monotonic() + 15
        while True:
            samples = scrape(operator)
            checked = samples.get(("pitcrew_invariants_checked_at_seconds", frozenset()), 0.0)
            if checked >= started:
                break
            assert time.monotonic() < deadline, "the invariants were never counted"
            time.sleep(0.05)
    gauges = {
        dict(labels)["invariant"]: value
        for (name, labels), value in samples.items()
        if name == "pitcrew_invariant_violations"
    }
    assert gauges == {str(n): 0.0 for n in range(1, 8)}
