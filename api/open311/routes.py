"""The GeoReport v2 endpoints, each in JSON and XML (``.json`` / ``.xml`` on the path).

Reads are public, as the spec has them: without an ``api_key`` a request is its public projection
(``api.open311.public``: no reporter, personal data redacted from the text, the place as coarse as
the settings say), and a deployment may turn public reads off. With an ``api_key`` (an API token)
reading is scoped like every other read — a residents' app sees the requests it raised, a command
centre its area. Raising needs a key and a role the workflow lets raise cases. Errors are the
spec's ``{code, description}`` arrays (``api.problems`` renders them for every path under
``/open311/``), 400 for a bad parameter and 404 for an unknown id, in JSON and XML.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request, Response

from api.deps import ClockDep, RuntimeDep, SessionDep, SettingsDep, check_intake
from api.onehop import Caller, in_one_hop
from api.open311.formats import Format, respond
from api.open311.intake import Open311Form, attributes_of, draft_from_form
from api.open311.mapping import (
    CLOSED_STATES,
    OPEN_STATES,
    definition_of,
    request_of,
    service_of,
    stamp,
    update_of,
)
from api.open311.public import PUBLIC, discovery_of, project
from api.open311.settings import PublicLocation
from engine.access import Actor
from engine.auth import actor_for_token
from engine.case.lookups import (
    MAX_ROWS,
    categories_by_id,
    due_times,
    find_cases,
    lead_orgs,
    state_changes,
)
from engine.case.models import Case
from engine.case.queries import MAX_ID, orgs_by_id
from engine.case.service import CaseDraft, raise_from_organisation
from engine.errors import InvalidInput, NotFound, Unauthenticated
from engine.organisation.queries import all_categories, category_by_code
from engine.organisation.snapshot import Organisation
from engine.runtime import Runtime
from engine.vocabulary import CaseState

router = APIRouter(prefix="/open311", tags=["open311"])
DEFAULT_DAYS = 90
# Dates a filter may name: far enough either way for any history, near enough that 90 days
# before or after stays a date (0001-01-01 minus 90 days is not one).
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)
_ASCII_ID = re.compile(r"[0-9]{1,19}")


def _formats(json_schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI answers of a GeoReport endpoint: the document in JSON or XML, or an error array."""
    return {
        200: {
            "content": {
                "application/json": {"schema": json_schema},
                "text/xml": {"schema": {"type": "string"}},
            },
            "description": "GeoReport v2 document",
        },
    }


FORMATS = _formats({"type": "array", "items": {"type": "object"}})
DEFINITION = _formats({"type": "object"})
ApiKey = Annotated[
    str | None,
    Query(max_length=200, description="An API token: the caller's own scope; without, public"),
]


async def _zone(settings: SettingsDep) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


ZoneDep = Annotated[ZoneInfo, Depends(_zone)]


async def _jurisdiction(
    settings: SettingsDep,
    jurisdiction_id: Annotated[str | None, Query(max_length=100)] = None,
) -> None:
    """``jurisdiction_id`` is accepted; where one is configured, another one is not served."""
    served = settings.open311_jurisdiction
    if jurisdiction_id and served and jurisdiction_id != served:
        raise NotFound(f"jurisdiction_id: '{jurisdiction_id}' is not served here")


Jurisdiction = Depends(_jurisdiction)


def _reader(
    session: SessionDep, settings: SettingsDep, api_key: str | None, clock: ClockDep
) -> Actor | None:
    """The key's actor; without a key, None (the public), unless public reads are turned off."""
    if api_key:
        return actor_for_token(session, api_key, now=clock.now())
    if not settings.open311_public_reads:
        raise Unauthenticated("api_key: required (public reads are turned off here)")
    return None


def _when(value: str | None, field: str, zone: ZoneInfo) -> datetime | None:
    if not value:
        return None
    # An unescaped '+' of an offset arrives as a space.
    text = value.strip()
    if len(text) > 19 and text[19] == " ":
        text = text[:19] + "+" + text[20:]
    example = "2026-03-01T00:00:00+08:00"
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        in_range = EARLIEST <= moment <= LATEST
    except (ValueError, OverflowError):
        raise InvalidInput(f"{field}: expected a W3C date-time such as {example}") from None
    if not in_range:
        raise InvalidInput(f"{field}: {text} is not between 1900 and 9000")
    return moment


