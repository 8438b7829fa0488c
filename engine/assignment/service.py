"""Assignment use cases: a department (or the command centre) fires a trigger on an assignment.

The case follows in the same transaction: it starts work when its lead accepts, goes back for
review when the lead objects, and resolves when everyone is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access import Actor, can_see_case, check_assignment_in_scope, check_assignment_trigger
from engine.assignment.models import Assignment
from engine.case import flows
from engine.case.payloads import parse_payload
from engine.errors import Forbidden, IllegalTransition, NotFound
from engine.lifecycle import CaseUnit, use_case
from engine.runtime import Runtime
from engine.vocabulary import Role, Subject


def _load(
    session: Session, rt: Runtime, assignment_id: int, now: datetime
) -> tuple[CaseUnit, Assignment]:
    case_id = session.scalar(select(Assignment.case_id).where(Assignment.id == assignment_id))
    if case_id is None:
        raise NotFound(f"assignment {assignment_id} not found")
    unit = CaseUnit.load(session, rt, case_id, now)
    return unit, unit.assignment(assignment_id)


@use_case
def transition_assignment(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    assignment_id: int,
    trigger: str,
    payload: Mapping[str, Any] | None = None,
    version: int | None = None,
    now: datetime,
) -> Assignment:
    """Fire an assignment trigger as ``actor``; its version must be ``version`` when given."""
    unit, assignment = _load(session, rt, assignment_id, now)
    check_assignment_in_scope(actor, assignment, unit.case, unit.assignments)  # 404 first
    spec = unit.workflow.trigger(Subject.ASSIGNMENT, trigger)
    if spec is None:
        raise IllegalTransition(
            f"assignment {assignment_id} is '{assignment.state}'; '{trigger}' is not a trigger "
            f"of the {unit.workflow.name} workflow"
        )
    check_assignment_trigger(actor, trigger, spec, assignment, unit.case, unit.assignments)
    unit.check_version(assignment, version)
    p = parse_payload(trigger, payload or {}, spec.requires)
    before = assignment.state
    unit.fire_assignment(actor, assignment, trigger, p.model_dump(mode="json", exclude_none=True))
    flows.apply_assignment_effects(unit, actor, assignment, trigger, before, p)
    unit.finish()
    return assignment


def allowed_on_assignment(unit: CaseUnit, actor: Actor, assignment: Assignment) -> list[str]:
    """The assignment triggers the actor could fire now on a loaded case."""
    allowed = []
    for trigger in unit.workflow.assignment.triggers_from(assignment.state):
        spec = unit.workflow.trigger(Subject.ASSIGNMENT, trigger)
        assert spec is not None
        try:
            check_assignment_trigger(actor, trigger, spec, assignment, unit.case, unit.assignments)
        except (Forbidden, NotFound):
            continue
        if unit.workflow.assignment.guards_pass(assignment, trigger, unit.ctx(assignment)):
            allowed.append(trigger)
    return allowed


def allowed_assignment_triggers(
    *, session: Session, rt: Runtime, actor: Actor, assignment_id: int, now: datetime
) -> list[str]:
    """The assignment triggers this actor could fire now."""
    unit, assignment = _load(session, rt, assignment_id, now)
    foreign = actor.role in (Role.DEPARTMENT, Role.UNIT) and assignment.org_id != actor.scope_id
    if foreign or not can_see_case(actor, unit.case, unit.assignments):
        raise NotFound(f"assignment {assignment_id} not found")
    return allowed_on_assignment(unit, actor, assignment)
