"""Settings from the environment, so one build runs on a laptop and in production."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MediaStore = Literal["auto", "directory", "database"]

# The drivers pitcrew is built and tested with; any other would fail later, less clearly.
DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql+psycopg"})
MASK = "***"


class IceServer(BaseModel):
    """A STUN or TURN server as the browser's RTCPeerConnection takes it."""

    model_config = ConfigDict(extra="forbid")

    urls: str | list[str]
    username: str | None = None
    credential: str | None = None

    @field_validator("urls")
    @classmethod
    def _ice_schemes(cls, value: str | list[str]) -> str | list[str]:
        for url in [value] if isinstance(value, str) else value:
            if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
                raise ValueError(f"ICE server URL {url!r} must start with stun: or turn:")
        return value


class Settings(BaseSettings):
    """Every knob an operator may turn; names are the environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///pitcrew.db"
    request_ttl: timedelta = timedelta(minutes=15)
    expiry_sweep_seconds: float = 15.0
    smtp_url: str | None = None
    smtp_from: str = "pitcrew <pitcrew@localhost>"
    email_poll_seconds: float = 10.0
    token_ttl: timedelta = timedelta(days=14)
    # How long the link of a password-reset email works (it works once).
    password_reset_ttl: timedelta = timedelta(hours=1)
    # The address people open pitcrew at, for the links in emails; unset, the address the
    # request came to (set it wherever email is on: a forged Host header cannot then
    # point a reset link elsewhere).
    public_url: str | None = None
    cookie_secure: bool = False
    login_max_failures: int = 10
    login_window: timedelta = timedelta(minutes=15)
    max_body_bytes: int = 64 * 1024
    metrics_refresh_seconds: float = 15.0
    events_poll_seconds: float = 5.0
    # Video calls: none works between browsers on one network; add TURN for the internet.
    ice_servers: list[IceServer] = Field(default_factory=list)
    max_upload_mb: float = Field(default=10.0, gt=0, le=1024)
    media_dir: Path = Path("media")
    # Where photos are kept: "auto" is the database on PostgreSQL (every host reaches it)
    # and MEDIA_DIR on SQLite; see pitcrew.photo_store.
    media_store: MediaStore = "auto"
    # Serving: which peers may tell us the client's address and scheme (X-Forwarded-For,
    # X-Forwarded-Proto): a comma-separated list of addresses or networks, "*" for any.
    forwarded_allow_ips: str = "127.0.0.1"
    shutdown_grace_seconds: float = Field(default=20.0, gt=0)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    log_format: Literal["text", "json"] = "text"
    # Retention (`pitcrew prune`): how long rows that nothing reads any more are kept.
    events_retention: timedelta = timedelta(days=30)
    notifications_retention: timedelta = timedelta(days=90)
    email_retention: timedelta = timedelta(days=30)
    # How often each server prunes (one at a time across hosts); 0 leaves it to `pitcrew prune`.
    prune_interval_seconds: float = Field(default=3600.0, ge=0)

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        """Accept the URLs operators already have, and pick our drivers for them."""
        value = value.strip() or "sqlite:///pitcrew.db"
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                value = "postgresql+psycopg://" + value[len(prefix) :]
        try:
            url = make_url(value)
            url.port  # noqa: B018 -- a port that is not a number fails here, not at connect
        except (ArgumentError, ValueError):
            raise ValueError(
                "DATABASE_URL is not a database URL; expected sqlite:///path or "
                "postgresql://user:password@host:5432/name"
            ) from None
        if url.drivername not in DRIVERS:
            raise ValueError(
                f"DATABASE_URL names {url.drivername!r}; pitcrew runs on SQLite "
                "(sqlite:///path) or PostgreSQL (postgresql://user:password@host:5432/name)"
            )
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        """Refuse a mistyped SMTP_URL at start-up, not at the first email hours later."""
        if value is None or not value.strip():
            return None
        from pitcrew.mailer import SmtpTarget  # the one reading of the URL

        SmtpTarget.from_url(value)
        return value.strip()

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("PUBLIC_URL must look like https://pitcrew.example.com")
        return value.strip().rstrip("/")

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


def effective(settings: Settings) -> list[tuple[str, str, bool]]:
    """Each setting as an operator would write it (name, value, set rather than defaulted),
    with passwords in URLs and TURN credentials masked, so the output can be pasted anywhere."""
    values = settings.model_dump(mode="json")
    values["database_url"] = make_url(settings.database_url).render_as_string(hide_password=True)
    values["smtp_url"] = settings.smtp_url and _mask_url(settings.smtp_url)
    values["ice_servers"] = [
        {**server, "credential": MASK} if server.get("credential") else server
        for server in values["ice_servers"]
    ]
    shown = []
    for name, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value)
        shown.append((name.upper(), text, name in settings.model_fields_set))
    return shown


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


@lru_cache
def get_settings() -> Settings:
    return Settings()
