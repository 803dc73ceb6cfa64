"""A customer's cars: kept from one intake to the next, so nobody types the same car twice and
a mechanic can see what was found on it before (``report.history``).

An intake names its car either as a new description (matched against the customer's saved
cars first, so describing the same car again does not make a second one) or as a saved car's
id. Either way the intake keeps its own copy in ``vehicle_info``, which older readers read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import NotFound
from pitcrew.models import Intake, Vehicle
from pitcrew.schemas import IntakeIn, VehicleOut


@dataclass(frozen=True)
class Chosen:
    """The car an intake is about, and the description the intake keeps of it."""

    vehicle_id: uuid.UUID
    info: dict[str, Any]


def _info(car: Vehicle) -> dict[str, Any]:
    info: dict[str, Any] = {"year": car.year, "make": car.make, "model": car.model}
    if car.vin:
        info["vin"] = car.vin
    if car.mileage is not None:
        info["mileage"] = car.mileage
    return info


def _same_car(
    s: DbSession, customer: Actor, year: int, make: str, model: str, vin: str | None
) -> Vehicle | None:
    return s.scalars(
        select(Vehicle)
        .where(
            Vehicle.customer_id == customer.id,
            Vehicle.year == year,
            func.lower(Vehicle.make) == make.lower(),
            func.lower(Vehicle.model) == model.lower(),
            Vehicle.vin.is_(None) if vin is None else Vehicle.vin == vin,
        )
        .order_by(Vehicle.created_at)
        .limit(1)
    ).first()


def choose(s: DbSession, customer: Actor, intake: IntakeIn) -> Chosen:
    """The intake's car, saved or found among the customer's (inside the intake's transaction).

    The mileage given with it becomes the car's mileage as last reported.
    """
    if intake.vehicle_id is not None:
        car = s.get(Vehicle, intake.vehicle_id)
        if car is None or car.customer_id != customer.id:
            # Someone else's car is as unknown as a made-up id.
            raise NotFound("No such car among yours.", code="vehicle_not_found")
        if intake.mileage is not None:
            car.mileage = intake.mileage
    else:
        described = intake.vehicle
        assert described is not None  # IntakeIn asks for one of the two
        car = _same_car(s, customer, described.year, described.make, described.model, described.vin)
        if car is None:
            car = Vehicle(id=uuid.uuid4(), customer_id=customer.id, **described.model_dump())
            s.add(car)
        elif described.mileage is not None:
            car.mileage = described.mileage
    s.flush()
    return Chosen(vehicle_id=car.id, info=_info(car))


def for_intake_again(s: DbSession, intake: Intake) -> dict[str, Any]:
    """How an earlier intake names its car when it is asked for again."""
    if intake.vehicle_id is not None:
        return {"vehicle_id": intake.vehicle_id}
    return {"vehicle": intake.vehicle_info}


def mine(db: Database, customer: Actor) -> list[VehicleOut]:
    """The customer's cars, the one described most recently first."""
    with db.read() as s:
        latest = (
            select(Intake.vehicle_id, func.max(Intake.created_at).label("used"))
            .where(Intake.customer_id == customer.id)
            .group_by(Intake.vehicle_id)
            .subquery()
        )
        rows = s.scalars(
            select(Vehicle)
            .outerjoin(latest, latest.c.vehicle_id == Vehicle.id)
            .where(Vehicle.customer_id == customer.id)
            .order_by(func.coalesce(latest.c.used, Vehicle.created_at).desc())
        ).all()
        return [VehicleOut.model_validate(v, from_attributes=True) for v in rows]
