"""Case use cases: raise a case, fire a case or assignment trigger, list the triggers open.

Each is keyword-only, takes ``now``, and commits once (``use_case``): load the unit in one read,
authorise, decide the move in memory (``moves``), hand the change set to the ``writer``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access import (
    Actor,
    can_see_case,
    check_area_in_scope,
    check_assignment_in_scope,
    check_assignment_trigger,
    check_case_trigger,
)
from engine.assignment.models import Assignment
from engine.auth import take_case_id
from engine.case import callbacks, moves, writer
from engine.case.evidence import check_evidence_refs
from engine.case.models import Case
from engine.case.payloads import (
    AddAssistingPayload,
    CallbackPayload,
    CompletePayload,
    DispatchPayload,
    ManualStepPayload,
    MergePayload,
    Payload,
    ReassignPayload,
    parse_payload,
)
from engine.case.unit import CaseUnit
from engine.db import reads_autocommit, unattached
from engine.errors import ConcurrentChange, Forbidden, IllegalTransition, InvalidInput, NotFound
from engine.notification.service import notify_pressed
from engine.organisation.models import Account
from engine.organisation.snapshot import Organisation, version_expr
from engine.runtime import Runtime
from engine.text import StoredModel
from engine.uow import use_case
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
    reads_autocommit(session)
    return _raise(session=session, rt=rt, actor=actor, draft=draft, now=now, last=True).case


def raise_in_transaction(
    *, session: Session, rt: Runtime, actor: Actor, draft: CaseDraft, now: datetime
) -> Case:
    """``raise_case`` inside the caller's own use case, which writes more and commits it all
    once (an idempotency key beside the case, a hotspot's links)."""
    return _raise(session=session, rt=rt, actor=actor, draft=draft, now=now).case


@use_case
def raise_unit(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    draft: CaseDraft,
    now: datetime,
    case_id: int | None = None,
) -> CaseUnit:
    """``raise_case``, answering with the unit as written (so faces need not read it back).

    ``case_id``: an id taken for this case from PostgreSQL's sequence beforehand (with the
    caller's token, ``engine.auth.actor_and_case_id_for_token``); the case is then written in
    one statement with its first event and clocks.
    """
    reads_autocommit(session)
    return _raise(
        session=session, rt=rt, actor=actor, draft=draft, now=now, case_id=case_id, last=True
    )


@use_case
def raise_from_organisation(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    build: Callable[[Organisation], CaseDraft],
    now: datetime,
    case_id: int | None = None,
) -> CaseUnit:
    """``raise_unit`` for a draft made by ``build`` from the organisation snapshot (a service
    and an area named by code, as GeoReport names them).

    The draft is made anew on each attempt, from the snapshot the raise then checks and guards
    with: when the write finds the organisation changed, the retry builds it again from the new
    one. What the snapshot lacks (``build`` says ``InvalidInput``) is looked for again when the
    stored organisation has moved on since.
    """
    reads_autocommit(session)
    org = rt.org.get(session)
    try:
        draft = build(org)
    except InvalidInput:
        fresh = _confirm_miss(session, rt, org)
        if fresh.version == org.version:
            raise
        draft = build(fresh)
    return _raise(
        session=session, rt=rt, actor=actor, draft=draft, now=now, case_id=case_id, last=True
    )


def _raise(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    draft: CaseDraft,
    now: datetime,
    case_id: int | None = None,
    last: bool = False,
) -> CaseUnit:
    """The raise; ``last``: the use case writes nothing after the case (see ``writer.write``)."""
    workflow = rt.workflows.get(draft.workflow) if draft.workflow in rt.workflows else None
    if workflow is None:
        raise InvalidInput(f"case: workflow: unknown workflow '{draft.workflow}'")
    if actor.role not in workflow.spec.raise_roles:
        raise Forbidden(f"role '{actor.role}' may not raise a {workflow.name} case")
    org = rt.org.get(session)
    area = org.nodes.get(draft.area_id)
    if area is None or area.kind not in AREA_KINDS:
        org = _confirm_miss(session, rt, org)
        area = org.nodes.get(draft.area_id)
        if area is None or area.kind not in AREA_KINDS:
            raise InvalidInput(f"case: area_id: {draft.area_id} is not an area")
    check_area_in_scope(actor, area)
    priority = _priority(session, rt, org, workflow.spec.priorities, draft)
    if draft.source_ref is not None:
        existing = session.scalar(
            select(Case).where(Case.source == draft.source, Case.source_ref == draft.source_ref)
        )
        if existing is not None:
            # The case is named only to an actor who may see it: nothing leaks across scope.
            seen = can_see_case(actor, existing, [])
            which = f"case {existing.id}" if seen else "a case outside your scope"
            raise InvalidInput(f"case: source_ref: {draft.source} {draft.source_ref} is {which}")
    levels = {OrgKind(n.kind): n.id for n in org.ancestors(area)}
    # Built as the writer's rows are (``unattached``): the mapped constructor's attribute
    # events recorded a change history nobody reads, at ~20 us a case.
    case = unattached(
        Case,
        {
            "workflow": workflow.name,
            "state": workflow.spec.case.initial,
            "priority": priority,
            "title": draft.title,
            "description": draft.description,
            "category_id": draft.category_id,
            "area_id": area.id,
            "area_path": area.path,
            "street_id": levels.get(OrgKind.STREET),
            "community_id": levels.get(OrgKind.COMMUNITY),
            "latitude": draft.latitude,
            "longitude": draft.longitude,
            "address": draft.address,
            "reporter_name": draft.reporter_name,
            "reporter_phone": draft.reporter_phone,
            "reporter_account_id": _reporter_account(session, actor, draft),
            "raised_by_id": actor.account_id,
            "source": draft.source,
            "source_ref": draft.source_ref,
            "created_at": now,
            "updated_at": now,
            "redo_count": 0,
            "extension_count": 0,
            "excluded": False,
            "supervise_count": 0,
            "red_count": 0,
            "callback_attempts": 0,
            "callback_days": 0,
            "event_count": 0,
            "last_hash": "",
            "version": 1,
        },
    )
    if case_id is None and last:
        # On PostgreSQL its id first (no transaction), so that the case, its first event and
        # its clocks are then one statement that commits by itself.
        case_id = take_case_id(session)
    if case_id is not None:
        case.id = case_id
    unit = CaseUnit(
        rt=rt, org=org, workflow=workflow, case=case, assignments=[], requests=[], deadlines=[],
        now=now, org_version=org.version, new=True,
    )  # fmt: skip
    unit.record(
        actor, Trigger.RAISE, Subject.CASE, None, case.state,
        {"workflow": workflow.name, "priority": priority, "area_id": area.id}, None,
    )  # fmt: skip
    unit.sync_clocks()
    try:
        writer.insert_case(session, unit, last=last)
    except ConcurrentChange:
        rt.org.forget()  # the organisation changed since the snapshot: read it afresh
        raise
    return unit


def _confirm_miss(session: Session, rt: Runtime, org: Organisation) -> Organisation:
    """The snapshot lacks something: read the organisation again if it changed since (its
    version first, so that a request naming what does not exist costs one small read, not a
    reading of the whole organisation)."""
    stored = int(session.scalar(select(version_expr())) or 0)
    if stored == org.version:
        return org
    return rt.org.refresh(session, seen=stored)


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


def _priority(
    session: Session, rt: Runtime, org: Organisation, allowed: list[Priority], draft: CaseDraft
) -> Priority:
    if draft.category_id is not None:
        category = org.categories.get(draft.category_id)
        if category is None or not category.active:
            category = _confirm_miss(session, rt, org).categories.get(draft.category_id)
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
    return move_case(
        session=session, rt=rt, actor=actor, case_id=case_id, trigger=trigger, payload=payload,
        version=version, now=now,
    ).case  # fmt: skip


@use_case
def move_case(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    case_id: int,
    trigger: str,
    payload: Mapping[str, Any] | None = None,
    version: int | None = None,
    now: datetime,
) -> CaseUnit:
    """``transition_case``, answering with the unit as written (so faces need not read it back)."""
    reads_autocommit(session)
    unit = CaseUnit.load(session, rt, now, case_id=case_id)
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
    callbacks.check_after_callback(actor, trigger, spec, unit)
    p = parse_payload(trigger, payload or {}, spec.requires)
    recorded = p.model_dump(mode="json", exclude_none=True)
    merge_into = _merge_target(session, actor, p) if trigger == Trigger.MERGE else None
    match trigger:
        case Trigger.DISPATCH:
            assert isinstance(p, DispatchPayload)
            # Validate targets before the move so that a bad one changes nothing.
            if unit.case.state in unit.workflow.case.sources(trigger):
                lead, assisting = _dispatch_targets(session, unit, actor, p)
                created = moves.create_assignments(unit, lead, assisting, p)
                recorded |= {
                    "lead": lead,
                    "assisting": assisting,
                    "assignments": [a.id for a in created],
                }
            unit.fire_case(actor, trigger, recorded)
        case Trigger.REASSIGN | Trigger.ADD_ASSISTING:
            if unit.may_fire_case(trigger):
                created = _more_assignments(session, unit, actor, p)
                recorded["assignments"] = [a.id for a in created]
            unit.fire_case(actor, trigger, recorded)
        case Trigger.MANUAL_REMIND | Trigger.MANUAL_SUPERVISE:
            assert isinstance(p, ManualStepPayload)
            # Whom it presses is asked only of a move that may happen; else fire_case says why not.
            pressed = moves.step_target(unit, p) if unit.may_fire_case(trigger) else None
            if pressed is not None:
                recorded["assignment_id"] = pressed.id
            event = unit.fire_case(actor, trigger, recorded)
            # On the pressed assignment's line: another department's timeline does not show it.
            event.assignment_id = pressed.id if pressed is not None else None
        case Trigger.CLAIM:
            unit.fire_case(actor, trigger, recorded)
            assignment = moves.claim(unit, actor)
            # Meet the claim clock and start the unit's clocks before it accepts in the same move.
            unit.sync_clocks()
            unit.fire_assignment(actor, assignment, Trigger.ACCEPT, {"cause": Trigger.CLAIM})
            moves.apply_assignment_effects(unit, actor, assignment, Trigger.ACCEPT, "assigned", p)
        case Trigger.CALLBACK:
            assert isinstance(p, CallbackPayload)
            unit.fire_case(actor, trigger, recorded | callbacks.recorded(unit, p))
        case _:
            unit.fire_case(actor, trigger, recorded)
    moves.apply_case_effects(unit, actor, trigger, p, merge_into)
    # A press also writes its notification: then the move's writes are not the last.
    writer.write(session, unit, unit.finish(), last=not isinstance(p, ManualStepPayload))
    if isinstance(p, ManualStepPayload):
        pressed = unit.assignment(int(recorded["assignment_id"]))
        notify_pressed(
            session, case=unit.case, org_id=pressed.org_id, step=Trigger(trigger),
            reason=p.reason, now=now,
        )  # fmt: skip
    return unit


T = TypeVar("T")


def _with_fresh_org(session: Session, unit: CaseUnit, choose: Callable[[], T]) -> T:
    """Targets chosen on the snapshot; one the snapshot does not know is looked for afresh."""
    try:
        return choose()
    except InvalidInput:
        fresh = unit.rt.org.refresh(session)
        if fresh.version == unit.org.version:
            raise
        unit.org = fresh
        return choose()


def _dispatch_targets(
    session: Session, unit: CaseUnit, actor: Actor, p: DispatchPayload
) -> tuple[int, list[int]]:
    """The dispatch's targets, by hand or by routing rule."""
    return _with_fresh_org(session, unit, lambda: moves.dispatch_targets(unit, actor, p))


def _more_assignments(
    session: Session, unit: CaseUnit, actor: Actor, p: Payload
) -> list[Assignment]:
    """The new assignments of a reassignment (a lead) or of added assisting departments."""
    if isinstance(p, ReassignPayload):
        lead = _with_fresh_org(session, unit, lambda: moves.reassign_target(unit, actor, p))
        return moves.create_assignments(unit, lead, [], p)
    assert isinstance(p, AddAssistingPayload)
    assisting = _with_fresh_org(session, unit, lambda: moves.assisting_targets(unit, actor, p))
    return moves.create_assignments(unit, None, assisting, p)


def _merge_target(session: Session, actor: Actor, p: Payload) -> moves.MergeTarget | None:
    """Read the case a merge goes into (before the move: the move itself reads nothing)."""
    assert isinstance(p, MergePayload)
    target = session.get(Case, p.into)
    if target is None:
        return None
    others = list(session.scalars(select(Assignment).where(Assignment.case_id == p.into)))
    return moves.MergeTarget(
        id=target.id, state=target.state, visible=can_see_case(actor, target, others)
    )


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
    """Fire an assignment trigger as ``actor``; its version must be ``version`` when given.

    The case follows in the same move: it starts work when its lead accepts, goes back for
    review when the lead objects, and resolves when everyone is done.
    """
    unit = move_assignment(
        session=session, rt=rt, actor=actor, assignment_id=assignment_id, trigger=trigger,
        payload=payload, version=version, now=now,
    )  # fmt: skip
    return unit.assignment(assignment_id)


@use_case
def move_assignment(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    assignment_id: int,
    trigger: str,
    payload: Mapping[str, Any] | None = None,
    version: int | None = None,
    now: datetime,
) -> CaseUnit:
    """``transition_assignment``, answering with the unit as written."""
    reads_autocommit(session)
    unit = CaseUnit.load(session, rt, now, assignment_id=assignment_id)
    assignment = unit.assignment(assignment_id)
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
    if isinstance(p, CompletePayload):
        # Evidence belongs to the case: checked before the move (the move itself reads nothing).
        check_evidence_refs(session, case_id=unit.case.id, refs=p.evidence)
    before = assignment.state
    unit.fire_assignment(actor, assignment, trigger, p.model_dump(mode="json", exclude_none=True))
    moves.apply_assignment_effects(unit, actor, assignment, trigger, before, p)
    writer.write(session, unit, unit.finish(), last=True)
    return unit


def allowed_triggers(
    unit: CaseUnit, actor: Actor, assignment: Assignment | None = None
) -> list[str]:
    """The triggers the actor could fire now on a loaded case or one of its assignments."""
    subject = Subject.CASE if assignment is None else Subject.ASSIGNMENT
    machine = unit.workflow.case if assignment is None else unit.workflow.assignment
    row: Case | Assignment = unit.case if assignment is None else assignment
    allowed = []
    for trigger in machine.triggers_from(row.state):
        spec = unit.workflow.trigger(subject, trigger)
        assert spec is not None
        try:
            if assignment is None:
                check_case_trigger(actor, trigger, spec, unit.case, unit.assignments)
            else:
                check_assignment_trigger(
                    actor, trigger, spec, assignment, unit.case, unit.assignments
                )
        except (Forbidden, NotFound):
            continue
        if assignment is None and callbacks.waits_for_callback(actor, spec, unit.case):
            continue
        if machine.guards_pass(row, trigger, unit.ctx(assignment)):
            allowed.append(trigger)
    return allowed


def allowed_on_case(unit: CaseUnit, actor: Actor) -> list[str]:
    """The case triggers the actor could fire now on a loaded case (role, scope, guards)."""
    return allowed_triggers(unit, actor)


def allowed_on_assignment(unit: CaseUnit, actor: Actor, assignment: Assignment) -> list[str]:
    """The assignment triggers the actor could fire now on a loaded case."""
    return allowed_triggers(unit, actor, assignment)


def allowed_case_triggers(
    *, session: Session, rt: Runtime, actor: Actor, case_id: int, now: datetime
) -> list[str]:
    """The case triggers this actor could fire now (role, scope and guards all pass)."""
    unit = CaseUnit.load(session, rt, now, case_id=case_id)
    if not can_see_case(actor, unit.case, unit.assignments):
        raise NotFound(f"case {case_id} not found")
    return allowed_on_case(unit, actor)


def allowed_assignment_triggers(
    *, session: Session, rt: Runtime, actor: Actor, assignment_id: int, now: datetime
) -> list[str]:
    """The assignment triggers this actor could fire now."""
    unit = CaseUnit.load(session, rt, now, assignment_id=assignment_id)
    assignment = unit.assignment(assignment_id)
    foreign = actor.role in (Role.DEPARTMENT, Role.UNIT) and assignment.org_id != actor.scope_id
    if foreign or not can_see_case(actor, unit.case, unit.assignments):
        raise NotFound(f"assignment {assignment_id} not found")
    return allowed_on_assignment(unit, actor, assignment)
