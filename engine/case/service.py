"""Case use cases: raise a case, fire a case trigger, list the triggers open to an actor.

Each is keyword-only, takes ``now``, and commits once (``use_case``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access import Actor, can_see_case, check_area_in_scope, check_case_trigger
from engine.case import flows
from engine.case.models import Case
from engine.case.payloads import DispatchPayload, parse_payload
from engine.deadline.service import sync_clocks
from engine.errors import Forbidden, IllegalTransition, InvalidInput, NotFound
from engine.event.service import append_event
from engine.lifecycle import CaseUnit, use_case
from engine.organisation.models import Account, Category, OrgNode
from engine.runtime import Runtime
from engine.text import StoredModel
from engine.vocabulary import AREA_KINDS, OrgKind, Priority, Role, Source, Subject, Trigger


class CaseDraft(StoredModel):
    """What it takes to raise a case."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    workflow: str = "hotline"
    title: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=10_000)
    area_id: int
    category_id: int | None = None
    priority: Priority | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=400)
    reporter_name: str | None = Field(default=None, max_length=100)
    reporter_phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+\-() ]{3,40}$")
    # The resident's own account, when a centre or grid worker takes the case in for them (a
    # call from a registered resident): the resident can then follow and rate it.
    reporter_account: str | None = Field(default=None, min_length=1, max_length=100)
    source: Source = Source.WEB
    source_ref: str | None = Field(default=None, max_length=100)


def parse_draft(data: Mapping[str, Any]) -> CaseDraft:
    """Validate a draft, naming each wrong field."""
    try:
        return CaseDraft.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise InvalidInput(f"case: {problems}") from None


@use_case
def raise_case(
    *, session: Session, rt: Runtime, actor: Actor, draft: CaseDraft, now: datetime
) -> Case:
    """Take in a new case: it starts ``reported`` with its dispatch clock running."""
    workflow = rt.workflows.get(draft.workflow) if draft.workflow in rt.workflows else None
    if workflow is None:
        raise InvalidInput(f"case: workflow: unknown workflow '{draft.workflow}'")
    if actor.role not in workflow.spec.raise_roles:
        raise Forbidden(f"role '{actor.role}' may not raise a {workflow.name} case")
    area = session.get(OrgNode, draft.area_id)
    if area is None or area.kind not in AREA_KINDS:
        raise InvalidInput(f"case: area_id: {draft.area_id} is not an area")
    check_area_in_scope(actor, area)
    priority = _priority(session, workflow.spec.priorities, draft)
    if draft.source_ref is not None:
        existing = session.scalar(
            select(Case).where(Case.source == draft.source, Case.source_ref == draft.source_ref)
        )
        if existing is not None:
            # The case is named only to an actor who may see it: nothing leaks across scope.
            seen = can_see_case(actor, existing, [])
            which = f"case {existing.id}" if seen else "a case outside your scope"
            raise InvalidInput(f"case: source_ref: {draft.source} {draft.source_ref} is {which}")
    levels = {OrgKind(n.kind): n.id for n in _ancestors(session, area)}
    case = Case(
        workflow=workflow.name,
        state=workflow.spec.case.initial,
        priority=priority,
        title=draft.title,
        description=draft.description,
        category_id=draft.category_id,
        area_id=area.id,
        area_path=area.path,
        street_id=levels.get(OrgKind.STREET),
        community_id=levels.get(OrgKind.COMMUNITY),
        latitude=draft.latitude,
        longitude=draft.longitude,
        address=draft.address,
        reporter_name=draft.reporter_name,
        reporter_phone=draft.reporter_phone,
        reporter_account_id=_reporter_account(session, actor, draft),
        raised_by_id=actor.account_id,
        source=draft.source,
        source_ref=draft.source_ref,
        created_at=now,
        updated_at=now,
        redo_count=0,
        extension_count=0,
        excluded=False,
        event_count=0,
        last_hash="",
    )
    session.add(case)
    session.flush()
    append_event(
        session, case, actor=actor, trigger=Trigger.RAISE, subject=Subject.CASE,
        from_state=None, to_state=case.state, now=now,
        payload={"workflow": workflow.name, "priority": priority, "area_id": area.id},
    )  # fmt: skip
    sync_clocks(
        session, workflow=workflow, calendar=rt.calendar, case=case, assignments=[],
        running=[], now=now,
    )  # fmt: skip
    return case


