"""The dashboard over a long history: each tab through the API against its own SQL run raw.

The SQL is not written here: it is captured from ``pitcrew.dashboard`` as it runs, so the
raw side is exactly what the API sends, and EXPLAIN is taken of that same statement.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import psycopg
from sqlalchemy import event, text

from bench import history
from bench.database import BenchDatabase
from bench.load import connections
from bench.seed import Account
from bench.stats import Latency
from bench.wire import Connection
from pitcrew import dashboard
from pitcrew.dashboard import Page
from pitcrew.db import Database
from pitcrew.schemas import DashboardQuery

TABS = ("incoming", "active", "completed", "history")
DEEP = 0.9  # a deep page starts this far into the tab
# What a mechanic looks for in Completed and History, from common to absent: a car one
# session in five is about, a word one session in five hundred holds, one car's VIN, one
# customer's name, words with a rating, one week three years back, a common word within a
# month, and a word no session holds (the whole history is read to find nothing). A search
# finding more than two pages is also read 90% deep, through the cursor.
SEARCHES: tuple[dict[str, str], ...] = (
    {"q": "civic"},
    {"q": "turbocharger"},
    {"q": "{vin}"},
    {"q": "History Customer 417"},
    {"q": "gearbox slips", "rating": "1"},
    {"since": "{three_years_ago}", "until": "{three_years_ago_plus_week}"},
    {"q": "civic", "since": "{a_year_ago}", "until": "{a_year_ago_plus_month}"},
    {"q": "Lamborghini"},
)


@dataclass
class Plan:
    indexes: list[str] = field(default_factory=list)
    seq_scans: list[str] = field(default_factory=list)
    text: str = ""

    @property
    def uses_index(self) -> bool:
        return bool(self.indexes)


@dataclass
class TabRead:
    tab: str
    page: str  # "first" or "deep"
    skipped: int  # rows before this page
    total: int  # rows in the tab
    sql: str
    params: dict[str, Any]
    keyset: bool = False  # paged by a cursor predicate in the SQL, never by OFFSET
    cursor: str | None = None
    same_rows: bool = False  # the API listed the rows its SQL returns, in the same order
    api: Latency | None = None
    raw: Latency | None = None
    plan: Plan = field(default_factory=Plan)
    search: dict[str, str] = field(default_factory=dict)  # the query of a searched page
    # Every statement the page sends (``sql`` is the last): a search walks before it reads.
    statements: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The tab, the search asked (if any), and which page: "history, q=civic, deep page"."""
        asked = "".join(f", {key}={value}" for key, value in self.search.items())
        depth = self.page if not self.search else "deep" if self.skipped else "first"
        return f"{self.tab}{asked}, {depth} page"


def _read(
    s: Any,
    tab: str,
    mechanic_id: uuid.UUID,
    cursor: str | None,
    limit: int,
    search: dashboard.Search = dashboard.NO_SEARCH,
) -> Page:
    return dashboard.tab_page(s, mechanic_id, tab, cursor, search, limit=limit)


@contextmanager
def captured(db: Database) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    seen: list[tuple[str, dict[str, Any]]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, dict(params or {})))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)


def plan_reads(db: Database, mechanic_id: uuid.UUID) -> list[TabRead]:
    """For each tab, its first page and a page 90% deep, with the SQL the API will send."""
    reads = []
    for tab in TABS:
        with db.read() as s:
            total = len(_read(s, tab, mechanic_id, None, 10**8).rows)
            skipped = int(total * DEEP)
            cursor = _read(s, tab, mechanic_id, None, skipped).next_cursor if skipped else None
            first_params = 0
            for page, at, start in (("first", None, 0), ("deep", cursor, skipped)):
                with captured(db) as seen:
                    _read(s, tab, mechanic_id, at, dashboard.PAGE_SIZE)
                sql, params = seen[-1]
                # A deep page must differ from the first only by the cursor's predicate.
                keyset = "OFFSET" not in sql.upper() and (at is None or len(params) > first_params)
                first_params = first_params or len(params)
                reads.append(TabRead(tab, page, start, total, sql, params, keyset, at))
    return reads


def plan_searches(db: Database, mechanic_id: uuid.UUID) -> list[TabRead]:
    """Each of :data:`SEARCHES` in Completed and in History: its first page, and a page 90%
    deep when it finds more than two pages."""
    now = datetime.now(UTC).date()

    def day(days_ago: int) -> str:
        return (now - timedelta(days=days_ago)).isoformat()

    known = {
        "vin": str(history.customer_car(417)["vin"]),
        "three_years_ago": day(3 * 365 - 14),
        "three_years_ago_plus_week": day(3 * 365 - 21),
        "a_year_ago": day(365),
        "a_year_ago_plus_month": day(365 - 30),
    }
    reads = []
    for tab in ("completed", "history"):
        for asked in SEARCHES:
            query = {key: value.format(**known) for key, value in asked.items()}
            search = dashboard.search_for(DashboardQuery.model_validate(query))
            with db.read() as s:
                total = len(_read(s, tab, mechanic_id, None, 10**8, search).rows)
                skipped = int(total * DEEP) if total > 2 * dashboard.PAGE_SIZE else 0
                deep = skipped and _read(s, tab, mechanic_id, None, skipped, search).next_cursor
                for start, cursor in ((0, None), (skipped, deep)) if deep else ((0, None),):
                    with captured(db) as seen:
                        _read(s, tab, mechanic_id, cursor, dashboard.PAGE_SIZE, search)
                    sql, params = seen[-1]
                    keyset = "OFFSET" not in sql.upper()
                    read = TabRead(
                        tab, "search", start, total, sql, params, keyset, cursor, search=query
                    )
                    read.statements = seen
                    reads.append(read)
    return reads


