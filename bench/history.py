"""A long history: a million sessions with their requests and intakes, loaded with COPY.

The shape is a busy service three years in: a thousand mechanics, one of them (the one the
dashboard is measured for) holding a tenth of all sessions; most sessions completed, some
cancelled after accept, some expired or cancelled while pending; a few hundred active now and
a queue of pending requests. Every row obeys DESIGN's invariants (the run checks them), so
the dashboard reads exactly what production would hold.
"""

from __future__ import annotations

import json
import random
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from bench.database import BenchDatabase
from pitcrew.models import search_text

YEAR = 365 * 24 * 3600.0
BUSY_SHARE = 0.10
VEHICLES = [
    {"year": y, "make": mk, "model": md, "mileage": mi}
    for y, mk, md, mi in [
        (2016, "Honda", "Civic", 84000),
        (2019, "Toyota", "Corolla", 42000),
        (2012, "Ford", "Focus", 151000),
        (2021, "Tesla", "Model 3", 23000),
        (2009, "Volkswagen", "Golf", 198000),
    ]
]
ISSUES = [
    "Grinding noise when braking",
    "Check engine light on after refuelling",
    "Car pulls to the left at speed",
    "Battery drains overnight",
    "Gearbox slips between second and third",
]
# One session in five hundred has a problem no other has: a word few sessions hold.
RARE_ISSUE = "Turbocharger whistles under boost"
RARE_SHARE = 0.002
VIN_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"  # a VIN has no I, O or Q

COLUMNS = {
    "intakes": "id, customer_id, vehicle_info, issue_description, created_at",
    "sessions": "id, customer_user_id, mechanic_id, type, plan_code, status, intake_id,"
    " created_at, started_at, ended_at, summary, rating, rating_comment, search_text",
    "session_requests": "id, customer_id, customer_name, session_type, plan_code, status,"
    " mechanic_id, parent_session_id, created_at, accepted_at, closed_at",
}
NULL = "\\N"


