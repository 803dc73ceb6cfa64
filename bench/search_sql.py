"""Every statement a searched dashboard page sends, run raw and timed as one: p50 / p99 each.

The dashboard's bench times a page's last statement raw; a search for words or a rating sends
two or three (its walks, then the page). Run on a database kept by
``python -m bench --dashboard-only --keep``: ``python -m bench.search_sql`` (``--database``,
``--samples``); each page's statements are replayed over psycopg, as the bench's raw side does,
the parallel workers off for a page whose search turns them off.
"""

from __future__ import annotations

import argparse
import time
import uuid

from bench import reads
from bench.database import BenchDatabase
from bench.stats import Latency
from pitcrew.db import Database

BUSIEST = (
    "SELECT mechanic_id FROM sessions WHERE mechanic_id IS NOT NULL"
    " GROUP BY mechanic_id ORDER BY count(*) DESC LIMIT 1"
)
WARM_UP = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search_sql", description=__doc__)
    parser.add_argument("--database", default="pitcrew_bench", help="a kept bench database")
    parser.add_argument("--samples", type=int, default=30, help="timed runs of each page")
    args = parser.parse_args(argv)
    bench_db = BenchDatabase.from_env(args.database)
    db = Database(bench_db.url, pool_size=2)
    try:
        with bench_db.connect() as conn:
            conn.execute("SET plan_cache_mode = force_custom_plan")  # as the app's engine does
            busiest = conn.execute(BUSIEST).fetchone()
            if busiest is None:
                print("error: the database holds no mechanic's sessions")
                return 2
            mechanic_id = busiest[0]
            assert isinstance(mechanic_id, uuid.UUID)
            for read in reads.plan_searches(db, mechanic_id):
                serial = any("max_parallel_workers_per_gather" in sql for sql, _ in read.statements)
                conn.execute(
                    "SET max_parallel_workers_per_gather = 0"
                    if serial
                    else "RESET max_parallel_workers_per_gather"
                )
                selects = [
                    (sql, p) for sql, p in read.statements if sql.lstrip().startswith("SELECT")
                ]
                sums = []
                for i in range(WARM_UP + args.samples):
                    started = time.perf_counter()
                    for sql, params in selects:
                        conn.execute(sql, params).fetchall()
                    if i >= WARM_UP:
                        sums.append(time.perf_counter() - started)
                taken = Latency.of(sums)
                print(
                    f"{read.name} of {read.total:,} found: {len(selects)} statements,"
                    f" {taken.p50:.1f} ms / {taken.p99:.1f} ms",
                    flush=True,
                )
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
