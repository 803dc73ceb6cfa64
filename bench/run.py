"""``python -m bench [--quick]``: ceilings first, then each hot path as a share of its ceiling.

Runs against a dedicated PostgreSQL database (created and dropped here), serves pitcrew with
``pitcrew serve --no-migrate --workers 2`` on loopback, prints the table as it goes and writes
it to bench/RESULTS.md (a full run) or to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select

from bench import ceilings, events_log, history, hosts, load, profile, reads, realtime, seed
from bench.database import BenchDatabase
from bench.report import Report, Row, check, fmt, goal, machine, other_load
from bench.server import Server
from bench.stats import Latency, ratio
from pitcrew import invariants
from pitcrew.db import Database
from pitcrew.models import Role, Session, SessionRequest

RESULTS = Path(__file__).parent / "RESULTS.md"
WORKERS = 2
SERVER_ENV = {
    # The history's queue is older than the default REQUEST_TTL: the sweeper must not expire
    # it while the dashboard is measured.
    "REQUEST_TTL": "P30D",
    # /metrics recounts every invariant in each worker every 15 s by default: full scans
    # that, on a million sessions, would compete with whatever is being measured. The bench
    # times that count on its own ("invariants" rows) and keeps it out of the other figures.
    "METRICS_REFRESH_SECONDS": "3600",
}


@dataclass(frozen=True)
class Plan:
    name: str
    clients: int  # pgbench clients and HTTP concurrency for intake and healthz
    uncontended_per_client: int  # accepts each pgbench client makes on its own rows
    contended_rows: int  # requests all pgbench clients race for, per M
    racers: tuple[int, ...]  # M
    race_requests: int  # K
    seconds: float  # each timed run (pgbench -T, HTTP closed loops)
    history_rows: int
    samples: int  # per dashboard page, API and raw each
    sse: tuple[tuple[int, int], ...]  # (clients, events committed)
    sse_interval: float  # seconds between those events
    events_rows: int  # the long events log: replay and a session's timeline over it
    two_hosts: tuple[int, int]  # dashboards on host B, requests made through host A


FULL = Plan(
    "full",
    8,
    500,
    300,
    (2, 8, 32),
    200,
    8.0,
    1_000_000,
    200,
    ((100, 50), (1000, 25), (5000, 10)),
    0.2,
    10_000_000,
    (1000, 25),
)
# A smoke run: every phase and every check of the full one, on as little as still exercises
# them (a deep page, a crowded race, streams on both hosts); its figures mean nothing.
QUICK = Plan("quick", 4, 20, 10, (2, 8, 32), 6, 1.0, 10_000, 3, ((10, 3),), 0.1, 100_000, (10, 3))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about a minute)")
    parser.add_argument("--out", type=Path, help="where to write the results (markdown)")
    parser.add_argument("--database", default="pitcrew_bench", help="bench database name")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--install-pgbench", action="store_true", help="apt-get install pgbench when missing"
    )
    parser.add_argument(
        "--events-only",
        action="store_true",
        help="only the long events log (no pgbench, no server): replay and timeline reads",
    )
    parser.add_argument(
        "--dashboard-only",
        action="store_true",
        help="only the long history (no pgbench): the dashboard's tabs and searches",
    )
    parser.add_argument(
        "--accept-only",
        action="store_true",
        help="only the pgbench ceilings and the accept race (written only with --out)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="repeat each phase with a goal under py-spy (unmeasured) and summarise the profiles",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    out = args.out or (None if args.quick or args.accept_only else RESULTS)
    try:
        only = args.events_only or args.dashboard_only
        pgbench = "" if only else ceilings.find_pgbench(install=args.install_pgbench)
    except ceilings.MissingPgbench as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    spy = profile.find_py_spy() if args.profile else None
    if args.profile and spy is None:
        print("error: --profile needs py-spy (pip install py-spy)", file=sys.stderr)
        return 2
    _raise_open_files_limit()
    db = BenchDatabase.from_env(args.database)
    report = Report(mode=plan.name)
    load_before = other_load()
    db.create()
    report.machine = machine(db.server_version())
    print(f"pitcrew bench ({plan.name}) on {db.url}", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="pitcrew-bench-") as logs:
            profiler = profile.Profiler(spy, Path(logs) / "profiles") if spy else None
            if args.events_only:
                _events_log(plan, db, report)
            elif args.dashboard_only:
                _dashboard_only(plan, db, report, Path(logs), profiler)
            elif args.accept_only:
                _run(plan, pgbench, db, report, Path(logs), profiler, accept_only=True)
            else:
                _run(plan, pgbench, db, report, Path(logs), profiler)
            if profiler is not None:
                report.details.append(
                    "## Profiles\n\npy-spy sampled the server's workers while they held the GIL"
                    " (their CPU time) during an extra, unmeasured repetition of each phase.\n\n"
                    + "\n\n".join(p.markdown() for p in profiler.profiles)
                )
    finally:
        if not args.keep:
            db.drop()
    report.machine["other load"] = (
        f"{load_before}; load average {os.getloadavg()[0]:.1f} at the end"
    )
    report.machine["duration"] = f"{time.monotonic() - report.started:.0f} s"
    print(f"\n{report.table()}\n")
    if out is not None:
        report.write(out)
        print(f"written to {out}")
    failed = report.failed_checks
    for row in failed:
        print(f"FAILED: {row.section} {row.measure}", file=sys.stderr)
    return 1 if failed else 0


def _raise_open_files_limit() -> None:
    """Thousands of live streams need as many sockets on each side (servers inherit this)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 16384
    if soft < wanted <= hard or hard == resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@dataclass
