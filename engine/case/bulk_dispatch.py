"""Bulk dispatch from the board: several reported cases dispatched in one request of the operator.

Each case is its own move with its own commit (``move_case``): a stale, foreign or refused case
fails alone, with the reason, and the others go. Each goes by its routing rule unless the operator
names one lead (and assisting departments) for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.access import Actor
from engine.case.payloads import parse_payload
from engine.case.service import move_case
from engine.errors import (
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
    StaleVersion,
    WhistleError,
)
from engine.runtime import Runtime
from engine.vocabulary import Trigger
from engine.workflow.guards import active_lead

MAX_CASES = 100


@dataclass(frozen=True, slots=True)
class Wanted:
    """One case the operator ticked, at the version the board showed."""

    case_id: int
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one case: dispatched (to ``lead``, now at ``version``), or why not."""

    case_id: int
    dispatched: bool
    version: int | None = None
    lead: int | None = None
    failure: str | None = None  # not_found, forbidden, stale, illegal, invalid
    detail: str | None = None


def _failure(exc: WhistleError) -> str:
    match exc:
        case NotFound():
            return "not_found"
        case Forbidden():
            return "forbidden"
        case StaleVersion():
            return "stale"
        case IllegalTransition():
            return "illegal"
        case InvalidInput():
            return "invalid"
        case _:
            raise exc


def check_wanted(wanted: Sequence[Wanted]) -> None:
    """Refuse the whole request (nothing dispatched) when the list itself is wrong."""
    if not wanted:
        raise InvalidInput("cases: tick at least one case to dispatch")
    if len(wanted) > MAX_CASES:
        raise InvalidInput(f"cases: at most {MAX_CASES} cases at once, got {len(wanted)}")
    ids = [w.case_id for w in wanted]
    if len(ids) != len(set(ids)):
        raise InvalidInput("cases: a case is named twice")


def dispatch_many(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    wanted: Sequence[Wanted],
    lead: int | None = None,
    assisting: Sequence[int] = (),
    instruction: str | None = None,
    now: datetime,
) -> list[Outcome]:
    """Dispatch each case in its own commit; one outcome per case, in the order given."""
    check_wanted(wanted)
    payload: dict[str, Any] = {"assisting": list(assisting)}
    if lead is not None:
        payload["lead"] = lead
    if instruction is not None:
        payload["instruction"] = instruction
    parse_payload(Trigger.DISPATCH, payload, [])  # a wrong choice fails the request, not each case
    outcomes = []
    for w in wanted:
        try:
            unit = move_case(
                session=session, rt=rt, actor=actor, case_id=w.case_id, trigger=Trigger.DISPATCH,
                payload=payload, version=w.version, now=now,
            )  # fmt: skip
        except WhistleError as exc:
            outcomes.append(Outcome(w.case_id, False, failure=_failure(exc), detail=str(exc)))
            continue
        chosen = active_lead(unit.assignments)
        lead_org = chosen.org_id if chosen is not None else None
        outcomes.append(Outcome(w.case_id, True, version=unit.case.version, lead=lead_org))
    return outcomes
