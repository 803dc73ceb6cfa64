"""Failures an operator can fix, told in a line or two instead of a traceback.

A mistyped setting, a database that is down or not migrated, a port that is taken: each is
something the person at the terminal acts on, so every command turns them into plain words
and exit status 2. Anything else is a fault in pitcrew and keeps its traceback. ``--debug``
(or ``LOG_LEVEL=debug``) shows the traceback for everything.
"""

from __future__ import annotations

import errno
import socket
import sys
import traceback
from typing import TYPE_CHECKING

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy import inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from pitcrew import migrate as schema

if TYPE_CHECKING:
    from pitcrew.db import Database

EXIT_STATUS = 2


class OperatorError(Exception):
    """A problem of the setup, not of pitcrew; ``str()`` is what the operator reads."""


def report(error: BaseException, *, debug: bool) -> int:
    """Print ``error`` for the operator and return the exit status."""
    lines = explain(error)
    if lines is None:  # a fault in pitcrew: its traceback is what a bug report needs
        traceback.print_exception(error)
        return 1
    if debug:
        traceback.print_exception(error)
    for line in lines:
        print(line, file=sys.stderr)
    return EXIT_STATUS


def explain(error: BaseException) -> list[str] | None:
    """One or two lines for a setup problem; None for anything else."""
    if isinstance(error, OperatorError):
        return [f"error: {error}"]
    if isinstance(error, ValidationError):
        return [f"error: {line}" for line in _settings_problems(error)[:2]]
    if isinstance(error, SettingsError):
        # pydantic-settings: "error parsing value for field "ice_servers" from source ..."
        field = str(error).split('"')[1] if '"' in str(error) else "a setting"
        return [f"error: {field.upper()} is not valid JSON."]
    if isinstance(error, OperationalError | InterfaceError):
        return _database_problem(error)
    if isinstance(error, CommandError) and "Can't locate revision" in str(error):
        return [
            "error: the database was migrated by a newer pitcrew than this one "
            f"({_quoted(str(error))});",
            "run that version, or restore a backup taken before the upgrade.",
        ]
    return None


def _settings_problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        name, *inside = item["loc"] or ("settings",)
        where = str(name).upper() + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in inside
        )
        message = item["msg"].removeprefix("Value error, ")
        problems.append(message if message.startswith(where) else f"{where}: {message}")
    return problems


def _quoted(text: str) -> str:
    parts = text.split("'")
    return f"revision {parts[1]}" if len(parts) > 2 else text


def _database_problem(error: DBAPIError) -> list[str]:
    url = _url_of(error)
    reason = _reason(str(error.orig) if error.orig is not None else str(error))
    if url is not None and url.get_backend_name() == "sqlite":
        return [
            f"error: cannot open the SQLite database {url.database!r}: {reason}.",
            "Check that its folder exists and that this user may write there (DATABASE_URL).",
        ]
    where = f"{url.host or 'localhost'}:{url.port or 5432}" if url is not None else "?"
    name = f" (database {url.database!r})" if url is not None and url.database else ""
    return [
        f"error: cannot use the database at {where}{name}: {reason}.",
        "Check that PostgreSQL runs there and that DATABASE_URL names it correctly.",
    ]


def _url_of(error: DBAPIError) -> URL | None:
    from pitcrew.config import get_settings

    try:
        return make_url(get_settings().database_url)
    except Exception:
        return None


def _reason(message: str) -> str:
    """The driver's own words, without its preamble: "Connection refused", "password
    authentication failed for user …", "database … does not exist"."""
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    reason = first.rpartition(" failed: ")[2] if " failed: " in first else first
    reason = reason.removeprefix("FATAL:").strip().rstrip(".")
    return reason[:1].lower() + reason[1:]


def require_current_schema(db: Database, *, allow_foreign: bool = False) -> None:
    """Refuse to work on a database the code's migrations have not reached (or passed).

    ``allow_foreign`` lets a database without pitcrew's migrations through (the doctor
    also examines databases of the system pitcrew replaces).
    """
    with db.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        if "alembic_version" not in tables:
            if allow_foreign:
                return
            if tables >= schema.LEGACY_TABLES:
                raise OperatorError(
                    "this database belongs to the system pitcrew replaces; "
                    "adopt it with `pitcrew migrate` first."
                )
            raise OperatorError("the database has no pitcrew tables yet: run `pitcrew migrate`.")
        current = set(MigrationContext.configure(connection).get_current_heads())
    script = ScriptDirectory.from_config(schema.alembic_config(db.engine))
    heads = set(script.get_heads())
    if current == heads:
        return
    known = {revision.revision for revision in script.walk_revisions()}
    if current <= known:
        raise OperatorError(
            f"the database is at schema {', '.join(sorted(current)) or 'none'}, this pitcrew "
            f"needs {', '.join(sorted(heads))}: run `pitcrew migrate`."
        )
    raise OperatorError(
        f"the database was migrated by a newer pitcrew (schema {', '.join(sorted(current))}); "
        "run that version, or restore a backup taken before the upgrade."
    )


def require_free_port(host: str, port: int) -> None:
    """Say so in words when another program listens where the server is to listen."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise OperatorError(f"cannot listen on {host!r}: {error.strerror}.") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise OperatorError(
                    f"port {port} on {host} is already in use by another program; "
                    "stop it or choose another with --port."
                ) from None
            raise OperatorError(
                f"cannot listen on {host}:{port}: {error.strerror or error}."
            ) from None
