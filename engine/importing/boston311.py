"""The Boston 311 CRM export (City of Boston open data): a built-in mapping over the CSV reader.

``examples/mapping_boston.yaml`` is the same mapping as a file, so the generic ``whistle import
csv`` path gives the same cases. ``TYPE`` sits under ``REASON`` as category; ``SUBJECT`` is the
department; each ``neighborhood`` is a street of the district "Boston" (rows without one sit at the
district); the coordinate 42.3594,-71.0587 means "not geocoded" and is stored as none. The
district "Boston" keeps Massachusetts' calendar in New York time; a row without ``TARGET_DT``
gets no resolve-by clock, so the on-time figures are over the city's own targets only.
"""

from __future__ import annotations

from typing import Any

from engine.importing.csv_mapping import MappingSpec, parse_mapping

TIMEZONE = "America/New_York"

MAPPING: dict[str, Any] = {
    "feed": "boston311",
    "district": {"code": "BOS", "name_zh": "波士顿", "name_en": "Boston"},
    "encoding": "utf-8",
    "time_format": "%m/%d/%Y %I:%M:%S %p",
    "timezone": TIMEZONE,
    # Boston's own working days (Massachusetts public holidays), never the Chinese calendar. No
    # default_target: the city sets TARGET_DT where it has one; rows without get no clock.
    "calendar": "US-MA",
    "columns": {
        "source_ref": "CASE_ENQUIRY_ID",
        "opened_at": "OPEN_DT",
        "resolve_by": "TARGET_DT",
        "closed_at": "CLOSED_DT",
        "status": "CASE_STATUS",
        "department": "SUBJECT",
        "category_group": "REASON",
        "category": "TYPE",
        "area": "neighborhood",
        "title": "CASE_TITLE",
        "address": "Location",
        "latitude": "LATITUDE",
        "longitude": "LONGITUDE",
        "result": "CLOSURE_REASON",
    },
    "values": {"status": {"Open": "assigned", "Closed": "resolved"}},
    "facts": {"queue": "QUEUE", "channel": "Source", "on_time_status": "OnTime_Status"},
    "title_fallback": "category",
    "not_geocoded": [{"latitude": 42.3594, "longitude": -71.0587}],
}


def mapping() -> MappingSpec:
    """The Boston 311 mapping."""
    return parse_mapping(MAPPING, "boston311 (built in)")