class Ceilings:
    accepts: dict[int, float]  # contended pgbench accepts/s, by M
    intakes: float = 0.0  # pgbench intakes/s, the three INSERTs
    intakes_full: float = 0.0  # pgbench intakes/s, every statement start_intake sends


def _run(
    plan: Plan,
    pgbench: str,
    db: BenchDatabase,
    report: Report,
    logs: Path,
    profiler: profile.Profiler | None,
    *,
    accept_only: bool = False,
) -> None:
    database = Database(db.url, pool_size=4)
    try:
        ceiling = _ceilings(plan, pgbench, db, report)
        with Server(db.url, workers=WORKERS, log_dir=logs, env=SERVER_ENV) as server:
            if accept_only:
                _accept_race(plan, database, server, report, ceiling.accepts, profiler)
                _invariants(database, report, "after the accept race")
                return
            _ceiling_http(plan, server, report)
            _accept_race(plan, database, server, report, ceiling.accepts, profiler)
            _intake(plan, database, server, report, ceiling, profiler)
            _invariants(database, report, "after the write phases")
            _dashboard(plan, db, database, server, report, profiler)
            _realtime(plan, database, server, report, profiler)
            with Server(db.url, workers=WORKERS, log_dir=logs, env=SERVER_ENV) as second:
                _two_hosts(plan, database, server, second, report)
    finally:
        database.dispose()
    # With the server stopped: its event buses would otherwise read the whole log.
    _events_log(plan, db, report)


def _dashboard_only(
    plan: Plan, db: BenchDatabase, report: Report, logs: Path, profiler: profile.Profiler | None
) -> None:
    database = Database(db.url, pool_size=4)
    try:
        with Server(db.url, workers=WORKERS, log_dir=logs, env=SERVER_ENV) as server:
            _dashboard(plan, db, database, server, report, profiler)
    finally:
        database.dispose()


# --- ceilings ----------------------------------------------------------------------------


