"""Settings from the environment, so one build runs on a laptop and in production."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        """Accept the URLs operators already have, and pick our drivers for them."""
        value = value.strip() or "sqlite:///pitcrew.db"
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        if value.startswith("sqlite:") or value.startswith("postgresql+"):
            return value
        raise ValueError("DATABASE_URL must start with sqlite:/// or postgresql://")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


@lru_cache
def get_settings() -> Settings:
    return Settings()