def _ids(value: str | None) -> list[int]:
    if not value:
        return []
    parts = [p.strip() for p in value.split(",") if p.strip()]
    # ASCII digits only: str.isdigit() passes '²' (int() then fails) and reads '١' as 1.
    if not all(_ASCII_ID.fullmatch(p) and int(p) <= MAX_ID for p in parts) or len(parts) > MAX_ROWS:
        raise InvalidInput("service_request_id: a comma-separated list of request ids")
    return [int(p) for p in parts]


def _states(value: str | None) -> list[CaseState]:
    if not value:
        return []
    states: list[CaseState] = []
    for part in (p.strip().lower() for p in value.split(",")):
        if part == "open":
            states += OPEN_STATES
        elif part == "closed":
            states += CLOSED_STATES
        else:
            raise InvalidInput(f"status: '{part}' is not 'open' or 'closed'")
    return states


def _requests(
    session: SessionDep,
    rt: Runtime,
    zone: ZoneInfo,
    cases: list[Case],
    *,
    public: PublicLocation | None,
) -> list[Any]:
    """The requests; ``public`` (the location setting) gives each its public projection."""
    ids = [c.id for c in cases]
    categories = categories_by_id(session, {c.category_id for c in cases})
    leads = lead_orgs(session, ids)
    expected = due_times(session, ids, clock="resolve")
    areas = orgs_by_id(session, {c.area_id for c in cases})
    requests = []
    for c in cases:
        request = request_of(
            c,
            rt=rt,
            zone=zone,
            category=categories.get(c.category_id or 0),
            lead=leads.get(c.id),
            expected=expected.get(c.id),
            area=areas.get(c.area_id),
        )
        requests.append(request if public is None else project(request, c, location=public))
    return requests


def _public(actor: Actor | None, settings: SettingsDep) -> PublicLocation | None:
    return settings.open311_public_location if actor is None else None


@router.get(
    "/v2/services.{fmt}", responses=FORMATS, summary="Service list", dependencies=[Jurisdiction]
)
def services(fmt: Format, session: SessionDep) -> Response:
    """Every active category as a service."""
    rows = all_categories(session)
    by_id = {c.id: c for c in rows}
    body = [service_of(c, by_id.get(c.parent_id or 0)) for c in rows]
    return respond(fmt, "services", body)


@router.get(
    "/v2/services/{service_code}.{fmt}",
    responses=DEFINITION,
    summary="Service definition",
    dependencies=[Jurisdiction],
)
def service_definition(service_code: str, fmt: Format, session: SessionDep) -> Response:
    """A service's attributes (the category's extra fields)."""
    category = category_by_code(session, service_code)
    if category is None:
        raise NotFound(f"service_code: '{service_code}' is not a service")
    return respond(fmt, "service_definition", definition_of(category))


@router.get(
    "/v2/requests.{fmt}", responses=FORMATS, summary="Service requests", dependencies=[Jurisdiction]
)
def requests(
    fmt: Format,
    session: SessionDep,
    rt: RuntimeDep,
    clock: ClockDep,
    zone: ZoneDep,
    settings: SettingsDep,
    api_key: ApiKey = None,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
) -> Response:
    """Requests by ids, or of the last 90 days (at most 1,000): every one, as its public
    projection, without a key; those the key's account may see with one."""
    actor = _reader(session, settings, api_key, clock)
    ids = _ids(service_request_id)
    category_id = None
    if service_code and not ids:
        category = category_by_code(session, service_code)
        if category is None:
            return respond(fmt, "service_requests", [])
        category_id = category.id
    until = _when(end_date, "end_date", zone)
    since = _when(start_date, "start_date", zone)
    if not ids:
        until = until or clock.now() + timedelta(seconds=1)
        since = since or until - timedelta(days=DEFAULT_DAYS)
    cases = find_cases(
        session, actor=actor or PUBLIC, ids=ids, category_id=category_id,
        states=[] if ids else _states(status), created_from=None if ids else since,
        created_to=None if ids else until,
    )  # fmt: skip
    body = _requests(session, rt, zone, cases, public=_public(actor, settings))
    return respond(fmt, "service_requests", body)


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


@router.post(
    "/v2/requests.{fmt}",
    responses=FORMATS,
    summary="Create a service request",
    dependencies=[Jurisdiction],
)
async def create_request(
    fmt: Format,
    fields: Annotated[Open311Form, Form()],
    raw: Annotated[dict[str, Any], Depends(_form)],
    request: Request,
    zone: ZoneDep,
    api_key: ApiKey = None,
) -> Response:
    """Raise a case from a form-encoded GeoReport request (``api_key`` required)."""
    key = fields.api_key or api_key
    if not key:
        raise Unauthenticated("api_key: required")
    # The key's lookup, the form's category and area, the raise and the answer in one hop to
    # the thread pool, as the JSON intake does.
    work = partial(_raise_request, fields=fields, attributes=attributes_of(raw), zone=zone)
    body = await in_one_hop(request, key, work, case_id=True)
    return respond(fmt, "service_requests", body)