def explain(conn: psycopg.Connection[tuple[object, ...]], read: TabRead) -> Plan:
    return explain_sql(conn, read.sql, read.params)


def explain_sql(conn: psycopg.Connection[tuple[object, ...]], sql: str, params: Any) -> Plan:
    """The indexes and sequential scans of ``sql``'s plan as it runs, and the plan's text."""
    row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()
    assert row is not None
    tree = row[0] if isinstance(row[0], list) else json.loads(str(row[0]))
    plan = Plan()
    for node in _nodes(tree[0]["Plan"]):
        if "Index Name" in node:
            plan.indexes.append(f"{node['Node Type']} using {node['Index Name']}")
        elif node["Node Type"] in ("Seq Scan", "Parallel Seq Scan"):
            plan.seq_scans.append(str(node.get("Relation Name")))
    lines = conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params).fetchall()
    plan.text = "\n".join(str(line[0]) for line in lines)
    return plan


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


async def measure(
    reads: list[TabRead],
    bench_db: BenchDatabase,
    base_url: str,
    who: Account,
    samples: int,
    plan_cache_mode: str,
) -> Latency:
    """Time every page through the API and raw, alternating, after a warm-up of each.

    Returns the latency of the whole dashboard (all four first pages, as the page opens).
    """
    with bench_db.connect() as conn:
        conn.execute(f"SET plan_cache_mode = {plan_cache_mode}")  # as the app's engine does
        for read in reads:
            read.plan = explain(conn, read)
        async with connections(base_url, 1) as (http,):
            for read in reads:
                params = read.params
                path = _path(read)
                read.same_rows = await _same_rows(conn, http, read, who)
                api: list[float] = []
                raw: list[float] = []
                for i in range(samples + 5):
                    t0 = time.perf_counter()
                    conn.execute(read.sql, params).fetchall()
                    t1 = time.perf_counter()
                    answer = await http.request("GET", path, headers=who.headers)
                    t2 = time.perf_counter()
                    if answer.status != 200:
                        raise RuntimeError(f"{path}: {answer.status} {answer.body[:300]!r}")
                    if i >= 5:
                        raw.append(t1 - t0)
                        api.append(t2 - t1)
                read.api, read.raw = Latency.of(api), Latency.of(raw)
            whole: list[float] = []
            for i in range(samples + 5):
                t0 = time.perf_counter()
                await http.request("GET", "/api/mechanic/dashboard", headers=who.headers)
                if i >= 5:
                    whole.append(time.perf_counter() - t0)
            return Latency.of(whole)


async def _same_rows(
    conn: psycopg.Connection[tuple[object, ...]], http: Connection, read: TabRead, who: Account
) -> bool:
    """The page's request ids from the API, against those of its SQL (one more row: the
    peek that tells there is a next page)."""
    cursor = conn.execute(read.sql, read.params)
    names = [c.name for c in cursor.description or ()]
    raw = [str(row[names.index("request_id")]) for row in cursor.fetchall()]
    answer = await http.request("GET", _path(read), headers=who.headers)
    listed = [str(row["request_id"]) for row in answer.json()["rows"]]
    found_nothing = read.page == "search" and not raw  # a search may rightly find nothing
    return (
        (bool(listed) or found_nothing)
        and listed == raw[: len(listed)]
        and len(raw) - len(listed) in (0, 1)
    )


async def replay(reads: list[TabRead], base_url: str, who: Account, rounds: int) -> None:
    """Every page through the API again, unmeasured (under the profiler)."""
    async with connections(base_url, 1) as (http,):
        for _ in range(rounds):
            for read in reads:
                await http.request("GET", _path(read), headers=who.headers)


def _path(read: TabRead) -> str:
    asked = {**read.search, **({"cursor": read.cursor} if read.cursor else {})}
    query = f"?{urlencode(asked)}" if asked else ""
    return f"/api/mechanic/dashboard/{read.tab}{query}"


def run(
    db: Database, bench_db: BenchDatabase, base_url: str, who: Account, samples: int
) -> tuple[list[TabRead], Latency]:
    reads = plan_reads(db, who.actor.id) + plan_searches(db, who.actor.id)
    with db.read() as s:
        mode = str(s.execute(text("SHOW plan_cache_mode")).scalar())
    whole = asyncio.run(measure(reads, bench_db, base_url, who, samples, mode))
    return reads, whole
