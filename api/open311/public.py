"""What Open311 publishes without an api_key, and the Service Discovery document.

A public request is a request (``api.open311.mapping.request_of``) with nothing of its reporter:
the description and status notes are redacted of personal data (phone, ID card and plate numbers,
e-mail, the reporter's own name: ``engine.redaction``), and the place is as exact as the
deployment's ``WHISTLE_OPEN311_PUBLIC_LOCATION`` says. Which cases: every case, newest first, as
the spec's public reads have it; the filters and limits are those of a keyed read.
"""

from __future__ import annotations

from typing import Any

from api.open311.settings import Open311Settings, PublicLocation
from engine.access import Actor
from engine.case.models import Case
from engine.redaction import coarsen_address, coarsen_position, redact_names

# Public reads see every case, and only ever through ``project``.
PUBLIC = Actor.system()
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this document last changed (the spec's sortable ``changeset``).
CHANGESET = "2026-12-06T00:00:00Z"


def project(request: dict[str, Any], case: Case, *, location: PublicLocation) -> dict[str, Any]:
    """The public projection of one request (a new dict; ``request`` is left as it was)."""
    names = (case.reporter_name,)
    public = dict(request)
    for field in ("description", "status_notes"):
        if public.get(field) is not None:
            public[field] = redact_names(public[field], names)
    match location:
        case "exact":
            public["address"] = None if case.address is None else redact_names(case.address, names)
        case "coarse":
            public["address"] = coarsen_address(case.address)
            public["lat"], public["long"] = coarsen_position(case.latitude, case.longitude)
        case "area":
            public["address"], public["lat"], public["long"] = None, None, None
        case _:
            raise AssertionError(f"no public projection for location '{location}'")
    public["zipcode"] = None
    public["media_url"] = None
    return public


def discovery_of(url: str, settings: Open311Settings) -> dict[str, Any]:
    """The Service Discovery document of this deployment's one GeoReport v2 endpoint."""
    return {
        "changeset": CHANGESET,
        "contact": settings.open311_contact or None,
        "key_service": settings.open311_key_service or None,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": url,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
