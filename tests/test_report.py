"""The consult report and the customer's cars, on SQLite and PostgreSQL.

What a driver takes away (the report on the page, in the email, as a PDF), what the intake
checks of a car (the VIN rules), and what the next mechanic on the same car sees.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import delete, select

from pitcrew.db import Database
from pitcrew.doctor.diagnosis import diagnose
from pitcrew.models import EmailOutbox, Intake, Role, SessionReport, Vehicle
from pitcrew.schemas import CompleteIn
from tests.support.factories import INTAKE, Person, Stage, intake_through_api, start_session
from tests.support.photos import phone_photo, send_photo

pytestmark = pytest.mark.usefixtures("quick_passwords")

REPORT: dict[str, Any] = {
    "summary": "Front pads worn to the metal; misfire on cylinder 1.",
    "findings": "Grinding from the front left wheel under braking. Rough idle.",
    "steps": [
        {
            "text": "Replace the front brake pads",
            "urgency": "now",
            "cost_min": 120,
            "cost_max": 220,
        },
        {"text": "Swap the cylinder 1 ignition coil", "urgency": "soon", "cost_max": 150},
        {"text": "Check the rear tyres", "urgency": "can_wait"},
    ],
    "trouble_codes": ["P0301", "c1234", "B0020", "U0100"],
}


def _live(db: Database, customer: Person, mechanic: Person, **changes: Any) -> str:
    return start_session(db, customer, Stage.LIVE, mechanic=mechanic, **changes).sid


def _complete(mechanic: Person, sid: str, body: dict[str, Any]) -> Any:
    return mechanic.client.post(f"/api/sessions/{sid}/complete", json=body)


# --- the VIN -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vin", "status", "words"),
    [
        ("1HGCM82633A004352", 201, ""),  # a North American VIN whose check digit holds
        (" 1hgcm82633a004352 ", 201, ""),  # as typed: spaces and small letters
        ("1HGCM82643A004352", 422, "check digit (its 9th character) does not match"),
        ("1HGCM8263OA004352", 422, "never contains the letters I, O or Q (this one has O)"),
        ("1HGCM82633A00435", 422, "A VIN has 17 characters; this one has 16"),
        ("1HGCM82633A00435-", 422, "A VIN has only letters and digits"),
        ("  ", 422, "Leave the VIN out, or enter all 17 of its characters"),
        ("WVWZZZ1JZXW000001", 201, ""),  # European: no check digit to hold
        ("JHMCM82633C004352", 201, ""),  # Japanese: the same
    ],
)
def test_a_vin_is_checked_and_the_broken_rule_named(
    db: Database, customer: Person, vin: str, status: int, words: str
) -> None:
    vehicle = {**INTAKE["vehicle"], "vin": vin}
    answer = customer.client.post("/api/intake/start", json={**INTAKE, "vehicle": vehicle})
    assert answer.status_code == status, answer.text
    if status == 422:
        assert words in answer.json()["error"]["message"]
        assert answer.json()["error"]["details"][0]["field"] == "vehicle.vin"
        return
    with db.read() as s:
        car = s.scalars(select(Vehicle)).one()
    assert car.vin == vin.strip().upper()


# --- trouble codes ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["P0301", "C1234", "B0020", "U0100", "p0A1f", "U3FFF"])
def test_trouble_codes_of_every_system_are_taken(code: str) -> None:
    assert CompleteIn(summary="ok", trouble_codes=[code]).trouble_codes == [code.upper()]


@pytest.mark.parametrize("code", ["P4000", "X0301", "P030", "P03011", "P0G01", "0301", ""])
def test_other_shapes_are_not_trouble_codes(
    db: Database, customer: Person, mechanic: Person, code: str
) -> None:
    sid = _live(db, customer, mechanic)
    answer = _complete(mechanic, sid, {"summary": "ok", "trouble_codes": ["P0300", code]})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert "is not a trouble code" in error["message"] and "like P0301" in error["message"]
    assert error["details"][0]["field"] == "trouble_codes.1"
    assert customer.client.get(f"/api/sessions/{sid}").json()["session"]["status"] == "live"


# --- the report ------------------------------------------------------------------------------


def test_the_report_round_trip(db: Database, customer: Person, mechanic: Person) -> None:
    sid = _live(db, customer, mechanic)
    photo = send_photo(customer, sid, phone_photo(1, (800, 600)))
    send_photo(customer, sid, phone_photo(2, (800, 600)))  # not chosen
    answer = _complete(mechanic, sid, {**REPORT, "photo_ids": [photo["id"]]})
    assert answer.status_code == 200, answer.text
    for reader in (customer, mechanic):
        detail = reader.client.get(f"/api/sessions/{sid}").json()
        report = detail["report"]
        assert detail["session"]["summary"] == REPORT["summary"]
        assert report["summary"] == REPORT["summary"]
        assert report["findings"] == REPORT["findings"]
        assert [s["text"] for s in report["steps"]] == [s["text"] for s in REPORT["steps"]]
        assert [s["urgency"] for s in report["steps"]] == ["now", "soon", "can_wait"]
        assert (report["steps"][0]["cost_min"], report["steps"][0]["cost_max"]) == (120, 220)
        assert report["steps"][2]["cost_min"] is None
        assert report["trouble_codes"] == ["P0301", "C1234", "B0020", "U0100"]
        assert [p["url"] for p in report["photos"]] == [photo["photo"]["url"]]


def test_a_plain_summary_still_completes_with_a_report_of_it(
    db: Database, customer: Person, mechanic: Person
) -> None:
    sid = _live(db, customer, mechanic)
    assert _complete(mechanic, sid, {"summary": "Worn pads."}).status_code == 200
    report = customer.client.get(f"/api/sessions/{sid}").json()["report"]
    assert report["summary"] == "Worn pads."
    assert (report["findings"], report["steps"], report["trouble_codes"]) == ("", [], [])


def test_a_photo_from_another_session_is_refused(
    db: Database, customer: Person, mechanic: Person
) -> None:
    other = _live(db, customer, mechanic)
    elsewhere = send_photo(customer, other, phone_photo(3, (400, 300)))
    sid = _live(db, customer, mechanic)
    answer = _complete(mechanic, sid, {"summary": "ok", "photo_ids": [elsewhere["id"]]})
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == "No such photo in this session's chat."
    assert customer.client.get(f"/api/sessions/{sid}").json()["report"] is None


def test_a_steps_cost_range_and_urgency(db: Database, customer: Person, mechanic: Person) -> None:
    sid = _live(db, customer, mechanic)
    unknown = {"text": "Pads", "urgency": "asap"}
    answer = _complete(mechanic, sid, {"summary": "ok", "steps": [unknown]})
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "steps.0.urgency"
    assert "Choose how soon: now, soon or can wait" in answer.json()["error"]["message"]
    backwards = {"text": "Pads", "urgency": "now", "cost_min": 300, "cost_max": 100}
    assert _complete(mechanic, sid, {"summary": "ok", "steps": [backwards]}).status_code == 200
    [step] = customer.client.get(f"/api/sessions/{sid}").json()["report"]["steps"]
    assert (step["cost_min"], step["cost_max"]) == (100, 300)


def test_the_completion_email_carries_the_report(
    db: Database, customer: Person, mechanic: Person
) -> None:
    sid = _live(db, customer, mechanic)
    db.email_enabled = True  # as in a server with SMTP_URL
    assert _complete(mechanic, sid, REPORT).status_code == 200
    with db.read() as s:
        emails = s.scalars(select(EmailOutbox).where(EmailOutbox.to_address == customer.email))
        [done] = [e for e in emails if "complete" in e.subject]
    for body in (done.text_body, done.html_body):
        assert "Grinding from the front left wheel" in body
        assert "Replace the front brake pads" in body and "120 to 220" in body
        assert "Can wait" in body and "P0301" in body and "U0100" in body
        assert "PDF" in body


# --- the PDF ---------------------------------------------------------------------------------


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def test_the_pdf_holds_the_report(db: Database, customer: Person, mechanic: Person) -> None:
    sid = _live(db, customer, mechanic)
    assert _complete(mechanic, sid, REPORT).status_code == 200
    for reader in (customer, mechanic):
        answer = reader.client.get(f"/api/sessions/{sid}/report.pdf")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.content.startswith(b"%PDF")
        words = _pdf_text(answer.content)
        for expected in (
            "2016 Honda Civic",
            mechanic.actor.name,
            "Grinding from the front left wheel under braking",
            "Replace the front brake pads",
            "Swap the cylinder 1 ignition coil",
            "Can wait",
            "120 to 220",
            "P0301",
            "C1234",
            "B0020",
            "U0100",
        ):
            assert expected in words, expected


def test_the_pdf_is_nobody_elses(
    db: Database,
    customer: Person,
    mechanic: Person,
    make_user: Callable[..., Person],
) -> None:
    sid = _live(db, customer, mechanic)
    not_yet = customer.client.get(f"/api/sessions/{sid}/report.pdf")
    assert not_yet.status_code == 404
    assert _complete(mechanic, sid, REPORT).status_code == 200
    stranger = make_user(Role.CUSTOMER, name="Other Driver")
    rival = make_user(Role.MECHANIC, name="Other Mechanic")
    for outsider in (stranger, rival):
        answer = outsider.client.get(f"/api/sessions/{sid}/report.pdf")
        assert answer.status_code == 404
        assert answer.json()["error"]["message"] == "No such session."
    assert customer.client.get(f"/api/sessions/{uuid.uuid4()}/report.pdf").status_code == 404


def test_five_photos_keep_the_pdf_under_two_megabytes(
    db: Database, customer: Person, mechanic: Person
) -> None:
    sid = _live(db, customer, mechanic)
    photos = [send_photo(customer, sid, phone_photo(seed)) for seed in range(5)]
    chosen = {**REPORT, "photo_ids": [p["id"] for p in photos]}
    assert _complete(mechanic, sid, chosen).status_code == 200
    answer = customer.client.get(f"/api/sessions/{sid}/report.pdf")
    assert answer.status_code == 200
    assert len(answer.content) < 2 * 1024 * 1024
    pages = PdfReader(io.BytesIO(answer.content)).pages
    pictures = {hashlib.sha256(image.data).digest() for page in pages for image in page.images}
    assert len(pictures) == 5


# --- the customer's cars -------------------------------------------------------------------


def test_the_same_car_described_again_is_kept_once(db: Database, customer: Person) -> None:
    intake_through_api(customer)
    again = {**INTAKE["vehicle"], "make": "honda", "mileage": 91000}
    intake_through_api(customer, vehicle=again)
    cars = customer.client.get("/api/vehicles").json()
    assert len(cars) == 1
    assert (cars[0]["make"], cars[0]["mileage"]) == ("Honda", 91000)


def test_an_intake_picks_a_saved_car(db: Database, customer: Person) -> None:
    intake_through_api(customer)
    [car] = customer.client.get("/api/vehicles").json()
    sid, _ = intake_through_api(customer, vehicle=None, vehicle_id=car["id"], mileage=90500)
    intake = customer.client.get(f"/api/sessions/{sid}").json()["intake"]
    assert intake["vehicle_info"] == {
        "year": 2016,
        "make": "Honda",
        "model": "Civic",
        "mileage": 90500,
    }
    assert intake["vehicle_id"] == car["id"]
    assert customer.client.get("/api/vehicles").json()[0]["mileage"] == 90500


def test_someone_elses_car_cannot_be_picked(
    db: Database, customer: Person, make_user: Callable[..., Person]
) -> None:
    intake_through_api(customer)
    [car] = customer.client.get("/api/vehicles").json()
    other = make_user(Role.CUSTOMER, name="Other Driver")
    body = {**INTAKE, "vehicle": None, "vehicle_id": car["id"]}
    answer = other.client.post("/api/intake/start", json=body)
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == "No such car among yours."
    both = {**INTAKE, "vehicle_id": car["id"]}
    answer = customer.client.post("/api/intake/start", json=both)
    assert answer.status_code == 422
    assert "not both" in answer.json()["error"]["message"]


# --- the car's history ----------------------------------------------------------------------


def test_the_mechanic_holding_a_session_sees_the_cars_earlier_reports(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    first = _live(db, customer, mechanic)
    assert _complete(mechanic, first, REPORT).status_code == 200
    intake_through_api(customer, vehicle={**INTAKE["vehicle"], "model": "Accord"})  # another car
    [civic] = [c for c in customer.client.get("/api/vehicles").json() if c["model"] == "Civic"]
    later = make_user(Role.MECHANIC, name="Cal Later")
    sid, rid = intake_through_api(customer, vehicle=None, vehicle_id=civic["id"])
    assert later.client.post("/api/mechanic/accept", json={"request_id": rid}).status_code == 200

    [entry] = later.client.get(f"/api/sessions/{sid}/history").json()
    assert entry["session_id"] == first
    assert entry["mechanic_name"] == mechanic.actor.name
    assert entry["summary"] == REPORT["summary"]
    assert entry["trouble_codes"] == ["P0301", "C1234", "B0020", "U0100"]
    page = later.client.get(entry["url"])
    assert page.status_code == 200 and "Replace the front brake pads" in page.text

    # Nobody else: not the customer, not another mechanic, not after handing it back.
    assert customer.client.get(f"/api/sessions/{sid}/history").status_code == 403
    assert mechanic.client.get(f"/api/sessions/{sid}/history").status_code == 404
    assert mechanic.client.get(entry["url"]).status_code == 404
    assert later.client.post(f"/api/sessions/{sid}/release").status_code == 200
    assert later.client.get(f"/api/sessions/{sid}/history").status_code == 404
    assert later.client.get(entry["url"]).status_code == 404


def test_request_again_keeps_the_car(db: Database, customer: Person) -> None:
    sid, _ = intake_through_api(customer)
    assert customer.client.post(f"/api/sessions/{sid}/cancel", json={}).status_code == 200
    again = customer.client.post(f"/api/sessions/{sid}/request-again")
    assert again.status_code == 201
    with db.read() as s:
        cars = {i.vehicle_id for i in s.scalars(select(Intake))}
    assert len(cars) == 1 and None not in cars


# --- the doctor -----------------------------------------------------------------------------


def test_the_doctor_reports_a_completed_session_without_its_report(
    db: Database, customer: Person, mechanic: Person
) -> None:
    started = start_session(db, customer, Stage.COMPLETED, mechanic=mechanic)
    with db.engine.connect() as connection:
        assert [p for p in diagnose(connection).problems if p.check == "report_missing"] == []
    db.run(lambda s: s.execute(delete(SessionReport)))
    with db.engine.connect() as connection:
        [problem] = [p for p in diagnose(connection).problems if p.check == "report_missing"]
    assert problem.session_id == started.session_id
    assert "no report" in problem.state and not problem.repairable
