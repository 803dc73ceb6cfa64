"""Adopting a database of the replaced system: what ``pitcrew migrate`` does to one.

The replaced system left PostgreSQL tables with the names pitcrew keeps (docs/ARCHITECTURE.md,
"Data model") but no constraints, no ``users`` and no migrations. Adoption checks the data
first (``doctor``'s report plus what pitcrew's schema will refuse); if anything would break,
it stops and changes nothing.
Otherwise, in one transaction:

1. the three tables are moved, untouched, into the schema ``pitcrew_legacy`` (the
   original rows, and any columns pitcrew does not know, stay there as a backup);
2. pitcrew's migrations build the schema exactly as on a fresh install (same DDL, same
   constraints, the view ``mechanic_session_overview`` in pitcrew's definition);
3. every customer and mechanic id the rows name gets an account without a password
   (``pitcrew users set-password`` gives it one), so mechanics can sign in and find the
   sessions they accepted;
4. the rows are copied in, where the constraints check every one of them at commit;
5. repairs ``pitcrew doctor --apply`` recorded in ``pitcrew_repairs`` join ``events``;
6. the remaining migrations run as on any pitcrew database.

PostgreSQL runs DDL in transactions, so a failure at any step leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from pitcrew import doctor, invariants, migrate
from pitcrew.db import Database
from pitcrew.models import OVERVIEW_VIEW

BACKUP = "pitcrew_legacy"
ADOPTED_REVISION = "0001"  # the schema the copy is written for; later migrations follow
EMAIL_DOMAIN = "adopted.invalid"
TABLES = ("intakes", "sessions", "session_requests")  # in the order their rows are copied
PAIR_CHECKED = ("sessions", "session_requests")  # the tables revision 0001 puts a trigger on
PITCREW_ONLY = (
    "users",
    "events",
    "auth_tokens",
    "idempotency_keys",
    "notifications",
    "session_messages",
)
# What a required column gets when the replaced system left it empty or did not have it.
FILLS = {"text": "''", "character varying": "''", "jsonb": "'{}'", "json": "'{}'"}


class Refused(Exception):
    """Adoption would break something; nothing was changed. Says why, with doctor's report."""

    def __init__(self, reasons: list[str], report: doctor.Report | None = None) -> None:
        super().__init__("; ".join(reasons) or "the data breaks pitcrew's rules")
        self.reasons = reasons
        self.report = report


@dataclass
class Adoption:
    """What adoption did, for the operator."""

    copied: dict[str, int] = field(default_factory=dict)
    mechanics: list[tuple[str, str]] = field(default_factory=list)  # (id, email)
    customers: int = 0
    emails_from_auth: int = 0
    backup_only: list[str] = field(default_factory=list)  # table.column not carried over
    filled: dict[str, int] = field(default_factory=dict)
    repairs: int = 0


