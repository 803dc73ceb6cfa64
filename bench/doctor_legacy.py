"""The operator's path on a large database of the replaced system, step by step, timed.

    python -m bench.doctor_legacy [--rows 100000] [--server postgresql+psycopg://postgres@127.0.0.1:5432]

Builds a throw-away PostgreSQL database shaped like the replaced system (tests/legacy_schema.sql
without its rows) holding ``--rows`` intakes, sessions and requests: 70% completed, 10%
cancelled after acceptance, 10% expired, 9% pending and 1% the incident (an accepted request
without parent_session_id, its session waiting with no mechanic). Then it times a dry run of
``pitcrew doctor``, ``--apply``, the clean re-check, the adoption, and one refresh of the
/metrics gauges on the adopted database.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from pitcrew import adopt, doctor, metrics
from pitcrew.db import Database

SCHEMA = Path(__file__).parent.parent / "tests" / "legacy_schema.sql"
NAME = "pitcrew_bench_legacy"

ROWS_SQL = """
INSERT INTO intakes (id, customer_id, vehicle_info, issue_description, created_at)
SELECT md5('i' || g)::uuid, md5('c' || (g % :customers))::uuid,
       '{"year": 2015, "make": "Ford", "model": "Focus"}', 'Noise from the front',
       timestamptz '2023-01-01' + g * interval '1 minute'
FROM generate_series(1, :rows) g;

INSERT INTO sessions (id, customer_user_id, mechanic_id, type, plan_code, status, intake_id,
                      created_at, started_at, ended_at, summary, rating)
SELECT md5('s' || g)::uuid, md5('c' || (g % :customers))::uuid,
       CASE WHEN k < 80 THEN md5('m' || (g % 200))::uuid END,
       CASE WHEN g % 3 = 0 THEN 'video' ELSE 'chat' END, 'standard',
       CASE WHEN k < 70 THEN 'completed' WHEN k < 90 THEN 'cancelled'
            WHEN k < 99 THEN 'pending' ELSE 'waiting' END,
       md5('i' || g)::uuid, at,
       CASE WHEN k < 70 THEN at + interval '2 minutes' END,
       CASE WHEN k < 90 THEN at + interval '20 minutes' END,
       CASE WHEN k < 70 THEN 'Done' END,
       CASE WHEN k < 70 THEN 1 + g % 5 END
FROM (SELECT g, g % 100 AS k, timestamptz '2023-01-01' + g * interval '1 minute' AS at
      FROM generate_series(1, :rows) g) x;

INSERT INTO session_requests (id, customer_id, customer_name, session_type, plan_code, status,
                              mechanic_id, parent_session_id, created_at, accepted_at)
SELECT md5('r' || g)::uuid, md5('c' || (g % :customers))::uuid, 'Customer ' || (g % :customers),
       CASE WHEN g % 3 = 0 THEN 'video' ELSE 'chat' END, 'standard',
       CASE WHEN k < 70 OR k = 99 THEN 'accepted' WHEN k < 80 THEN 'cancelled'
            WHEN k < 90 THEN 'expired' ELSE 'pending' END,
       CASE WHEN k < 80 OR k = 99 THEN md5('m' || (g % 200))::uuid END,
       CASE WHEN k = 99 THEN NULL ELSE md5('s' || g)::uuid END,
       at + interval '1 second',
       CASE WHEN k < 80 OR k = 99 THEN at + interval '1 minute' END
FROM (SELECT g, g % 100 AS k, timestamptz '2023-01-01' + g * interval '1 minute' AS at
      FROM generate_series(1, :rows) g) x;
"""


def _timed(label: str, work: Callable[[], Any], lines: list[str]) -> Any:
    started = time.perf_counter()
    result = work()
    lines.append(f"| {label} | {time.perf_counter() - started:.2f} s |")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()

    admin = create_engine(f"{args.server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{NAME}"'))
    url = f"{args.server}/{NAME}"
    lines = [f"{args.rows} rows per table", "", "| step | time |", "|---|---|"]
    try:
        engine = create_engine(url)
        tables_only = re.split(r"\n-- The incident", SCHEMA.read_text())[0]
        with engine.begin() as c:
            c.exec_driver_sql(tables_only)
            for statement in ROWS_SQL.split(";\n"):
                if statement.strip():
                    c.execute(text(statement), {"rows": args.rows, "customers": args.rows // 5})
            c.exec_driver_sql("ANALYZE")
        engine.dispose()
        db = Database(url)
        found = _timed("doctor (dry run)", lambda: doctor.check(db), lines)
        _timed("doctor --apply", lambda: doctor.apply(db), lines)
        clean = _timed("doctor again (clean)", lambda: doctor.check(db), lines)
        adopted = _timed("migrate (adoption)", lambda: adopt.adopt(db), lines)
        _timed("metrics gauges refresh (adopted)", lambda: metrics.refresh(db), lines)
        _timed("doctor on the adopted database", lambda: doctor.check(db), lines)
        db.dispose()
        lines += [
            "",
            f"problems found: {len(found.problems)} ({len(found.repairable)} repairable);"
            f" after repair: {len(clean.problems)}",
            f"accounts created: {len(adopted.mechanics)} mechanics, {adopted.customers} customers",
        ]
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))
        admin.dispose()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