def _ceilings(plan: Plan, pgbench: str, db: BenchDatabase, report: Report) -> Ceilings:
    """The pgbench runs, in the order the table lists them."""
    c, per = plan.clients, plan.uncontended_per_client
    uncontended_rows = c * per
    total = uncontended_rows + plan.contended_rows * len(plan.racers)
    with db.connect() as conn:
        seed.seed_pgbench(conn, total)
    s = "ceiling"

    run = ceilings.pgbench(
        pgbench,
        db,
        "accept.sql",
        clients=c,
        transactions=per,
        define={"n": 0, "won_n": -1, "first": 1, "stride": per},
    )
    with db.connect() as conn:
        won = seed.accepted_numbered(conn, 1, uncontended_rows)
    report.add(
        Row(
            s,
            f"pgbench accept, uncontended, {c} clients",
            _rate(run.tps, "accepts/s"),
            goal=f"{uncontended_rows} accepted",
            verdict=check(won == uncontended_rows),
        )
    )

    found = Ceilings(accepts={})
    first = uncontended_rows + 1
    for m in plan.racers:
        k = plan.contended_rows
        run = ceilings.pgbench(
            pgbench,
            db,
            "accept.sql",
            clients=m,
            transactions=k,
            define={"n": 0, "won_n": -1, "first": first, "stride": 0},
        )
        with db.connect() as conn:
            won = seed.accepted_numbered(conn, first, first + k - 1)
        found.accepts[m] = k / run.seconds
        report.add(
            Row(
                s,
                f"pgbench accept, contended, M={m} racing for {k}",
                f"{_rate(found.accepts[m], 'accepts/s')}; p99 {fmt(run.latency.p99, ' ms', 1)}",
                goal=f"exactly {k} winners",
                verdict=check(won == k),
            )
        )
        first += k

    run = ceilings.pgbench(pgbench, db, "intake.sql", clients=c, seconds=plan.seconds)
    report.add(
        Row(
            s,
            f"pgbench intake (3 INSERTs), {c} clients",
            f"{_rate(run.tps, 'intakes/s')}; p99 {fmt(run.latency.p99, ' ms', 1)}",
        )
    )
    found.intakes = run.tps

    run = ceilings.pgbench(pgbench, db, "intake_full.sql", clients=c, seconds=plan.seconds)
    report.add(
        Row(
            s,
            f"pgbench intake as start_intake sends it (+ event, {seed.ON_DUTY} notifications,"
            f" event), {c} clients",
            f"{_rate(run.tps, 'intakes/s')}; p99 {fmt(run.latency.p99, ' ms', 1)}",
        )
    )
    found.intakes_full = run.tps

    run = ceilings.pgbench(
        pgbench,
        db,
        "select.sql",
        clients=c,
        seconds=plan.seconds,
        define={"first": 1, "last": total},
    )
    report.add(Row(s, f"pgbench select-only, {c} clients", _rate(run.tps, "selects/s")))
    return found


def _ceiling_http(plan: Plan, server: Server, report: Report) -> None:
    with cpu_share(server) as cpu:
        loop = asyncio.run(
            load.closed_loop(
                server.base_url, load.healthz(), concurrency=plan.clients, seconds=plan.seconds
            )
        )
    report.add(
        Row(
            "ceiling",
            f"GET /healthz (no database), {plan.clients} clients, {WORKERS} workers",
            f"{_rate(loop.rate, 'req/s')}; p50 {fmt(loop.latency.p50, ' ms', 1)}"
            f" p99 {fmt(loop.latency.p99, ' ms', 1)}; {cpu};"
            f" {cpu.per_request(loop.latency.count)}",
        )
    )
    report.details.append(
        "The HTTP figures share the machine's cores with the load generator (one asyncio "
        "process, one keep-alive connection per simulated user, see bench/wire.py); its CPU "
        "is shown next to the server's."
    )


# --- the accept race ---------------------------------------------------------------------