def adopt(db: Database) -> Adoption:
    """Check, then adopt, all in one transaction; raise ``Refused`` having changed nothing."""
    if not db.is_postgres:
        raise Refused(["adopting a database of the replaced system needs PostgreSQL"])
    try:
        with db.engine.begin() as connection:
            connection.execute(text(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE"))
            reasons = _obstacles(connection)
            report = doctor.diagnose(connection)
            if reasons or not report.clean:
                raise Refused(reasons, report)
            return _adopt(connection, db)
    except DBAPIError as error:
        # The transaction is rolled back: say which row or step PostgreSQL refused.
        raise Refused([f"PostgreSQL refused a step of the adoption: {error.orig}"]) from error


def _rows(connection: Connection, sql: str, **params: object) -> list[tuple[object, ...]]:
    return [tuple(r) for r in connection.execute(text(sql), params)]


def _obstacles(connection: Connection) -> list[str]:
    """What in the database's structure stops adoption (the data is doctor's part)."""
    reasons = []
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    present = {
        str(r[0])
        for r in _rows(
            connection,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :s",
            s=schema,
        )
    }
    clashing = sorted(present & set(PITCREW_ONLY))
    if clashing:
        reasons.append(
            f"tables pitcrew would create already exist: {', '.join(clashing)}"
            " (is this really a database of the replaced system?)"
        )
    if _rows(connection, "SELECT 1 FROM pg_namespace WHERE nspname = :n", n=BACKUP):
        reasons.append(f"a schema named {BACKUP} already exists; rename or drop it first")
    ours = f"{', '.join(repr(t) for t in (*TABLES, OVERVIEW_VIEW))}"
    dependents = _rows(
        connection,
        "SELECT DISTINCT v.relname FROM pg_depend d"
        " JOIN pg_rewrite w ON w.oid = d.objid JOIN pg_class v ON v.oid = w.ev_class"
        " JOIN pg_class t ON t.oid = d.refobjid"
        " WHERE d.classid = 'pg_rewrite'::regclass AND t.relnamespace = CAST(:s AS regnamespace)"
        f" AND t.relname IN ({ours}) AND v.relname NOT IN ({ours})",
        s=schema,
    )
    dependents += _rows(
        connection,
        "SELECT DISTINCT c.conrelid::regclass::text FROM pg_constraint c"
        " JOIN pg_class t ON t.oid = c.confrelid JOIN pg_class f ON f.oid = c.conrelid"
        " WHERE c.contype = 'f' AND t.relnamespace = CAST(:s AS regnamespace)"
        f" AND t.relname IN ({ours}) AND f.relname NOT IN ({ours})",
        s=schema,
    )
    if dependents:
        names = ", ".join(sorted(str(d[0]) for d in dependents))
        reasons.append(
            f"other objects refer to the tables pitcrew takes over: {names}; "
            "drop or change them first (they would keep pointing at the old rows)"
        )
    return reasons


def _columns(connection: Connection, schema: str, table: str) -> dict[str, tuple[str, bool]]:
    """Column name -> (type as PostgreSQL writes it, NOT NULL)."""
    rows = _rows(
        connection,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " WHERE c.relnamespace = CAST(:s AS regnamespace) AND c.relname = :t"
        " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        s=schema,
        t=table,
    )
    return {str(name): (str(kind), bool(notnull)) for name, kind, notnull in rows}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _adopt(connection: Connection, db: Database) -> Adoption:
    done = Adoption()
    schema = str(connection.execute(text("SELECT current_schema()")).scalar_one())
    here = _quote(schema)
    connection.execute(text(f"CREATE SCHEMA {BACKUP}"))
    connection.execute(text(f"DROP VIEW IF EXISTS {here}.{OVERVIEW_VIEW}"))
    moving = [*TABLES]
    if connection.execute(
        text("SELECT to_regclass(:name)"), {"name": f"{here}.{doctor.REPAIRS.name}"}
    ).scalar():
        moving.append(doctor.REPAIRS.name)
    for table in moving:
        connection.execute(text(f"ALTER TABLE {here}.{table} SET SCHEMA {BACKUP}"))

    migrate.upgrade_within(connection, db.engine, ADOPTED_REVISION)

    _create_accounts(connection, schema, done)
    # The agreement trigger would run once per copied row at commit (minutes on a large
    # database); the same rules are checked below in one pass over the copied rows instead.
    for table in PAIR_CHECKED:
        connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_pair_check"))
    for table in TABLES:
        done.copied[table] = _copy(connection, schema, table, done)
    done.filled["session_requests.accepted_at"] = connection.execute(
        text(
            "UPDATE session_requests r SET accepted_at = COALESCE(s.started_at, r.created_at)"
            " FROM sessions s WHERE s.id = r.parent_session_id"
            " AND r.mechanic_id IS NOT NULL AND r.accepted_at IS NULL"
        )
    ).rowcount
    done.filled["sessions.ended_at"] = connection.execute(
        text(
            "UPDATE sessions SET ended_at = COALESCE(started_at, created_at)"
            " WHERE status IN ('completed', 'cancelled') AND ended_at IS NULL"
        )
    ).rowcount
    if doctor.REPAIRS.name in moving:
        done.repairs = connection.execute(
            text(
                "INSERT INTO events (at, actor_id, kind, session_id, request_id, payload)"
                " SELECT at, actor_id, kind, session_id, request_id, payload"
                f" FROM {BACKUP}.{doctor.REPAIRS.name} ORDER BY id"
            )
        ).rowcount
    # Check the deferred foreign keys now (a refused row is named here, not at commit).
    connection.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    for table in PAIR_CHECKED:
        connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {table}_pair_check"))
    broken = {name: n for name, n in invariants.counts(connection).items() if n}
    if broken:
        raise Refused([f"the copied rows break invariants: {broken}"])
    migrate.upgrade_within(connection, db.engine, "head")
    return done


def _named_ids(table_columns: dict[str, dict[str, str]]) -> Iterator[str]:
    for table, columns in table_columns.items():
        for column, role in columns.items():
            yield (
                f"SELECT {column} AS id, '{role}' AS role FROM {BACKUP}.{table}"
                f" WHERE {column} IS NOT NULL"
            )


def _create_accounts(connection: Connection, schema: str, done: Adoption) -> None:
    """An account, without a password, for every customer and mechanic id the rows name."""
    named = " UNION ALL ".join(
        _named_ids(
            {
                "sessions": {"mechanic_id": "mechanic", "customer_user_id": "customer"},
                "session_requests": {"mechanic_id": "mechanic", "customer_id": "customer"},
                "intakes": {"customer_id": "customer"},
            }
        )
    )
    has_names = "customer_name" in _columns(connection, BACKUP, "session_requests")
    names = (
        f"SELECT DISTINCT ON (customer_id) customer_id AS id, btrim(customer_name) AS name"
        f" FROM {BACKUP}.session_requests WHERE customer_id IS NOT NULL"
        " AND COALESCE(btrim(customer_name), '') <> ''"
        " ORDER BY customer_id, created_at DESC NULLS LAST"
        if has_names
        else "SELECT NULL::uuid AS id, NULL::text AS name WHERE false"
    )
    auth = _auth_users(connection)
    fallback = f"p.id::text || '@{EMAIL_DOMAIN}'"
    connection.execute(
        text(
            f"WITH named AS ({named}),"
            " people AS (SELECT id, CASE WHEN bool_or(role = 'mechanic') THEN 'mechanic'"
            " ELSE 'customer' END AS role FROM named GROUP BY id),"
            f" names AS ({names}),"
            f" known AS ({auth}),"
            " chosen AS (SELECT p.id, p.role, n.name AS given, k.name AS known_name,"
            "   CASE WHEN k.email IS NOT NULL AND k.email <> ''"
            "     AND COUNT(*) OVER (PARTITION BY lower(k.email)) = 1"
            f"   THEN lower(k.email) ELSE {fallback} END AS email"
            "   FROM people p LEFT JOIN names n ON n.id = p.id LEFT JOIN known k ON k.id = p.id)"
            " INSERT INTO users (id, email, name, role, password_hash, on_duty,"
            " notify_by_email, created_at)"
            " SELECT id, email, left(COALESCE(NULLIF(known_name, ''), given,"
            "   initcap(role) || ' ' || left(id::text, 8)), 200),"
            " role, NULL, false, false, now() FROM chosen"
        )
    )
    for uid, email in _rows(
        connection, "SELECT id::text, email FROM users WHERE role = 'mechanic' ORDER BY email"
    ):
        done.mechanics.append((str(uid), str(email)))
    done.customers = int(
        connection.execute(text("SELECT COUNT(*) FROM users WHERE role = 'customer'")).scalar_one()
    )
    done.emails_from_auth = int(
        connection.execute(
            text("SELECT COUNT(*) FROM users WHERE email NOT LIKE :fallback"),
            {"fallback": f"%@{EMAIL_DOMAIN}"},
        ).scalar_one()
    )


def _auth_users(connection: Connection) -> str:
    """Supabase kept accounts in ``auth.users``: use their emails (and names) when present."""
    columns = _columns(connection, "auth", "users") if _has_schema(connection, "auth") else {}
    if "id" not in columns or "email" not in columns:
        return "SELECT NULL::uuid AS id, NULL::text AS email, NULL::text AS name WHERE false"
    name = (
        "COALESCE(raw_user_meta_data->>'full_name', raw_user_meta_data->>'name')"
        if columns.get("raw_user_meta_data", ("", False))[0] in ("jsonb", "json")
        else "NULL::text"
    )
    return f"SELECT id::uuid AS id, email::text AS email, {name} AS name FROM auth.users"


def _has_schema(connection: Connection, name: str) -> bool:
    return bool(_rows(connection, "SELECT 1 FROM pg_namespace WHERE nspname = :n", n=name))


def _copy(connection: Connection, schema: str, table: str, done: Adoption) -> int:
    """Copy one table's rows into pitcrew's table of the same name; PostgreSQL's assignment
    casts convert types and refuse what does not fit (a too long text, a bad uuid)."""
    source = _columns(connection, BACKUP, table)
    target = _columns(connection, schema, table)
    names, values = [], []
    for column, (kind, notnull) in target.items():
        base = kind.split("(")[0]
        fill = FILLS.get(base) if notnull else None
        if column in source:
            expr = _quote(column)
            if base == "uuid" and source[column][0] != "uuid":
                expr = f"CAST({expr} AS uuid)"
            values.append(f"COALESCE({expr}, {fill})" if fill else expr)
        elif notnull and fill:
            values.append(fill)
        elif notnull:
            raise Refused([f"{table}.{column} is required by pitcrew and missing here"])
        else:
            continue
        names.append(_quote(column))
    done.backup_only.extend(f"{table}.{c}" for c in source if c not in target)
    return connection.execute(
        text(
            f"INSERT INTO {_quote(schema)}.{table} ({', '.join(names)})"
            f" SELECT {', '.join(values)} FROM {BACKUP}.{table}"
        )
    ).rowcount


def describe(adoption: Adoption) -> list[str]:
    """What the operator needs to know after adoption, line by line."""
    copied = ", ".join(f"{n} {t}" for t, n in adoption.copied.items())
    lines = [
        f"Adopted the replaced system's data: {copied}.",
        f"  The original tables are kept, untouched, in the schema {BACKUP}.",
        f"  Accounts created without passwords: {len(adoption.mechanics)} mechanic(s),"
        f" {adoption.customers} customer(s); {adoption.emails_from_auth} took their email from"
        f" auth.users, the others are <id>@{EMAIL_DOMAIN}.",
    ]
    for uid, email in adoption.mechanics[:20]:
        lines.append(f"    mechanic {uid}  {email}")
    if len(adoption.mechanics) > 20:
        lines.append(f"    … and {len(adoption.mechanics) - 20} more (SELECT * FROM users)")
    lines.append("  Give one a password: pitcrew users set-password --email EMAIL --password P")
    for column, count in adoption.filled.items():
        if count:
            lines.append(f"  {column} was empty on {count} row(s): filled from the row's times.")
    if adoption.backup_only:
        lines.append(
            f"  Columns pitcrew does not use, kept only in {BACKUP}: "
            + ", ".join(adoption.backup_only)
        )
    if adoption.repairs:
        lines.append(f"  {adoption.repairs} earlier doctor repair(s) moved into events.")
    return lines
