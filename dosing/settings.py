"""Settings read from the environment (prefix ``DOSING_``), in one place.

``DOSING_DATABASE_URL`` chooses the store: by default an embedded SQLite file under the user's data
directory (``$XDG_DATA_HOME/dosing/dosing.db``, or ``~/.local/share/dosing/dosing.db``); a site that
outgrows one machine points it at PostgreSQL (``postgresql+psycopg://user@host/db``).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dosing"


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'dosing.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOSING_", extra="ignore")

    database_url: str = Field(
        default_factory=default_database_url,
        description="SQLAlchemy URL of the store (DOSING_DATABASE_URL).",
    )

    def sqlite_path(self) -> Path | None:
        """The database file when the store is a SQLite file, else None."""
        return sqlite_file(self.database_url)


def sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url in {prefix, f"{prefix}:memory:"}:
        return None
    return Path(url[len(prefix) :].split("?", 1)[0])


def get_settings() -> Settings:
    """Fresh settings from the environment (cheap; not cached so tests can change the environment)."""
    return Settings()