def _accept_race(
    plan: Plan,
    database: Database,
    server: Server,
    report: Report,
    ceiling: dict[int, float],
    profiler: profile.Profiler | None,
) -> None:
    mechanics = seed.accounts(
        database, Role.MECHANIC, max(plan.racers), label="racer", on_duty=False
    )
    customer = seed.accounts(database, Role.CUSTOMER, 1, label="racecustomer", on_duty=False)[0]
    me = httpx.get(f"{server.base_url}/api/auth/me", headers=mechanics[0].headers)
    if me.status_code != 200:
        raise RuntimeError(f"bench tokens are not accepted by the server: {me.text}")
    warm = seed.pending_requests(database, customer.actor, 10)
    asyncio.run(load.race(server.base_url, mechanics[:8], warm))
    k = plan.race_requests
    for m in plan.racers:
        ids = seed.pending_requests(database, customer.actor, k)
        with cpu_share(server) as cpu:
            race = asyncio.run(load.race(server.base_url, mechanics[:m], ids))
        lat = Latency.of(race.latencies)
        r = ratio(race.accepts_per_second, ceiling[m])
        at_goal = m == 8
        report.add(
            Row(
                "accept race",
                f"M={m} mechanics racing for K={k} requests over HTTP",
                f"{_rate(race.accepts_per_second, 'accepts/s')}"
                f" ({_rate(race.attempts_per_second, 'attempts/s')})",
                _rate(ceiling[m], "accepts/s"),
                fmt(r, "", 2),
                "≥ 0.3" if at_goal else "",
                goal(r >= 0.3) if at_goal else "",
            )
        )
        report.add(
            Row(
                "accept race",
                f"M={m} latency per attempt (p50 / p99)",
                f"{fmt(lat.p50, ' ms', 1)} / {fmt(lat.p99, ' ms', 1)}; {cpu};"
                f" {cpu.per_request(lat.count)}",
                "",
                "",
                "p99 < 50 ms" if at_goal else "",
                goal(lat.p99 < 50) if at_goal else "",
            )
        )
        answers = ", ".join(f"{n} x {code}" for code, n in sorted(race.statuses.items()))
        held = _held_by_winners(database, race)
        report.add(
            Row(
                "accept race",
                f"M={m} invariant: exactly K winners ({answers})",
                f"{len(race.winners)} winners, {held} held in the database",
                goal=f"exactly {k}, each by its 200",
                verdict=check(
                    race.exactly_one_winner_each
                    and held == k
                    and sum(race.statuses.values()) == m * k
                    and set(race.statuses) <= {"200", "409 request_taken"}
                ),
            )
        )
    if profiler is not None:
        ids = seed.pending_requests(database, customer.actor, k)
        with profiler.record("accept race, M=8", server):
            asyncio.run(load.race(server.base_url, mechanics[:8], ids))


def _held_by_winners(database: Database, race: load.Race) -> int:
    """Requests accepted, with their session waiting, by the mechanic that got the 200."""
    ids = [uuid.UUID(r) for r in race.requests]
    with database.read() as s:
        rows = s.execute(
            select(
                SessionRequest.id,
                SessionRequest.status,
                SessionRequest.mechanic_id,
                Session.status,
                Session.mechanic_id,
            )
            .join(Session, Session.id == SessionRequest.parent_session_id)
            .where(SessionRequest.id.in_(ids))
        ).all()
    return sum(
        1
        for rid, r_status, r_mech, s_status, s_mech in rows
        if r_status == "accepted"
        and s_status == "waiting"
        and r_mech == s_mech
        and [str(r_mech)] == race.winners.get(str(rid))
    )


# --- intake ------------------------------------------------------------------------------


def _intake(
    plan: Plan,
    database: Database,
    server: Server,
    report: Report,
    ceiling: Ceilings,
    profiler: profile.Profiler | None,
) -> None:
    customers = seed.accounts(
        database, Role.CUSTOMER, plan.clients, label="customer", on_duty=False
    )
    with cpu_share(server) as cpu:
        loop = asyncio.run(
            load.closed_loop(
                server.base_url,
                load.intake(customers),
                concurrency=plan.clients,
                seconds=plan.seconds,
            )
        )
    r = ratio(loop.rate, ceiling.intakes)
    report.add(
        Row(
            "intake",
            f"POST /api/intake/start, {plan.clients} customers, {seed.ON_DUTY} mechanics on duty",
            f"{_rate(loop.rate, 'intakes/s')}; p50 {fmt(loop.latency.p50, ' ms', 1)}"
            f" p99 {fmt(loop.latency.p99, ' ms', 1)}; {cpu};"
            f" {cpu.per_request(loop.latency.count)}",
            _rate(ceiling.intakes, "intakes/s"),
            fmt(r, "", 2),
            "≥ 0.25",
            goal(r >= 0.25),
        )
    )
    report.add(
        Row(
            "intake",
            "the same against every statement start_intake sends",
            _rate(loop.rate, "intakes/s"),
            _rate(ceiling.intakes_full, "intakes/s"),
            fmt(ratio(loop.rate, ceiling.intakes_full), "", 2),
        )
    )
    statuses = dict(loop.statuses)
    report.add(
        Row("intake", "every answer 201", f"{statuses}", verdict=check(set(statuses) == {201}))
    )
    if profiler is not None:
        with profiler.record("intake", server):
            asyncio.run(
                load.closed_loop(
                    server.base_url,
                    load.intake(customers),
                    concurrency=plan.clients,
                    seconds=plan.seconds / 2,
                )
            )