@dataclass(frozen=True)
class Shape:
    rows: int
    mechanics: int
    customers: int
    pending: int
    active: int

    @classmethod
    def for_rows(cls, rows: int) -> Shape:
        return cls(
            rows=rows,
            mechanics=max(20, min(1000, rows // 1000)),
            customers=max(100, rows // 20),
            pending=max(50, min(1000, rows // 100)),
            active=max(100, rows * 3 // 1000),
        )


class Progress:
    """A one-line progress bar on stderr (one line per tenth when stderr is not a terminal)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.started = label, total, time.monotonic()
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def update(self, done: int) -> None:
        step = int(done * (50 if self.tty else 10) / self.total)
        if step == self.shown and done < self.total:
            return
        self.shown = step
        fraction = done / self.total
        bar = "#" * int(fraction * 30)
        line = (
            f"  {self.label} [{bar:<30}] {fraction:4.0%} {done:,}/{self.total:,}"
            f" {time.monotonic() - self.started:5.1f} s"
        )
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        if self.tty and done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def load(db: BenchDatabase, busy_mechanic: uuid.UUID, shape: Shape, *, seed: int = 7) -> float:
    """Load the history; returns the seconds it took (COPY, then VACUUM ANALYZE)."""
    started = time.monotonic()
    rng = random.Random(seed)
    mechanics = [busy_mechanic] + [
        uuid.UUID(int=rng.getrandbits(128)) for _ in range(shape.mechanics - 1)
    ]
    customers = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(shape.customers)]
    _load_users(db, mechanics[1:], customers)
    cars = [customer_car(ci) for ci in range(shape.customers)]

    with ExitStack() as stack:
        conns = {t: stack.enter_context(db.connect(autocommit=False)) for t in COLUMNS}
        for conn in conns.values():
            # Rows are written in three parallel COPY streams that reference each other;
            # the generator keeps every constraint, so checks wait for the invariant scan.
            conn.execute("SET session_replication_role = replica")
        copies = {
            t: stack.enter_context(conn.cursor().copy(f"COPY {t} ({COLUMNS[t]}) FROM STDIN"))
            for t, conn in conns.items()
        }
        buffers: dict[str, list[str]] = {t: [] for t in COLUMNS}
        progress = Progress("loading history", shape.rows)
        write_row = _row_writer(rng, shape, mechanics, customers, cars, buffers)
        for n in range(shape.rows):
            write_row(n)
            if len(buffers["sessions"]) >= 5000 or n == shape.rows - 1:
                for table, lines in buffers.items():
                    copies[table].write("".join(lines))
                    lines.clear()
                progress.update(n + 1)
        stack.close()  # ends the COPYs and commits, in table order
    with db.connect() as conn:
        conn.execute("VACUUM (ANALYZE) users, intakes, sessions, session_requests")
    return time.monotonic() - started


def _load_users(db: BenchDatabase, mechanics: list[uuid.UUID], customers: list[uuid.UUID]) -> None:
    now = _ts(time.time() - 3 * YEAR)
    with (
        db.connect(autocommit=False) as conn,
        conn.cursor().copy(
            "COPY users (id, email, name, role, password_hash, on_duty, notify_by_email,"
            " created_at) FROM STDIN"
        ) as copy,
    ):
        for role, ids in (("mechanic", mechanics), ("customer", customers)):
            copy.write(
                "".join(
                    f"{uid}\thistory-{role}-{i}@bench.invalid\tHistory {role.title()} {i}"
                    f"\t{role}\t{NULL}\tf\tf\t{now}\n"
                    for i, uid in enumerate(ids)
                )
            )


def customer_car(ci: int) -> dict[str, object]:
    """Customer ``ci``'s car: one of :data:`VEHICLES`, with a VIN of its own."""
    own = random.Random(ci)
    vin = "".join(own.choice(VIN_LETTERS) for _ in range(17))
    return {**VEHICLES[ci % len(VEHICLES)], "vin": vin}


def _row_writer(
    rng: random.Random,
    shape: Shape,
    mechanics: list[uuid.UUID],
    customers: list[uuid.UUID],
    cars: list[dict[str, object]],
    out: dict[str, list[str]],
) -> Callable[[int], None]:
    end = time.time() - 600
    start = end - 3 * YEAR
    step = (end - start) / shape.rows
    first_pending = shape.rows - shape.pending
    first_active = first_pending - shape.active
    intakes, sessions, requests = out["intakes"], out["sessions"], out["session_requests"]
    u4 = uuid.uuid4

    def write(n: int) -> None:
        ci = rng.randrange(len(customers))
        customer = customers[ci]
        created = start + n * step + rng.random() * step
        intake_id, session_id, request_id = u4(), u4(), u4()
        kind = rng.choice(("chat", "chat", "chat", "video"))
        plan = rng.choice(("standard", "standard", "premium"))
        car = cars[ci]
        issue = RARE_ISSUE if rng.random() < RARE_SHARE else rng.choice(ISSUES)
        vehicle = json.dumps(car)
        intakes.append(f"{intake_id}\t{customer}\t{vehicle}\t{issue}\t{_ts(created)}\n")
        mechanic: uuid.UUID | None = None
        accepted = started = ended = closed = None
        summary = rating = None
        if n >= first_pending:
            s_status, r_status = "pending", "pending"
        else:
            roll = rng.random()
            if n < first_active and roll >= 0.94:  # never accepted
                s_status = "cancelled"
                r_status = "expired" if roll < 0.98 else "cancelled"
                ended = closed = created + 900
            else:
                mechanic = mechanics[0] if rng.random() < BUSY_SHARE else rng.choice(mechanics)
                accepted = created + 5 + rng.random() * 600
                r_status = "accepted"
                if n >= first_active:
                    s_status = rng.choice(("waiting", "live"))
                    if s_status == "live":
                        started = accepted + 30
                elif roll < 0.86:
                    s_status = "completed"
                    started = accepted + 10 + rng.random() * 300
                    ended = started + 300 + rng.random() * 3300
                    summary = "Worn pads; replace both front pads and skim the discs."
                    rating = str(rng.randint(1, 5)) if rng.random() < 0.7 else None
                else:
                    s_status, r_status = "cancelled", "cancelled"
                    ended = closed = accepted + 60 + rng.random() * 600
        m = str(mechanic) if mechanic else NULL
        found_by = search_text(f"History Customer {ci}", car, issue)
        found_by += f" {summary}" if summary else ""
        sessions.append(
            f"{session_id}\t{customer}\t{m}\t{kind}\t{plan}\t{s_status}\t{intake_id}\t{_ts(created)}"
            f"\t{_opt(started)}\t{_opt(ended)}\t{summary or NULL}\t{rating or NULL}\t{NULL}"
            f"\t{found_by}\n"
        )
        requests.append(
            f"{request_id}\t{customer}\tHistory Customer {ci}\t{kind}\t{plan}\t{r_status}\t{m}"
            f"\t{session_id}\t{_ts(created)}\t{_opt(accepted)}\t{_opt(closed)}\n"
        )

    return write


def _opt(t: float | None) -> str:
    return _ts(t) if t is not None else NULL


def check(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, int]:
    """Row counts by status, for the report."""
    rows = conn.execute(
        "SELECT s.status, count(*) FROM sessions s GROUP BY s.status ORDER BY 1"
    ).fetchall()
    return {str(status): int(str(count)) for status, count in rows}
