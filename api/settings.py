"""Settings of the HTTP faces: the engine's settings plus the limits only the API needs.

Read from the environment like the engine's own (``WHISTLE_API_*``, ``WHISTLE_EVIDENCE_*``,
``WHISTLE_INTAKE_*``); a plain ``engine.config.Settings`` is widened with the defaults.
"""

from __future__ import annotations

from pydantic import Field

from api.open311.settings import Open311Settings
from engine.config import Settings

MiB = 1024 * 1024


class ApiSettings(Open311Settings):
    """Request size caps, the evidence allow-list, the intake rate limit; and Open311's own."""

    max_body_bytes: int = Field(default=1 * MiB, ge=1024, validation_alias="WHISTLE_API_MAX_BODY")
    evidence_max_bytes: int = Field(
        default=10 * MiB, ge=1024, validation_alias="WHISTLE_EVIDENCE_MAX_BYTES"
    )
    evidence_types: list[str] = Field(
        default_factory=lambda: ["image/jpeg", "image/png", "application/pdf"],
        validation_alias="WHISTLE_EVIDENCE_TYPES",
    )
    # Cases one client (account) may raise per window; 0 turns the limit off.
    intake_rate_limit: int = Field(default=120, ge=0, validation_alias="WHISTLE_INTAKE_RATE")
    intake_rate_window: int = Field(default=60, ge=1, validation_alias="WHISTLE_INTAKE_WINDOW")

    # The console's session cookie: Secure always (true), never (false), or when the request
    # came over HTTPS (unset; behind a TLS proxy run uvicorn with --proxy-headers).
    console_secure_cookie: bool | None = Field(
        default=None, validation_alias="WHISTLE_CONSOLE_SECURE_COOKIE"
    )
    # Login attempts per username in a window (counted in Redis; 0 turns the limit off).
    login_rate_limit: int = Field(default=10, ge=0, validation_alias="WHISTLE_LOGIN_RATE")
    login_rate_window: int = Field(default=900, ge=1, validation_alias="WHISTLE_LOGIN_WINDOW")

    @classmethod
    def widen(cls, settings: Settings | None) -> ApiSettings:
        """These settings as ``ApiSettings`` (the API's own knobs from the environment)."""
        if settings is None:
            return cls()
        if isinstance(settings, ApiSettings):
            return settings
        return cls(**settings.model_dump())