def _invariants(database: Database, report: Report, when: str) -> None:
    """Every invariant checked over the whole database (what ``/metrics`` repeats)."""
    started = time.monotonic()
    with database.engine.connect() as c:
        found = {k: len(v) for k, v in invariants.violations(c).items() if v}
    took = time.monotonic() - started
    report.add(
        Row(
            "invariants",
            f"DESIGN's invariants {when}",
            ("none broken" if not found else str(found))
            + f" ({len(invariants.INVARIANTS)} checks in {took:.1f} s; /metrics runs them"
            " in every worker every METRICS_REFRESH_SECONDS, 15 s by default)",
            verdict=check(not found),
        )
    )


# --- dashboard ---------------------------------------------------------------------------


def _plan_words(plan: reads.Plan) -> str:
    """The indexes a plan used, and its sequential scans if any."""
    words = ", ".join(dict.fromkeys(plan.indexes)) or "no index"
    if plan.seq_scans:
        words += f"; Seq Scan on {', '.join(plan.seq_scans)}"
    return words


def _timed(section: str, what: str, api: Latency, raw: Latency, p99_goal_ms: float) -> Row:
    """A read's latency through pitcrew against its own SQL run raw, with a p99 goal."""
    return Row(
        section,
        what,
        f"{fmt(api.p50, ' ms', 1)} / {fmt(api.p99, ' ms', 1)}",
        f"raw SQL {fmt(raw.p50, ' ms', 2)} / {fmt(raw.p99, ' ms', 2)}",
        f"{fmt(ratio(api.p50, raw.p50), 'x', 1)} (p50)",
        f"p99 < {p99_goal_ms:g} ms",
        goal(api.p99 < p99_goal_ms),
    )


def _search_rows(read: reads.TabRead, report: Report) -> None:
    """A searched page of Completed or History: its latency, then its plan and paging."""
    assert read.api is not None and read.raw is not None
    asked = ", ".join(f"{key}={value}" for key, value in read.search.items())
    where = f"page after {read.skipped:,} rows of" if read.skipped else "first page of"
    what = f"{read.tab}, {asked}, {where} {read.total:,} found: API p50 / p99"
    report.add(_timed("search", what, read.api, read.raw, 50))
    paging = "keyset" if read.keyset else "NOT keyset"
    report.add(Row("search", f"{read.name}: plan", f"{_plan_words(read.plan)}; {paging}"))


def _dashboard(
    plan: Plan,
    db: BenchDatabase,
    database: Database,
    server: Server,
    report: Report,
    profiler: profile.Profiler | None,
) -> None:
    busy = seed.accounts(database, Role.MECHANIC, 1, label="busy", on_duty=False)[0]
    shape = history.Shape.for_rows(plan.history_rows)
    seconds = history.load(db, busy.actor.id, shape)
    with db.connect() as conn:
        held = conn.execute(
            "SELECT count(*) FROM sessions WHERE mechanic_id = %s", (busy.actor.id,)
        ).fetchone()
    report.add(
        Row(
            "dashboard",
            f"history loaded with COPY: {shape.rows:,} sessions and requests",
            f"{seconds:.0f} s; the busy mechanic holds {int(str(held[0] if held else 0)):,}",
        )
    )
    _invariants(database, report, "with the history loaded")
    tab_reads, whole = reads.run(database, db, server.base_url, busy, plan.samples)
    for read in tab_reads:
        assert read.api is not None and read.raw is not None
        if read.page == "search":
            _search_rows(read, report)
            continue
        where = "first page" if read.page == "first" else f"page after {read.skipped:,} rows"
        r = ratio(read.api.p50, read.raw.p50)
        report.add(
            Row(
                "dashboard",
                f"{read.tab}, {where} of {read.total:,}: API p50 / p99",
                f"{fmt(read.api.p50, ' ms', 1)} / {fmt(read.api.p99, ' ms', 1)}",
                f"raw SQL {fmt(read.raw.p50, ' ms', 2)} / {fmt(read.raw.p99, ' ms', 2)}",
                f"{fmt(r, 'x', 1)} (p50)",
                "p99 < 20 ms, ≤ 2x raw",
                goal(read.api.p99 < 20 and r <= 2),
            )
        )
        plan_words = _plan_words(read.plan)
        report.add(
            Row(
                "dashboard",
                f"{read.tab}, {read.page} page: plan and paging",
                f"{plan_words}; {'keyset' if read.keyset else 'NOT keyset'}",
                goal="index, keyset",
                verdict=goal(read.plan.uses_index and read.keyset and not read.plan.seq_scans),
            )
        )
    report.add(
        Row(
            "dashboard",
            "every page above lists through the API the rows its SQL returns",
            ", ".join(f"{r.name}: {'same' if r.same_rows else 'DIFFERENT'}" for r in tab_reads),
            goal="the same rows",
            verdict=check(all(r.same_rows for r in tab_reads)),
        )
    )
    report.add(
        Row(
            "dashboard",
            "GET /api/mechanic/dashboard (four first pages) p50 / p99",
            f"{fmt(whole.p50, ' ms', 1)} / {fmt(whole.p99, ' ms', 1)}",
        )
    )
    if profiler is not None:
        with profiler.record("dashboard, every page above", server):
            asyncio.run(reads.replay(tab_reads, server.base_url, busy, plan.samples))
    report.details.append(
        "<details><summary>EXPLAIN ANALYZE of each dashboard page (busy mechanic)</summary>\n\n"
        + "\n\n".join(f"**{r.name}**\n\n```\n{r.plan.text}\n```" for r in tab_reads)
        + "\n\n</details>"
    )


