"""The dedicated bench database: created, migrated, and dropped by the bench itself."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg
from sqlalchemy import create_engine, make_url, text

from pitcrew import migrate as schema

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


@dataclass(frozen=True)
class BenchDatabase:
    server: str  # SQLAlchemy URL of the server, without a database name
    name: str

    @classmethod
    def from_env(cls, name: str) -> BenchDatabase:
        return cls(os.environ.get("PITCREW_BENCH_PG", DEFAULT_SERVER).rstrip("/"), name)

    @property
    def url(self) -> str:
        return f"{self.server}/{self.name}"

    @property
    def conninfo(self) -> str:
        """For psycopg directly (the raw side of the dashboard comparison)."""
        u = make_url(self.url)
        parts = {
            "host": u.host or "127.0.0.1",
            "port": str(u.port or 5432),
            "user": u.username or "postgres",
            "dbname": self.name,
        }
        if u.password:
            parts["password"] = str(u.password)
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def libpq_env(self) -> dict[str, str]:
        """PG* variables that point pgbench and psql at this database."""
        u = make_url(self.url)
        env = {
            "PGHOST": u.host or "127.0.0.1",
            "PGPORT": str(u.port or 5432),
            "PGUSER": u.username or "postgres",
            "PGDATABASE": self.name,
        }
        if u.password:
            env["PGPASSWORD"] = str(u.password)
        return env

    def create(self) -> None:
        """A fresh database at the current schema (an earlier one of that name is dropped)."""
        self.drop()
        with _admin(self.server) as c:
            c.execute(f'CREATE DATABASE "{self.name}"')
        engine = create_engine(self.url)
        schema.upgrade(engine)
        engine.dispose()

    def drop(self) -> None:
        with _admin(self.server) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def connect(self, *, autocommit: bool = True) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.conninfo, autocommit=autocommit)

    def server_version(self) -> str:
        engine = create_engine(self.url)
        try:
            with engine.connect() as c:
                return str(c.execute(text("SHOW server_version")).scalar())
        finally:
            engine.dispose()


def _admin(server: str) -> psycopg.Connection[tuple[object, ...]]:
    u = make_url(f"{server}/postgres")
    return psycopg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password or None,
        dbname="postgres",
        autocommit=True,
    )
