"""A GeoReport POST turned into a case draft: service code → category, location → area.

Where the case goes: ``address_id`` names an area by id or code. Without it — ``lat``/``long`` or
``address_string`` only — areas have no coordinates to match against, so the case goes to the
caller's own area (a grid worker's community) or, for accounts without one (a residents' app), to
the district when there is exactly one; the position and address are kept on the case for the
command centre to refine at dispatch. Category attributes are checked against the service
definition and kept as lines at the end of the description.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.open311.mapping import definition_of
from engine.access import Actor
from engine.case.service import CaseDraft, parse_draft
from engine.errors import InvalidInput
from engine.organisation.snapshot import CategoryInfo, Organisation
from engine.vocabulary import AREA_KINDS, Source

_ATTRIBUTE = re.compile(r"^attribute\[(.{1,64})\]$")
_CJK = re.compile(r"[\u3400-\u9fff]")
TITLE_MAX = 60


class Open311Form(BaseModel):
    """The fields of a GeoReport v2 POST that we read (attributes come separately)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    api_key: str | None = Field(default=None, max_length=200)
    service_code: str | None = Field(default=None, max_length=64)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str | None = Field(default=None, max_length=400)
    address_id: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=200)
    device_id: str | None = Field(default=None, max_length=200)
    account_id: str | None = Field(default=None, max_length=200)
    first_name: str | None = Field(default=None, max_length=50)
    last_name: str | None = Field(default=None, max_length=50)
    phone: str | None = Field(default=None, max_length=40)
    description: str | None = Field(default=None, max_length=4000)
    media_url: str | None = Field(default=None, max_length=1000)


def attributes_of(form: Mapping[str, Any]) -> dict[str, str]:
    """The ``attribute[code]`` fields of a form, by code."""
    found: dict[str, str] = {}
    for key, value in form.items():
        match = _ATTRIBUTE.match(key)
        if match and isinstance(value, str):
            found[match[1]] = value.strip()
    return found


def _area(org: Organisation, actor: Actor, form: Open311Form) -> int:
    if form.address_id:
        area = org.area_by_ref(form.address_id)
        if area is None:
            raise InvalidInput(f"address_id: '{form.address_id}' is not an area id or code")
        return area.id
    if (form.lat is None) != (form.long is None):
        raise InvalidInput("lat and long: give both or neither")
    if form.lat is None and not form.address_string:
        raise InvalidInput("a location is required: lat and long, address_string or address_id")
    if actor.scope_id is not None and actor.scope_kind in AREA_KINDS:
        return actor.scope_id
    districts = org.district_roots()
    if len(districts) != 1:
        raise InvalidInput("address_id is required here: lat/long cannot be matched to an area")
    return districts[0].id


def _checked_attributes(category: CategoryInfo, given: Mapping[str, str]) -> list[str]:
    lines = []
    for attribute in definition_of(category)["attributes"]:
        code, value = attribute["code"], given.get(attribute["code"], "")
        if not value:
            if attribute["required"] and attribute["variable"]:
                raise InvalidInput(f"attribute[{code}]: required by service {category.code}")
            continue
        keys = {v["key"] for v in attribute["values"]}
        if attribute["datatype"] == "singlevaluelist" and keys and value not in keys:
            raise InvalidInput(f"attribute[{code}]: '{value}' is not one of {sorted(keys)}")
        lines.append(f"{attribute['description']}: {value}")
    unknown = sorted(set(given) - {a["code"] for a in definition_of(category)["attributes"]})
    if unknown:
        raise InvalidInput(f"attribute: {unknown} not defined for service {category.code}")
    return lines


def _reporter(form: Open311Form) -> str | None:
    first, last = form.first_name or "", form.last_name or ""
    if _CJK.search(first + last):
        return (last + first) or None  # a Chinese name is family name first
    return " ".join(p for p in (first, last) if p) or None


def draft_from_form(
    org: Organisation, *, actor: Actor, form: Open311Form, attributes: Mapping[str, str]
) -> CaseDraft:
    """The case a GeoReport POST asks for, or ``InvalidInput`` naming the field; the service and
    the area are looked up in the organisation snapshot ``org``."""
    if not form.service_code:
        raise InvalidInput("service_code: required")
    category = org.category_by_code(form.service_code)
    if category is None:
        raise InvalidInput(f"service_code: '{form.service_code}' is not a service")
    area = _area(org, actor, form)
    text = form.description or ""
    lines = _checked_attributes(category, attributes)
    title = (text.splitlines()[0] if text.strip() else category.name_zh)[:TITLE_MAX]
    return parse_draft(
        {
            "workflow": category.workflow,
            "title": title if len(title) >= 2 else category.name_zh,
            "description": "\n".join([text, *lines]).strip(),
            "area_id": area,
            "category_id": category.id,
            "latitude": form.lat,
            "longitude": form.long,
            "address": form.address_string,
            "reporter_name": _reporter(form),
            "reporter_phone": form.phone or None,
            "source": Source.APP,
        }
    )