# --- the long events log -----------------------------------------------------------------


def _events_log(plan: Plan, db: BenchDatabase, report: Report) -> None:
    seconds, session_id = events_log.fill(db, plan.events_rows)
    database = Database(db.url, pool_size=2)
    try:
        with db.connect() as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
        total = int(str(row[0])) if row else 0
        report.add(
            Row(
                "events log",
                f"events filled with INSERT … SELECT generate_series: {plan.events_rows:,}",
                f"{seconds:.0f} s with VACUUM ANALYZE; {total:,} events in the log",
            )
        )
        reads_done = events_log.run(database, db, session_id, plan.samples)
        for read in reads_done:
            assert read.api is not None and read.raw is not None
            what = f"{read.name}, {read.rows} row{'' if read.rows == 1 else 's'}: p50 / p99"
            report.add(_timed("events log", what, read.api, read.raw, 20))
            plan_words = _plan_words(read.plan)
            report.add(
                Row(
                    "events log",
                    f"{read.name}: plan",
                    plan_words,
                    goal="index scan, no Seq Scan",
                    verdict=check(read.plan.uses_index and not read.plan.seq_scans),
                )
            )
        report.details.append(
            "<details><summary>EXPLAIN ANALYZE of each events log read</summary>\n\n"
            + "\n\n".join(f"**{r.name}**\n\n```\n{r.plan.text}\n```" for r in reads_done)
            + "\n\n</details>"
        )
    finally:
        database.dispose()


# --- real time ---------------------------------------------------------------------------


