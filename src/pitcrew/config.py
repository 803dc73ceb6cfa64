"""Settings from the environment, so one build runs on a laptop and in production."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob an operator may turn; names are the environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///pitcrew.db"
    request_ttl: timedelta = timedelta(minutes=15)
    token_ttl: timedelta = timedelta(days=14)
    cookie_secure: bool = False
    max_body_bytes: int = 64 * 1024
    max_message_chars: int = 4000
    metrics_refresh_seconds: float = 15.0
    events_poll_seconds: float = 5.0

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
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


@lru_cache
def get_settings() -> Settings:
    return Settings()