def _reporter_account(session: Session, actor: Actor, draft: CaseDraft) -> int | None:
    """The resident account the case belongs to: the caller's own, or one named by the intake."""
    if actor.role == Role.RESIDENT:
        if draft.reporter_account is not None:
            raise InvalidInput("case: reporter_account: a resident reports for themselves")
        return actor.account_id
    if draft.reporter_account is None:
        return None
    # Only intake staff name a caller's account: anyone else could probe which usernames exist.
    if actor.role not in (Role.COMMAND_CENTRE, Role.ADMIN):
        raise InvalidInput("case: reporter_account: only a command centre names the reporter")
    found = session.execute(
        select(Account.id, Account.role, Account.active).where(
            Account.username == draft.reporter_account
        )
    ).one_or_none()
    if found is None or found.role != Role.RESIDENT or not found.active:
        raise InvalidInput(
            f"case: reporter_account: '{draft.reporter_account}' is not an active resident account"
        )
    return int(found.id)


def _priority(session: Session, allowed: list[Priority], draft: CaseDraft) -> Priority:
    if draft.category_id is not None:
        category = session.get(Category, draft.category_id)
        if category is None or not category.active:
            raise InvalidInput(f"case: category_id: {draft.category_id} is not a category")
        if draft.priority is None and category.default_priority in allowed:
            return Priority(category.default_priority)
    priority = draft.priority or (Priority.NORMAL if Priority.NORMAL in allowed else allowed[0])
    if priority not in allowed:
        raise InvalidInput(
            f"case: priority: '{priority}' is not one of {[str(p) for p in allowed]}"
        )
    return priority


def _ancestors(session: Session, node: OrgNode) -> list[OrgNode]:
    ids = [int(part) for part in node.path.strip("/").split("/") if part]
    return list(session.scalars(select(OrgNode).where(OrgNode.id.in_(ids))))


@use_case
def transition_case(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    case_id: int,
    trigger: str,
    payload: Mapping[str, Any] | None = None,
    version: int | None = None,
    now: datetime,
) -> Case:
    """Fire a case trigger as ``actor``; the case's version must be ``version`` when given."""
    unit = CaseUnit.load(session, rt, case_id, now)
    spec = unit.workflow.trigger(Subject.CASE, trigger)
    if spec is None:
        if not can_see_case(actor, unit.case, unit.assignments):
            raise NotFound(f"case {case_id} not found")
        raise IllegalTransition(
            f"case {case_id} is '{unit.case.state}'; '{trigger}' is not a trigger of the "
            f"{unit.workflow.name} workflow"
        )
    check_case_trigger(actor, trigger, spec, unit.case, unit.assignments)
    unit.check_version(unit.case, version)
    p = parse_payload(trigger, payload or {}, spec.requires)
    recorded = p.model_dump(mode="json", exclude_none=True)
    match trigger:
        case Trigger.DISPATCH:
            assert isinstance(p, DispatchPayload)
            # Validate targets before the move so that a bad one changes nothing.
            if unit.case.state in unit.workflow.case.sources(trigger):
                lead, assisting = flows.dispatch_targets(unit, actor, p)
                created = flows.create_assignments(unit, lead, assisting)
                recorded |= {
                    "lead": lead,
                    "assisting": assisting,
                    "assignments": [a.id for a in created],
                }
            unit.fire_case(actor, trigger, recorded)
        case Trigger.CLAIM:
            unit.fire_case(actor, trigger, recorded)
            assignment = flows.claim(unit, actor)
            # Meet the claim clock and start the unit's clocks before it accepts in the same move.
            unit.sync_clocks()
            unit.fire_assignment(actor, assignment, Trigger.ACCEPT, {"cause": Trigger.CLAIM})
            flows.apply_assignment_effects(unit, actor, assignment, Trigger.ACCEPT, "assigned", p)
        case _:
            unit.fire_case(actor, trigger, recorded)
    flows.apply_case_effects(unit, actor, trigger, p)
    unit.finish()
    return unit.case


def allowed_on_case(unit: CaseUnit, actor: Actor) -> list[str]:
    """The case triggers the actor could fire now on a loaded case (role, scope, guards)."""
    allowed = []
    for trigger in unit.workflow.case.triggers_from(unit.case.state):
        spec = unit.workflow.trigger(Subject.CASE, trigger)
        assert spec is not None
        try:
            check_case_trigger(actor, trigger, spec, unit.case, unit.assignments)
        except (Forbidden, NotFound):
            continue
        if unit.workflow.case.guards_pass(unit.case, trigger, unit.ctx()):
            allowed.append(trigger)
    return allowed


def allowed_case_triggers(
    *, session: Session, rt: Runtime, actor: Actor, case_id: int, now: datetime
) -> list[str]:
    """The case triggers this actor could fire now (role, scope and guards all pass)."""
    unit = CaseUnit.load(session, rt, case_id, now)
    if not can_see_case(actor, unit.case, unit.assignments):
        raise NotFound(f"case {case_id} not found")
    return allowed_on_case(unit, actor)