def _raise_request(
    caller: Caller, *, fields: Open311Form, attributes: dict[str, str], zone: ZoneInfo
) -> list[dict[str, str]]:
    session, actor = caller.session, caller.actor
    counted = False

    def build(org: Organisation) -> CaseDraft:
        nonlocal counted
        draft = draft_from_form(org, actor=actor, form=fields, attributes=attributes)
        if not counted:  # once the form is known to be a case (a bad one is no intake), once
            check_intake(caller.limiter, actor, caller.clock)
            counted = True
        return draft

    unit = raise_from_organisation(
        session=session, rt=caller.rt, actor=actor, build=build, now=caller.clock.now(),
        case_id=caller.case_id,
    )  # fmt: skip
    # Answered from the unit as written: its dispatch clock is among the clocks it started.
    dispatch_by = unit.running_clock("dispatch")
    notice = "已受理 Received"
    if dispatch_by is not None:
        notice += f"; 派单时限 dispatch by {stamp(dispatch_by.due_at, zone)}"
    return [{"service_request_id": str(unit.case.id), "service_notice": notice}]


@router.get(
    "/v2/requests/{service_request_id}.{fmt}",
    responses=FORMATS,
    summary="One request",
    dependencies=[Jurisdiction],
)
# The spec's Swagger description spells this path in the singular; clients written from it work.
@router.get(
    "/v2/request/{service_request_id}.{fmt}", include_in_schema=False, dependencies=[Jurisdiction]
)
def request_by_id(
    service_request_id: str,
    fmt: Format,
    session: SessionDep,
    rt: RuntimeDep,
    clock: ClockDep,
    zone: ZoneDep,
    settings: SettingsDep,
    api_key: ApiKey = None,
) -> Response:
    """One request (an array of one, as the spec has it); 404 when unknown or out of scope."""
    actor = _reader(session, settings, api_key, clock)
    if not _ASCII_ID.fullmatch(service_request_id) or int(service_request_id) > MAX_ID:
        raise NotFound(f"request '{service_request_id}' not found")
    cases = find_cases(session, actor=actor or PUBLIC, ids=[int(service_request_id)])
    if not cases:
        raise NotFound(f"request '{service_request_id}' not found")
    body = _requests(session, rt, zone, cases, public=_public(actor, settings))
    return respond(fmt, "service_requests", body)


@router.get(
    "/v2/servicerequestupdates.{fmt}",
    responses=FORMATS,
    summary="Request updates",
    dependencies=[Jurisdiction],
)
def updates(
    fmt: Format,
    session: SessionDep,
    rt: RuntimeDep,
    clock: ClockDep,
    zone: ZoneDep,
    settings: SettingsDep,
    api_key: ApiKey = None,
    service_request_id: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
) -> Response:
    """Status changes of visible requests, newest first (last 90 days, at most 1,000); every
    request's without a key (the feed carries only ids, statuses and our state names)."""
    actor = _reader(session, settings, api_key, clock) or PUBLIC
    until = _when(end_date, "end_date", zone) or clock.now() + timedelta(seconds=1)
    since = _when(start_date, "start_date", zone) or until - timedelta(days=DEFAULT_DAYS)
    events = state_changes(
        session, actor=actor, case_ids=_ids(service_request_id), since=since, until=until
    )
    workflows = {
        c.id: c.workflow for c in find_cases(session, actor=actor, ids=[e.case_id for e in events])
    }
    body = [update_of(e, rt=rt, workflow=workflows.get(e.case_id, ""), zone=zone) for e in events]
    return respond(fmt, "service_request_updates", body)


@router.get("/v2/discovery.{fmt}", responses=DEFINITION, summary="Service discovery")
@router.get("/discovery.{fmt}", include_in_schema=False)
def discovery(fmt: Format, request: Request, settings: SettingsDep) -> Response:
    """Where the GeoReport v2 endpoint is, which formats it speaks and whom to ask for a key."""
    base = str(request.base_url).rstrip("/")
    return respond(fmt, "discovery", discovery_of(base + router.prefix + "/v2", settings))
