"""Cases: raise (idempotently), list and search, read one, its timeline, fire a case trigger.

Each route parses, calls one engine service or query, and shapes the answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.security.utils import get_authorization_scheme_param
from fastapi.telemetry import get_telemetry_data
from sqlalchemy.orm import Session

from api.deps import (
    ActorDep,
    ClockDep,
    IdPath,
    IfMatchHeader,
    RuntimeDep,
    SessionDep,
    check_intake,
    etag,
    parse_if_match,
)
from api.onehop import Caller, OneHopRoute, TokenDep, in_one_hop
from api.problems import documented
from api.schemas import (
    BulkDispatchIn,
    BulkDispatchOut,
    CallbackOut,
    CaseOut,
    CasePage,
    CaseSummary,
    CaseTransitionIn,
    EventOut,
    RaiseIn,
)
from engine.access import Actor, can_see_case
from engine.case.bulk_dispatch import Wanted, dispatch_many
from engine.case.queries import (
    CaseQuery,
    callback_attempts,
    case_detail,
    case_events,
    detail_of,
    list_cases,
)
from engine.case.service import move_case, raise_unit
from engine.clock import Clock
from engine.errors import InvalidInput, OutOfScope
from engine.idempotency import first_case, raise_case_once
from engine.privacy import case_text, reads_text_redacted, redacted_payload
from engine.runtime import Runtime

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])
READ = documented(401, 404, 422)
WRITE = documented(400, 401, 403, 404, 409, 413, 422)


def _detail(
    response: Response,
    session: Session,
    rt: Runtime,
    clock: Clock,
    actor: Actor,
    case_id: int,
    *,
    created: bool = False,
) -> CaseOut:
    detail = case_detail(session, rt=rt, actor=actor, case_id=case_id, now=clock.now())
    out = CaseOut.of(detail)
    response.headers["ETag"] = etag(out.version)
    if created:
        response.headers["Location"] = f"{router.prefix}/{case_id}"
    return out


async def raise_(
    draft: RaiseIn,
    request: Request,
    token: TokenDep,
    idempotency_key: Annotated[
        str | None,
        Header(description="A retry with the same key returns the first case and creates none"),
    ] = None,
) -> Response:
    """Take in a new case; with ``Idempotency-Key`` a retry answers with the first case."""
    # The hottest write: the token lookup, the rate-limit count, the raise and the answer in one
    # hop to the thread pool.
    return await in_one_hop(
        request,
        token,
        partial(_raise_now, draft=draft, key=idempotency_key),
        case_id=idempotency_key is None,
    )


class IntakeRoute(OneHopRoute):
    """``raise_`` with its plain request taken straight to the hop.

    Most intakes are a JSON body that validates, a bearer token and no ``Idempotency-Key``:
    for such a request the route reads the token and validates the body with the route's own
    body field (what FastAPI's handler would do, without solving the dependencies afresh for
    each request). Any other request, or any doubt, goes through the full handler, which
    answers every error as it always has.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()
        body_field = self.body_field
        overrides = self.dependency_overrides_provider
        assert body_field is not None

        async def handle(request: Request) -> Response:
            headers = request.headers
            if (
                headers.get("content-type") != "application/json"
                or "idempotency-key" in headers
                or getattr(overrides, "dependency_overrides", None)
                or get_telemetry_data() is not None
            ):
                return await full(request)
            scheme, token = get_authorization_scheme_param(headers.get("authorization"))
            if scheme.lower() != "bearer" or not token:
                return await full(request)
            try:
                body = await request.body()
                draft, errors = body_field.validate(json.loads(body), {}, loc=("body",))
            except Exception:
                return await full(request)  # it reads the body as it is cached, or fails as ever
            if errors or not isinstance(draft, RaiseIn):
                return await full(request)
            work = partial(_raise_now, draft=draft, key=None)
            return await in_one_hop(request, token, work, case_id=True)

        return handle


router.add_api_route(
    "",
    raise_,
    methods=["POST"],
    route_class_override=IntakeRoute,
    status_code=status.HTTP_201_CREATED,
    response_model=CaseOut,
    responses=documented(400, 401, 403, 413, 422, 429),
    summary="Raise a case",
)


def _raise_now(caller: Caller, *, draft: RaiseIn, key: str | None) -> Response:
    session, actor, rt, now = caller.session, caller.actor, caller.rt, caller.clock.now()
    if key is not None and (
        first := first_case(session=session, actor=actor, draft=draft, key=key)
    ):
        detail = case_detail(session, rt=rt, actor=actor, case_id=first.id, now=now)
        return _created(CaseOut.of(detail), replayed=True)
    check_intake(caller.limiter, actor, caller.clock)
    if key is not None:
        case, _new = raise_case_once(
            session=session, rt=rt, actor=actor, draft=draft, key=key, now=now
        )
        detail = case_detail(session, rt=rt, actor=actor, case_id=case.id, now=now)
        return _created(CaseOut.of(detail))
    unit = raise_unit(
        session=session, rt=rt, actor=actor, draft=draft, now=now, case_id=caller.case_id
    )
    return _created(CaseOut.of(detail_of(unit, actor)))


