"""The command line: serve, migrate, demo, users, doctor, config.

Every command reports a setup problem (a setting, the database, the port) in a line or two
with exit status 2, through one wrapper around the whole command line
(:mod:`pitcrew.operator_errors`).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from pitcrew import adopt, auth, doctor, logs, operator_errors, photo_store
from pitcrew import migrate as schema
from pitcrew.config import effective, get_settings
from pitcrew.db import Database
from pitcrew.errors import DomainError
from pitcrew.models import Role


class _Commands(typer.Typer):
    """The command line, with setup problems told in words rather than as tracebacks."""

    debug = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as error:
            debug = self.debug or os.environ.get("LOG_LEVEL", "").strip().lower() == "debug"
            sys.exit(operator_errors.report(error, debug=debug))


app = _Commands(
    help="pitcrew: connects drivers with remote mechanics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
users = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(users, name="users")


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of any error (or LOG_LEVEL=debug).")
    ] = False,
) -> None:
    _Commands.debug = debug


def _database(*, schema_needed: bool = True, allow_foreign: bool = False) -> Database:
    """The database, checked to be reachable and, unless told otherwise, at the code's schema."""
    db = Database(get_settings().database_url)
    if schema_needed:
        operator_errors.require_current_schema(db, allow_foreign=allow_foreign)
    return db


def _where(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=True)


@app.command()
def migrate() -> None:
    """Bring the database (DATABASE_URL) to the current schema; adopt one of the replaced system.

    Adoption checks the data first and, if pitcrew's constraints would refuse any of it,
    prints the doctor's report and changes nothing.
    """
    db = _database(schema_needed=False)
    if schema.is_legacy(db.engine):
        try:
            adopted = adopt.adopt(db)
        except adopt.Refused as refused:
            if refused.report is not None and not refused.report.clean:
                typer.echo(doctor.render(refused.report))
            for reason in refused.reasons:
                typer.echo(f"error: {reason}", err=True)
            typer.echo("Not adopted; nothing was changed.", err=True)
            raise typer.Exit(1) from None
        typer.echo("\n".join(adopt.describe(adopted)))
    else:
        schema.upgrade(db.engine)
    typer.echo(f"Database is up to date: {_where(db)}")


@app.command("doctor")
def doctor_command(
    apply: Annotated[
        bool, typer.Option("--apply", help="Repair what is certain, in one transaction.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check DESIGN's invariants (also on a database of the replaced system), and the photos.

    Stored photos (MEDIA_STORE) that no message names are removed by --apply once they are
    over 10 minutes old; messages whose file is missing are left to a person. Exit code 0
    when clean, 1 when problems remain.
    """
    db = _database(allow_foreign=True)
    settings = get_settings()
    photos = photo_store.choose(settings.media_store, media_dir=settings.media_dir, db=db)
    try:
        report = doctor.apply(db, photos=photos) if apply else doctor.check(db, photos=photos)
        after = doctor.check(db, photos=photos) if apply else report
    except (doctor.Unrecognized, doctor.RepairRaced) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(doctor.as_json(report, after if apply else None))
    else:
        typer.echo(doctor.render(report))
        if apply:
            typer.echo(f"After repair: {doctor.summary(after)}")
    raise typer.Exit(0 if after.clean else 1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Server processes (PostgreSQL for more than 1).")
    ] = 1,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Apply migrations before serving.")
    ] = True,
) -> None:
    """Serve the API and the pages.

    On SIGTERM (or Ctrl+C) it stops accepting connections, ends live streams (browsers
    reconnect and replay what they missed), lets requests in flight finish for up to
    SHUTDOWN_GRACE_SECONDS, then exits.
    """
    import uvicorn

    settings = get_settings()
    if workers > 1 and not settings.is_postgres:
        typer.echo("Several workers need PostgreSQL; SQLite serves with one.", err=True)
        raise typer.Exit(2)
    operator_errors.require_free_port(host, port)
    db = _database(schema_needed=not migrate_first)
    if migrate_first:
        try:
            schema.upgrade(db.engine)
        except schema.NotAdopted as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
    where = db.engine.url.render_as_string(hide_password=True)
    db.dispose()
    typer.echo(f"pitcrew on http://{host}:{port}  (database: {where})")
    uvicorn.run(
        "pitcrew.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
        access_log=False,  # pitcrew logs each request itself, with its request id
        log_config=logs.config(settings),
        log_level=settings.log_level,
    )


@app.command()
def prune() -> None:
    """Delete what nothing reads any more (old notification pushes and call signalling, read
    notifications, sent emails, expired sign-ins, old failed sign-ins); run it daily."""
    from pitcrew import retention

    db = _database()
    typer.echo(retention.prune(db, get_settings()).describe())


@app.command("config")
def config_command() -> None:
    """Print the effective settings (from the environment, .env and defaults), secrets masked."""
    for name, value, chosen in effective(get_settings()):
        typer.echo(f"{name}={value}" + ("" if chosen else "  # default"))


@app.command()
def demo() -> None:
    """Create demo accounts and sessions in every state, and print how to sign in."""
    from pitcrew import demo as demo_data

    db = _database(schema_needed=False)
    schema.upgrade(db.engine)
    accounts = demo_data.load(db)
    typer.echo("Demo accounts (password for all: " + demo_data.PASSWORD + "):")
    for email, role, name in accounts:
        typer.echo(f"  {role:<9} {email:<28} {name}")
    typer.echo(
        "Sign in at http://127.0.0.1:8000/login, or: "
        "curl -X POST localhost:8000/api/auth/login -H 'content-type: application/json' "
        f'-d \'{{"email": "{accounts[1][0]}", "password": "{demo_data.PASSWORD}"}}\''
    )


@users.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    password: Annotated[str, typer.Option(help="At least 8 characters.")],
    name: Annotated[str, typer.Option(help="Shown to the other party.")],
    role: Annotated[Role, typer.Option(help="customer, mechanic or admin.")] = Role.CUSTOMER,
    on_duty: Annotated[bool, typer.Option(help="Mechanics: start on duty.")] = False,
) -> None:
    """Create an account."""
    db = _database()
    try:
        user = auth.create_user(
            db, email=email, name=name, role=role, password=password, on_duty=on_duty
        )
    except DomainError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Created {user.role} {user.email} ({user.id})")


@users.command("set-password")
def users_set_password(
    email: Annotated[str, typer.Option(help="The account's email.")],
    password: Annotated[str, typer.Option(help="At least 8 characters.")],
) -> None:
    """Set (or reset) an account's password; signs it out everywhere."""
    db = _database()
    try:
        auth.set_password(db, email, password)
    except DomainError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Password set for {email}")


if __name__ == "__main__":
    app()
