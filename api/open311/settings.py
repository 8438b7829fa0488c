"""What the Open311 face publishes, read from the environment (``WHISTLE_OPEN311_*``).

``api.settings.ApiSettings`` inherits these, so the API still has one settings object.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.config import Settings

# How much of a request's place the public reads show (with an api_key: the caller's own scope).
PublicLocation = Literal["exact", "coarse", "area"]


class Open311Settings(Settings):
    """Public reads on or off, how coarse a published place is, the jurisdiction, the contacts."""

    # GeoReport v2 makes GET requests public; a deployment that must not publish turns this off.
    open311_public_reads: bool = Field(
        default=True, validation_alias="WHISTLE_OPEN311_PUBLIC_READS"
    )
    # exact: address and position as reported (redacted of personal data); coarse: the street
    # without house numbers, the position to ~100 m; area: neither, only the area code.
    open311_public_location: PublicLocation = Field(
        default="exact", validation_alias="WHISTLE_OPEN311_PUBLIC_LOCATION"
    )
    # Unset: any jurisdiction_id is accepted (one jurisdiction per endpoint, as the spec allows).
    open311_jurisdiction: str | None = Field(
        default=None, max_length=100, validation_alias="WHISTLE_OPEN311_JURISDICTION"
    )
    open311_contact: str = Field(
        default="", max_length=400, validation_alias="WHISTLE_OPEN311_CONTACT"
    )
    open311_key_service: str = Field(
        default="", max_length=400, validation_alias="WHISTLE_OPEN311_KEY_SERVICE"
    )
