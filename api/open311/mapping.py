"""Our cases and categories in GeoReport v2 terms.

``status`` is ``open`` while someone still has to act and ``closed`` once the case is resolved,
rated, closed, merged or cancelled; ``status_notes`` names our own state (zh and en).
``agency_responsible`` is the lead department; ``expected_datetime`` the resolve-by time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from engine.case.models import Case
from engine.event.models import Event
from engine.organisation.models import Category, OrgNode
from engine.runtime import Runtime
from engine.vocabulary import CaseState

CLOSED_STATES = (
    CaseState.RESOLVED,
    CaseState.RATED,
    CaseState.CLOSED,
    CaseState.MERGED,
    CaseState.CANCELLED,
)
OPEN_STATES = tuple(s for s in CaseState if s not in CLOSED_STATES)
DESCRIPTION_MAX = 4000  # the spec's cap on a request's description
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")


def status_of(state: str) -> str:
    return "closed" if state in CLOSED_STATES else "open"


def stamp(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """W3C date-time with the local offset: ``2026-03-02T09:00:00+08:00``."""
    return None if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")


def _state_label(rt: Runtime, workflow: str, state: str) -> str:
    states = rt.workflows.get(workflow).spec.case.states if workflow in rt.workflows else {}
    labels = states.get(state)
    return f"{labels.zh} {labels.en}" if labels else state


def status_notes(rt: Runtime, case: Case) -> str:
    """Our state in words, with the reason when a case ended early."""
    note = _state_label(rt, case.workflow, case.state)
    if case.state == CaseState.CANCELLED and case.cancel_reason:
        note += f": {case.cancel_reason}"
    if case.state == CaseState.MERGED and case.merged_into_id:
        note += f": → {case.merged_into_id}"
    return note


def request_of(
    case: Case,
    *,
    rt: Runtime,
    zone: ZoneInfo,
    category: Category | None,
    lead: OrgNode | None,
    expected: datetime | None,
    area: OrgNode | None,
) -> dict[str, Any]:
    """One service request."""
    text = case.description or case.title
    return {
        "service_request_id": str(case.id),
        "status": status_of(case.state),
        "status_notes": status_notes(rt, case),
        "service_name": category.name_zh if category else None,
        "service_code": category.code if category else "",
        "description": text[:DESCRIPTION_MAX],
        "agency_responsible": lead.name_zh if lead else None,
        "service_notice": None,
        "requested_datetime": stamp(case.created_at, zone),
        "updated_datetime": stamp(case.updated_at, zone),
        "expected_datetime": stamp(expected, zone),
        "address": case.address,
        "address_id": area.code if area else None,
        "zipcode": None,
        "lat": case.latitude,
        "long": case.longitude,
        "media_url": None,
    }


def service_of(category: Category, parent: Category | None) -> dict[str, Any]:
    """One service (a category)."""
    return {
        "service_code": category.code,
        "service_name": category.name_zh,
        "description": category.name_en,
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": None,
        "group": parent.name_zh if parent else None,
    }


def _attribute(raw: Mapping[str, Any], position: int) -> dict[str, Any]:
    datatype = raw.get("datatype", "string")
    values = raw.get("values") or []
    return {
        "variable": bool(raw.get("variable", True)),
        "code": str(raw["code"]),
        "datatype": datatype if datatype in DATATYPES else "string",
        "required": bool(raw.get("required", False)),
        "datatype_description": raw.get("datatype_description"),
        "order": int(raw.get("order", position)),
        "description": raw.get("description") or str(raw["code"]),
        "values": [{"key": str(v["key"]), "name": str(v.get("name", v["key"]))} for v in values],
    }


class Service(Protocol):
    """What a service definition reads of a category (a stored row or the snapshot's)."""

    @property
    def code(self) -> str: ...
    @property
    def attributes(self) -> Sequence[Mapping[str, Any]] | None: ...


def definition_of(category: Service) -> dict[str, Any]:
    """A service definition: the category's extra fields as Open311 attributes."""
    attributes = [
        _attribute(raw, i)
        for i, raw in enumerate(category.attributes or [], start=1)
        if isinstance(raw, Mapping) and raw.get("code")
    ]
    return {"service_code": category.code, "attributes": attributes}


def update_of(event: Event, *, rt: Runtime, workflow: str, zone: ZoneInfo) -> dict[str, Any]:
    """One entry of the update feed: a case moving to a new state."""
    state = event.to_state or ""
    return {
        "update_id": str(event.id),
        "service_request_id": str(event.case_id),
        "status": status_of(state),
        "updated_datetime": stamp(event.at, zone),
        "description": _state_label(rt, workflow, state),
    }