def _created(out: CaseOut, *, replayed: bool = False) -> Response:
    """201 with the case serialised once (what FastAPI would make of the ``CaseOut``)."""
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    headers |= {"Location": f"{router.prefix}/{out.id}", "ETag": etag(out.version)}
    return Response(
        out.model_dump_json(by_alias=True),
        status_code=status.HTTP_201_CREATED,
        headers=headers,
        media_type="application/json",
    )


@router.get("", responses=READ, summary="List and search cases")
def list_(
    query: Annotated[CaseQuery, Query()],
    session: SessionDep,
    clock: ClockDep,
    actor: ActorDep,
) -> CasePage:
    """The cases the caller may see, filtered, searched (``q``), sorted and paged."""
    page = list_cases(session, actor=actor, query=query, now=clock.now())
    return CasePage(
        items=[
            CaseSummary.model_validate(c).model_copy(update={"title": case_text(actor, c.title)})
            for c in page.items
        ],
        total=page.total,
        page=page.page,
        limit=page.limit,
    )


@router.post("/dispatch", responses=documented(400, 401, 413, 422), summary="Dispatch many cases")
def dispatch_bulk(
    body: BulkDispatchIn, session: SessionDep, rt: RuntimeDep, clock: ClockDep, actor: ActorDep
) -> BulkDispatchOut:
    """Dispatch each case in its own commit; which went, and which failed and why (a stale or
    foreign case fails alone)."""
    outcomes = dispatch_many(
        session=session, rt=rt, actor=actor, wanted=[Wanted(c.id, c.version) for c in body.cases],
        lead=body.lead, assisting=body.assisting, instruction=body.instruction, now=clock.now(),
    )  # fmt: skip
    return BulkDispatchOut.of(outcomes)


@router.get("/{case_id}", responses=READ, summary="One case")
def get_one(
    case_id: IdPath,
    response: Response,
    session: SessionDep,
    rt: RuntimeDep,
    clock: ClockDep,
    actor: ActorDep,
) -> CaseOut:
    """The case with its assignments, clocks and the triggers open to the caller."""
    return _detail(response, session, rt, clock, actor, case_id)


@router.get("/{case_id}/events", responses=READ, summary="The case's timeline")
def events(case_id: IdPath, session: SessionDep, actor: ActorDep) -> list[EventOut]:
    """Every event of the case, oldest first, ladder steps included (an assessor reads the texts
    in them redacted of personal data)."""
    found = case_events(session, actor=actor, case_id=case_id)
    if not reads_text_redacted(actor):
        return [EventOut.model_validate(e) for e in found]
    return [
        EventOut.model_validate(e).model_copy(update={"payload": redacted_payload(e.payload or {})})
        for e in found
    ]


@router.get(
    "/{case_id}/callbacks", responses=documented(401, 403, 404, 422), summary="The callbacks"
)
def callbacks(case_id: IdPath, session: SessionDep, actor: ActorDep) -> list[CallbackOut]:
    """The callback attempts (回访) on the case, oldest first; record one by firing
    ``callback`` with ``outcome``, ``called_at`` and ``note``. Not for residents."""
    found = callback_attempts(session, actor=actor, case_id=case_id)
    return [CallbackOut.model_validate(c) for c in found]


async def transition(
    case_id: IdPath,
    body: CaseTransitionIn,
    request: Request,
    response: Response,
    token: TokenDep,
    if_match: IfMatchHeader = None,
) -> CaseOut:
    """Fire ``trigger`` on the case; ``version`` (or ``If-Match``) guards against lost updates."""
    # The token lookup, the move and the answer in one hop to the thread pool.
    out = await in_one_hop(request, token, partial(_move_case, case_id, body, if_match))
    response.headers["ETag"] = etag(out.version)
    return out


def _move_case(
    case_id: int, body: CaseTransitionIn, if_match: str | None, caller: Caller
) -> CaseOut:
    actor = caller.actor
    version = expected_version(body.version, if_match)
    unit = move_case(
        session=caller.session, rt=caller.rt, actor=actor, case_id=case_id,
        trigger=body.trigger, payload=body.payload, version=version, now=caller.clock.now(),
    )  # fmt: skip
    # Answer from the unit as written: the actor may no longer see the case (a department
    # whose objection was upheld), and then the answer is the same 404 a read would give.
    if not can_see_case(actor, unit.case, unit.assignments):
        raise OutOfScope(f"case {case_id} not found")
    return CaseOut.of(detail_of(unit, actor))


router.add_api_route(
    "/{case_id}/transitions",
    responses=WRITE,
    summary="Fire a case trigger",
    route_class_override=OneHopRoute,
    endpoint=transition,
    methods=["POST"],
)


def expected_version(in_body: int | None, if_match: str | None) -> int | None:
    """The version to act on, from the body or the ``If-Match`` header as sent; the two must
    agree when both given."""
    in_header = parse_if_match(if_match)
    if in_body is not None and in_header is not None and in_body != in_header:
        raise InvalidInput(f"version: the body says {in_body} and If-Match says {in_header}")
    return in_body if in_body is not None else in_header
