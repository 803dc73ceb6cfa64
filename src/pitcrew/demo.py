"""Demo accounts and sample sessions in every state, made through the real flow."""

from __future__ import annotations

from sqlalchemy import func, select

from pitcrew import auth, chat, flow
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.models import Role, Session, User
from pitcrew.schemas import IntakeIn, IntakeOut

PASSWORD = "pitcrew-demo"

ACCOUNTS = [
    ("customer@demo.pitcrew", Role.CUSTOMER, "Casey Driver"),
    ("bea@demo.pitcrew", Role.MECHANIC, "Bea Mechanic"),
    ("sam@demo.pitcrew", Role.MECHANIC, "Sam Wrench"),
    ("admin@demo.pitcrew", Role.ADMIN, "Avery Admin"),
]

SAMPLES = [
    (
        {"year": 2016, "make": "Honda", "model": "Civic", "mileage": 84000},
        "Grinding noise when braking",
        "chat",
    ),
    (
        {"year": 2019, "make": "Toyota", "model": "RAV4", "mileage": 42000},
        "Check engine light came on after refuelling",
        "video",
    ),
    (
        {"year": 2012, "make": "Ford", "model": "Focus", "mileage": 131000},
        "Car shudders at idle",
        "chat",
    ),
    (
        {"year": 2021, "make": "Tesla", "model": "Model 3"},
        "Tyre pressure warning that will not clear",
        "chat",
    ),
    (
        {"year": 2008, "make": "Volkswagen", "model": "Golf", "mileage": 190000},
        "Coolant leak under the engine",
        "video",
    ),
]


def load(db: Database) -> list[tuple[str, str, str]]:
    """Create what is missing; running it again adds no duplicate accounts."""
    actors: dict[str, Actor] = {}
    for email, role, name in ACCOUNTS:
        with db.read() as s:
            user = s.scalar(select(User).where(func.lower(User.email) == email))
        if user is None:
            user = auth.create_user(
                db,
                email=email,
                name=name,
                role=role,
                password=PASSWORD,
                on_duty=role == Role.MECHANIC,
            )
        actors[email] = auth.actor_of(user)
    customer = actors["customer@demo.pitcrew"]
    bea = actors["bea@demo.pitcrew"]
    with db.read() as s:
        has_sessions = s.scalar(select(Session.id).where(Session.customer_user_id == customer.id))
    if has_sessions is None:
        _sample_sessions(db, customer, bea)
    return [(email, str(role), name) for email, role, name in ACCOUNTS]


def _sample_sessions(db: Database, customer: Actor, bea: Actor) -> None:

    def intake(i: int) -> IntakeOut:
        vehicle, issue, kind = SAMPLES[i]
        body = IntakeIn.model_validate(
            {"vehicle": vehicle, "issue_description": issue, "session_type": kind}
        )
        return flow.start_intake(db, customer, body)[0]

    done = intake(0)  # completed and rated
    flow.accept(db, bea, done.request_id)
    flow.join(db, bea, done.session_id)
    chat.post_message(db, customer, done.session_id, "Hi! It grinds when I brake hard.")
    chat.post_message(db, bea, done.session_id, "Sounds like the front pads are worn out.")
    flow.complete(
        db,
        bea,
        done.session_id,
        "Front pads worn to the backing plate. Replace pads and check rotors for scoring.",
    )
    flow.rate(db, customer, done.session_id, 5, "Clear and quick, thank you!")
    live = intake(1)  # live
    flow.accept(db, bea, live.request_id)
    flow.join(db, bea, live.session_id)
    waiting = intake(2)  # accepted, waiting for Bea to join
    flow.accept(db, bea, waiting.request_id)
    cancelled = intake(3)
    flow.cancel(db, customer, cancelled.session_id, "Fixed it myself")
    intake(4)  # pending, in every mechanic's Incoming Requests