def _realtime(
    plan: Plan,
    database: Database,
    server: Server,
    report: Report,
    profiler: profile.Profiler | None,
) -> None:
    answer = httpx.get(f"{server.base_url}/openapi.json").json()
    if "/api/events" not in answer.get("paths", {}):
        report.add(
            Row("real time", "GET /api/events", "not served by this revision", verdict="FAIL")
        )
        return
    mechanics = seed.accounts(database, Role.MECHANIC, 20, label="watcher", on_duty=False)
    customer = seed.accounts(database, Role.CUSTOMER, 1, label="livecustomer", on_duty=False)[0]
    for clients, events in plan.sse:
        with cpu_share(server) as cpu:
            live = asyncio.run(
                realtime.measure(
                    server,
                    database.url,
                    mechanics,
                    customer,
                    clients=clients,
                    events=events,
                    interval=plan.sse_interval,
                )
            )
        assert live.latency is not None
        at_goal = clients >= 1000
        report.add(
            Row(
                "real time",
                f"N={clients} SSE clients, {WORKERS} workers: commit→client p50 / p99",
                f"{fmt(live.latency.p50, ' ms', 1)} / {fmt(live.latency.p99, ' ms', 1)}; {cpu}",
                goal="p99 < 100 ms" if at_goal else "",
                verdict=goal(live.latency.p99 < 100) if at_goal else "",
            )
        )
        report.add(
            Row(
                "real time",
                f"N={clients}: delivered / expected ({events} events each)",
                f"{live.delivered:,} / {live.expected:,} ({live.delivered_share:.1%});"
                f" {live.dropped} streams ended",
                goal="100%",
                verdict=check(live.delivered == live.expected and not live.dropped),
            )
        )
        report.add(
            Row(
                "real time",
                f"N={clients}: server memory per connection",
                f"{fmt(live.bytes_per_connection / 1024, ' KiB', 1)}"
                f" (connected in {live.connect_seconds:.1f} s);"
                f" {live.cpu_per_delivery * 1e6:.0f} µs server CPU per message delivered",
            )
        )
    if profiler is not None:
        clients, events = plan.sse[-1]
        with profiler.record(f"real time, N={clients}", server):
            asyncio.run(
                realtime.measure(
                    server,
                    database.url,
                    mechanics,
                    customer,
                    clients=clients,
                    events=max(5, events // 2),
                    interval=plan.sse_interval,
                )
            )


# --- helpers -----------------------------------------------------------------------------


@dataclass
class CpuShare:
    """CPU used during a measurement by the server's workers and by this load generator."""

    server: float = 0.0  # seconds
    client: float = 0.0
    wall: float = 1e-9

    def __str__(self) -> str:
        return (
            f"CPU: server {self.server / self.wall:.1f} + client {self.client / self.wall:.1f}"
            " cores"
        )

    def per_request(self, requests: int) -> str:
        """Server CPU per request: with the cores available, what bounds the rate."""
        return f"{self.server / max(1, requests) * 1000:.1f} ms server CPU per request"


@contextmanager
def cpu_share(server: Server) -> Iterator[CpuShare]:
    share = CpuShare()
    server0, client0, wall0 = server.cpu_seconds(), time.process_time(), time.monotonic()
    yield share
    share.wall = max(1e-9, time.monotonic() - wall0)
    share.server = server.cpu_seconds() - server0
    share.client = time.process_time() - client0


def _rate(value: float, unit: str) -> str:
    return f"{fmt(value)} {unit}"


# --- two hosts ---------------------------------------------------------------------------


def _two_hosts(plan: Plan, database: Database, a: Server, b: Server, report: Report) -> None:
    """A second ``pitcrew serve`` on the same database, sharing nothing else with the first."""
    section = "two hosts"
    mechanics = seed.accounts(database, Role.MECHANIC, 20, label="hostwatcher", on_duty=False)
    customer = seed.accounts(database, Role.CUSTOMER, 1, label="hostcustomer", on_duty=False)[0]
    clients, events = plan.two_hosts
    crossed = asyncio.run(
        hosts.measure(
            a, b, mechanics, customer, clients=clients, events=events, interval=plan.sse_interval
        )
    )
    report.add(
        Row(
            section,
            f"N={clients} dashboards on host B, requests made through host A:"
            " sent→client p50 / p99",
            f"{fmt(crossed.latency.p50, ' ms', 1)} / {fmt(crossed.latency.p99, ' ms', 1)}",
            goal="p99 < 100 ms",
            verdict=goal(crossed.latency.p99 < 100),
        )
    )
    report.add(
        Row(
            section,
            f"N={clients}: delivered / expected ({events} requests each)",
            f"{crossed.delivered:,} / {crossed.expected:,} ({crossed.delivered_share:.1%});"
            f" {crossed.dropped} streams ended",
            goal="100%",
            verdict=check(crossed.delivered == crossed.expected and not crossed.dropped),
        )
    )
    racers = seed.accounts(database, Role.MECHANIC, 8, label="hostracer", on_duty=False)
    k = plan.race_requests
    ids = seed.pending_requests(database, customer.actor, k)
    race = asyncio.run(load.race([a.base_url, b.base_url], racers, ids))
    lat = Latency.of(race.latencies)
    held = _held_by_winners(database, race)
    report.add(
        Row(
            section,
            f"M=8 mechanics (4 on each host) racing for K={k} requests",
            f"{_rate(race.accepts_per_second, 'accepts/s')}; p50 {fmt(lat.p50, ' ms', 1)}"
            f" p99 {fmt(lat.p99, ' ms', 1)}; {len(race.winners)} winners, {held} held",
            goal=f"exactly {k}, each by its 200",
            verdict=check(race.exactly_one_winner_each and held == k),
        )
    )
