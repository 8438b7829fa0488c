"""Open311 GeoReport v2 ``requests`` (JSON): a built-in mapping over the same row converter.

The response is an array of request objects (some servers wrap it as ``{"service_requests":
[...]}``). ``agency_responsible`` is the department, ``service_name`` the category,
``expected_datetime`` the due time; a ``closed`` request was closed at its ``updated_datetime``
(the nearest the format has), an ``open`` one's ``updated_datetime`` is only its last touch.
A coordinate of 0,0 means "not geocoded". The "line" of a reject is the request's position.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.errors import InvalidInput
from engine.importing.csv_mapping import MappingSpec, parse_mapping

MAPPING: dict[str, Any] = {
    "feed": "open311",
    "district": {"code": "O311", "name_zh": "Open311 导入", "name_en": "Open311 import"},
    "ref_prefix": "open311:",
    "time_format": "iso",
    "timezone": "UTC",  # only for times without an offset, which GeoReport v2 does not allow
    "columns": {
        "source_ref": "service_request_id",
        "opened_at": "requested_datetime",
        "resolve_by": "expected_datetime",
        "closed_at": "updated_datetime",
        "status": "status",
        "department": "agency_responsible",
        "category": "service_name",
        "description": "description",
        "address": "address",
        "latitude": "lat",
        "longitude": "long",
        "result": "status_notes",
    },
    "defaults": {"department": "Open311"},
    "values": {"status": {"open": "assigned", "closed": "resolved"}},
    "facts": {"service_code": "service_code", "media_url": "media_url"},
    "title_fallback": "category",
    "not_geocoded": [{"latitude": 0, "longitude": 0}],
    "closed_at_only_when_closed": True,
}


def mapping(**district: str) -> MappingSpec:
    """The Open311 mapping; ``code``, ``name_zh``, ``name_en`` override its district."""
    data = {**MAPPING, "district": {**MAPPING["district"], **district}}
    return parse_mapping(data, "open311 (built in)")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def read_requests(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(position from 1, request as text fields) for each request in the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: not a JSON document: {exc}") from None
    if isinstance(data, dict):
        data = data.get("service_requests", data.get("requests"))
    if not isinstance(data, list):
        raise InvalidInput(f"{path}: expected an array of service requests")
    for position, item in enumerate(data, start=1):
        if isinstance(item, dict):
            yield position, {str(k): _text(v) for k, v in item.items()}
        else:
            yield position, {}
