"""Setup mistakes as an operator meets them: the installed ``pitcrew`` says what is wrong in a
line or two and exits with status 2, whatever the command; ``--debug`` adds the traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from pitcrew import migrate as schema
from pitcrew.db import Database
from tests.support.live import free_port

PITCREW = Path(sys.executable).parent / "pitcrew"
SETTINGS = ("DATABASE_URL", "SMTP_URL", "ICE_SERVERS", "LOG_LEVEL", "LOG_FORMAT")

COMMANDS = {
    "serve": ["serve", "--port", "0"],
    "migrate": ["migrate"],
    "doctor": ["doctor"],
    "demo": ["demo"],
    "users create": [
        *("users", "create", "--email", "a@example.com", "--password", "p" * 12, "--name", "A")
    ],
    "users set-password": [
        *("users", "set-password", "--email", "a@example.com", "--password", "p" * 12)
    ],
}


def pitcrew(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed command, in a folder of its own (no stray .env), with these settings."""
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    return subprocess.run(
        [str(PITCREW), *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def check_told(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, at most three lines, no traceback, and the reason in words."""
    said = (result.stdout + result.stderr).strip()
    assert result.returncode == 2, said
    assert len(said.splitlines()) <= 3, said
    assert "Traceback" not in said, said
    for word in words:
        assert word.lower() in said.lower(), said
    return said


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unsupported_database_url_is_named(tmp_path: Path, command: str) -> None:
    result = pitcrew(tmp_path, *COMMANDS[command], DATABASE_URL="mysql://x")
    check_told(result, "DATABASE_URL", "mysql", "postgresql://")


def test_a_malformed_database_url_is_named(tmp_path: Path) -> None:
    url = "postgresql://pitcrew:secret@db.example:fivefourthreetwo/pitcrew"
    said = check_told(pitcrew(tmp_path, "migrate", DATABASE_URL=url), "DATABASE_URL", "not a")
    assert "secret" not in said


@pytest.mark.parametrize("command", ["migrate", "serve", "doctor", "users create"])
def test_an_unreachable_database_gives_host_port_and_reason(tmp_path: Path, command: str) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://nobody:hunter2@127.0.0.1:{port}/pitcrew"
    said = check_told(
        pitcrew(tmp_path, *COMMANDS[command], DATABASE_URL=url),
        f"127.0.0.1:{port}",
        "connection refused",
    )
    assert "hunter2" not in said


def test_a_sqlite_file_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/folder/pitcrew.db"
    check_told(pitcrew(tmp_path, "migrate", DATABASE_URL=url), "no/such/folder", "folder")


@pytest.fixture
def schema_mark(db: Database) -> Iterator[str]:
    """The database's migration mark, restored after the test moves it."""
    with db.engine.connect() as c:
        mark = c.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    yield mark
    with db.engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": mark})


def _set_mark(db: Database, revision: str) -> None:
    with db.engine.begin() as c:  # a state only an old or a newer pitcrew leaves behind
        c.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})


def _previous(db: Database, revision: str) -> str:
    script = ScriptDirectory.from_config(schema.alembic_config(db.engine))
    down = script.get_revision(revision).down_revision
    assert isinstance(down, str)
    return down


@pytest.mark.parametrize("command", ["users create", "doctor", "serve --no-migrate"])
def test_a_database_behind_the_code_is_told_to_migrate(
    db: Database, schema_mark: str, tmp_path: Path, command: str
) -> None:
    _set_mark(db, _previous(db, schema_mark))
    args = COMMANDS.get(command) or ["serve", "--no-migrate", "--port", "0"]
    check_told(pitcrew(tmp_path, *args, DATABASE_URL=str(db.url)), "pitcrew migrate")


def test_a_database_of_a_newer_pitcrew_is_left_alone(
    db: Database, schema_mark: str, tmp_path: Path
) -> None:
    _set_mark(db, "f00dfeedbeef")
    for args in (["migrate"], COMMANDS["users create"]):
        check_told(pitcrew(tmp_path, *args, DATABASE_URL=str(db.url)), "newer pitcrew")


def test_a_database_without_pitcrew_is_told_to_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    check_told(pitcrew(tmp_path, *COMMANDS["users create"], DATABASE_URL=url), "pitcrew migrate")


@pytest.mark.parametrize(
    ("smtp_url", "words"),
    [
        ("mailto:ops@example.com", "SMTP_URL must look like"),
        ("smtp://mail.example:twentyfive", "SMTP_URL"),
        ("smtps://mail.example?starttls=1", "starttls"),
    ],
)
def test_a_malformed_smtp_url_is_named(tmp_path: Path, smtp_url: str, words: str) -> None:
    url = f"sqlite:///{tmp_path}/pitcrew.db"
    check_told(pitcrew(tmp_path, "serve", DATABASE_URL=url, SMTP_URL=smtp_url), words)


@pytest.mark.parametrize(
    ("ice_servers", "words"),
    [
        ('[{"urls": "stun:turn.example:3478"', ("ICE_SERVERS", "not valid JSON")),
        ('[{"urls": "http://turn.example"}]', ("ICE_SERVERS[0].urls", "stun:")),
        ('[{"url": "stun:turn.example"}]', ("ICE_SERVERS[0]",)),
    ],
)
def test_malformed_ice_servers_are_named(
    tmp_path: Path, ice_servers: str, words: tuple[str, ...]
) -> None:
    url = f"sqlite:///{tmp_path}/pitcrew.db"
    result = pitcrew(tmp_path, *COMMANDS["users create"], DATABASE_URL=url, ICE_SERVERS=ice_servers)
    check_told(result, *words)


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        url = f"sqlite:///{tmp_path}/pitcrew.db"
        result = pitcrew(tmp_path, "serve", "--port", str(port), DATABASE_URL=url)
    check_told(result, f"port {port}", "already in use")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    for result in (
        pitcrew(tmp_path, "--debug", "migrate", DATABASE_URL="mysql://x"),
        pitcrew(tmp_path, "migrate", DATABASE_URL="mysql://x", LOG_LEVEL="debug"),
    ):
        assert result.returncode == 2
        assert "Traceback" in result.stderr
        assert "DATABASE_URL" in result.stderr.strip().splitlines()[-1]


def test_config_shows_the_settings_with_secrets_masked(tmp_path: Path) -> None:
    ice = '[{"urls": "turn:turn.example:3478", "username": "pitcrew", "credential": "t-secret"}]'
    result = pitcrew(
        tmp_path,
        "config",
        DATABASE_URL="postgresql://pitcrew:db-secret@db.example:5432/pitcrew",
        SMTP_URL="smtp://mailer:mail-secret@mail.example:587?starttls=1",
        ICE_SERVERS=ice,
    )
    assert result.returncode == 0, result.stderr
    shown = dict(line.split("=", 1) for line in result.stdout.splitlines())
    for secret in ("db-secret", "mail-secret", "t-secret"):
        assert secret not in result.stdout
    assert shown["DATABASE_URL"] == "postgresql+psycopg://pitcrew:***@db.example:5432/pitcrew"
    assert shown["SMTP_URL"] == "smtp://mailer:***@mail.example:587?starttls=1"
    assert '"username": "pitcrew"' in shown["ICE_SERVERS"]
    assert shown["MAX_UPLOAD_MB"] == "10.0  # default"
    assert shown["FORWARDED_ALLOW_IPS"] == "127.0.0.1  # default"
