"""The event writer of the real-time measurement, in a process of its own.

``python -m bench.writer DATABASE_URL CUSTOMER_ID COUNT INTERVAL`` makes COUNT intakes as that
customer, one every INTERVAL seconds, and prints ``<request id> <monotonic time>`` for each
as soon as its transaction has committed. A separate process keeps the moment of commit free
of the measuring process's own work (one GIL shared with a thousand sockets would delay it).
CLOCK_MONOTONIC is the same clock in every process of the machine.
"""

from __future__ import annotations

import sys
import time
import uuid

from bench.seed import INTAKE
from pitcrew import auth, flow
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.schemas import IntakeIn


def main(argv: list[str]) -> int:
    url, customer_id, count, interval = argv[0], uuid.UUID(argv[1]), int(argv[2]), float(argv[3])
    db = Database(url, pool_size=1)
    customer = auth.Actor(id=customer_id, role=Role.CUSTOMER, name="Live Customer")
    body = IntakeIn.model_validate(INTAKE)
    commits: list[float] = []
    db.on_events_committed(lambda: commits.append(time.monotonic()))  # right after COMMIT
    try:
        for _ in range(count):
            answer, _ = flow.start_intake(db, customer, body)
            print(f"{answer.request_id} {commits[-1]}", flush=True)
            time.sleep(interval)
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
