"""Configuration: one settings object read from the environment once.

The embedded default (no variables set) is a SQLite file and an embedded Redis under ``var/``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the process, with the names operators set in the environment."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default=Path("var"), validation_alias="WHISTLE_DATA_DIR")
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    workflows_dir: Path | None = Field(default=None, validation_alias="WHISTLE_WORKFLOWS_DIR")
    timezone: str = Field(default="Asia/Shanghai", validation_alias="WHISTLE_TIMEZONE")
    holidays_file: Path | None = Field(default=None, validation_alias="WHISTLE_HOLIDAYS_FILE")
    sweep_seconds: float = Field(
        default=2.0, gt=0, validation_alias=AliasChoices("WHISTLE_SWEEP_SECONDS")
    )
    # The urgency lexicon of smart intake (engine/insight/lexicon.py); unset: the built-in one.
    urgency_lexicon: Path | None = Field(default=None, validation_alias="WHISTLE_URGENCY_LEXICON")
    clock_speed: float = Field(default=1.0, gt=0, validation_alias="WHISTLE_CLOCK_SPEED")
    # How often the sweeper looks whether the category model should learn again (hours; 0: never).
    insight_train_hours: float = Field(
        default=24.0, ge=0, le=24 * 366, validation_alias="WHISTLE_INSIGHT_TRAIN_HOURS"
    )

    @property
    def effective_database_url(self) -> str:
        """The configured database, or the embedded SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'whistle.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
